"""Flask glue shared by the blueprints: the request's database session, who is signed in, guards."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from flask import current_app, g, redirect, request, session, url_for
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import Session

from helpdesk.exceptions import AuthenticationRequiredError, PermissionDeniedError

if TYPE_CHECKING:
    from helpdesk.accounts.models import Person
    from helpdesk.config import Settings
    from helpdesk.factory import Factory

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])

F = TypeVar("F", bound=Callable[..., Any])


def get_settings() -> Settings:
    return current_app.extensions["helpdesk"].settings


def get_session() -> Session:
    """The request's session, opened on first use and closed at teardown."""
    if "db_session" not in g:
        state = current_app.extensions["helpdesk"]
        factory = state.read_session_factory if request.method in ("GET", "HEAD") else state.session_factory
        g.db_session = factory()
    return g.db_session


def close_session(_exc: BaseException | None = None) -> None:
    db_session = g.pop("db_session", None)
    if db_session is not None:
        db_session.close()


def get_factory() -> Factory:
    from helpdesk.factory import Factory

    if "factory" not in g:
        g.factory = Factory(get_session(), get_settings())
    return g.factory


#: The key of the server-side session's id in Flask's (signed) session cookie; the database has only its SHA-256.
SESSION_ID_KEY = "session_id"


def current_user() -> Person | None:
    """The person signed in by session cookie or API token, loaded once per request.

    The cookie carries a session id that must name a web session the server still holds: signing out,
    a merge, a demotion, the idle timeout or the absolute lifetime ends it (one query, see
    ``AccountService.authenticate_session``). A dead id is dropped from the cookie; the CSRF token that
    Flask-WTF keeps beside it stays.
    """
    if "current_user" not in g:
        g.current_user = None
        session_id = session.get(SESSION_ID_KEY)
        if isinstance(session_id, str):
            settings = get_settings()
            g.current_user = get_factory().create_account_service().authenticate_session(
                session_id, idle=timedelta(minutes=settings.session_idle_minutes),
                lifetime=timedelta(hours=settings.session_lifetime_hours),
            )
            if g.current_user is None:
                session.pop(SESSION_ID_KEY, None)
    return g.current_user


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/integrations/")) or request.accept_mimetypes.best == "application/json"


def login_required(view: F) -> F:
    """Anonymous visitors of a page are sent to sign in and brought back; API callers get 401."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            if wants_json():
                raise AuthenticationRequiredError("Sign in or send an API token.")
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def _role_required(allowed: Callable[[Person], bool], refusal: str) -> Callable[[F], F]:
    """Like login_required, then 403 for a signed-in person whom ``allowed`` turns away."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None or not allowed(user):
                raise PermissionDeniedError(refusal)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


staff_required = _role_required(lambda person: person.is_staff, "This page is for support staff.")
admin_required = _role_required(lambda person: person.is_admin, "This is for administrators.")


def public_rate_limit() -> str:
    """The limit string for public write endpoints, read from settings at request time."""
    return get_settings().rate_limit_public


#: The methods that change something through the JSON API; each is counted by HELPDESK_RATE_LIMIT_API_WRITES.
API_WRITE_METHODS = ["POST", "PATCH", "PUT", "DELETE"]


def api_write_rate_limit() -> str:
    """The limit string for the JSON API's writes, read from settings at request time."""
    return get_settings().rate_limit_api_writes


def bearer_user(token: str) -> Person | None:
    """The person behind a bearer token, looked up once per request (the rate limiter and the API both ask)."""
    cached = g.get("bearer_user")
    if cached is None or cached[0] != token:
        g.bearer_user = (token, get_factory().create_account_service().authenticate_token(token))
    return g.bearer_user[1]


def api_write_rate_key() -> str:
    """Who an API write is counted against: the person behind the bearer token or the session, else the address.

    The limiter runs before the API blueprint authenticates the request, so the bearer token is looked up
    here first (once: :func:`bearer_user` keeps the answer for the blueprint); an unknown token or a dead
    session falls back to the address, and the blueprint then answers 401 as usual.
    """
    if "rate_limit_key" not in g:
        person_id = None
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            person = bearer_user(token.strip())
            person_id = person.id if person is not None else None
        else:
            person = current_user()  # the signed-in person, kept on g for the view
            person_id = person.id if person is not None else None
        g.rate_limit_key = f"person:{person_id}" if person_id is not None else f"addr:{get_remote_address()}"
    return g.rate_limit_key


def limit_api_writes(api_blueprint: Any) -> None:
    """Apply HELPDESK_RATE_LIMIT_API_WRITES to every write route of the API blueprint, from outside it.

    Safe to call once per app: the limit is built from the same functions each time, so the limiter keeps one.
    """
    # Shared: one budget per person across all the write routes, not one per route.
    limiter.shared_limit(api_write_rate_limit, scope="api-writes", key_func=api_write_rate_key,
                         methods=API_WRITE_METHODS)(api_blueprint)
