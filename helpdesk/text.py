"""The one text policy: what every entry point does with characters the databases refuse.

PostgreSQL refuses NUL in text (``\\x00``), and neither database can store an unpaired surrogate (which
JSON's ``"\\ud800"`` escapes produce). Each entry point picks one of two answers, and only these:

* **strict** (the web form, the API, query parameters, slugs, cursors, sign-up fields): refuse with a 422
  that names the field, and write nothing;
* **lenient** (webhooks from Slack and the forum, which cannot be asked again): drop just those
  characters and keep the rest whole. Nothing else is ever cut; a long subject line is shortened only
  when the full text is kept in the body.
"""

from __future__ import annotations

import re

from helpdesk.exceptions import InvalidInputError

#: NUL and the surrogate range: characters that no database of ours can store.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
ELLIPSIS = "…"


def has_unstorable(value: str) -> bool:
    return UNSTORABLE.search(value) is not None


def require_storable(value: str, field: str) -> str:
    """Strict: ``value`` unchanged, or a 422 naming ``field``."""
    if has_unstorable(value):
        raise InvalidInputError.for_field(
            field, f"{field} contains a character that cannot be stored (a NUL character or an unpaired "
            "surrogate); remove it and send again.")
    return value


def strict_text(value: object, field: str, limit: int, *, required: bool = True) -> str:
    """Strict: stripped text of at most ``limit`` characters, or a 422 naming ``field``."""
    text = value.strip() if isinstance(value, str) else ""
    if not text and required:
        raise InvalidInputError.for_field(field, f"{field} must not be empty.")
    if len(text) > limit:
        raise InvalidInputError.for_field(field, f"{field} is {len(text)} characters; the limit is {limit}.")
    return require_storable(text, field)


def lenient_text(value: str | None) -> str:
    """Lenient: stripped, with only the unstorable characters taken out."""
    return UNSTORABLE.sub("", value or "").strip()


def shorten(value: str, limit: int) -> str:
    """``value`` if it fits, else its start and an ellipsis: for subject lines whose whole text is kept."""
    if len(value) <= limit:
        return value
    return value[: limit - 1].rstrip() + ELLIPSIS
