"""The signed token of a forum acknowledgement's "this answered my question" link.

The link is posted in a public topic and opened without signing in, so it names its ticket with an HMAC
(itsdangerous, keyed by HELPDESK_SECRET_KEY, salted for this use only): nobody can make one for another ticket.
It carries no time, so the acknowledgement is the same text however often it is delivered; what it can do is
narrow (resolve that one ticket as self-served while it is open, which a reply in the topic undoes).
"""

from __future__ import annotations

from pathlib import Path

from itsdangerous import BadSignature, URLSafeSerializer

from helpdesk.config import Settings

SALT = "helpdesk.self-served"


class InvalidTokenError(ValueError):
    """The token was not made by this desk (or with another secret key)."""


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=SALT)


def make_token(secret: str, ticket_id: int) -> str:
    return _serializer(secret).dumps({"ticket": ticket_id})


def read_token(secret: str, token: str) -> int:
    """The ticket id a token names; :class:`InvalidTokenError` for anything this desk did not sign."""
    try:
        data = _serializer(secret).loads(token)
    except BadSignature as exc:
        raise InvalidTokenError("This link is not one the support desk made.") from exc
    ticket = data.get("ticket") if isinstance(data, dict) else None
    if not isinstance(ticket, int) or isinstance(ticket, bool) or ticket <= 0:
        raise InvalidTokenError("This link names no ticket.")
    return ticket


def desk_secret(settings: Settings) -> str:
    """The key the web app signs with (``create_app`` keeps its instance under ``var/``), for the worker too."""
    return settings.resolved_secret_key(Path("var").resolve())
