"""User-given URLs become links only when they are safe: same-site documentation paths or http(s) URLs.

A ``javascript:`` or ``data:`` address typed into a form (or a ``?page=`` link) must never become a
clickable link in the staff console, where a staff member's click would run it with their session.
"""

from __future__ import annotations

from urllib.parse import urlsplit

#: The documentation is served here; "Ask about this page" sends these paths.
DOCS_PREFIX = "/docs/"
URL_MAX = 500


def safe_link(value: object) -> str | None:
    """``value`` when it may be a link's ``href``, else None."""
    if not isinstance(value, str) or not value or len(value) > URL_MAX:
        return None
    if any(ord(ch) < 0x21 or ch in '\\"<>`' or ord(ch) == 0x7F for ch in value):
        return None  # spaces, control characters and quotes: browsers "repair" these in surprising ways
    if value.startswith("/"):
        # Only the site's own documentation; "//host" would be another site.
        return value if value.startswith(DOCS_PREFIX) and not value.startswith("//") else None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme in ("http", "https") and parts.hostname:
        return value
    return None
