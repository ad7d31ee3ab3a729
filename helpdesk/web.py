"""Flask glue shared by the blueprints: the request's database session, who is signed in, guards."""

from __future__ import annotations

import functools
from collections.abc import Callable
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


def current_user() -> Person | None:
    """The person signed in by session cookie or API token, loaded once per request."""
    if "current_user" not in g:
        g.current_user = None
        person_id = session.get("person_id")
        if person_id is not None:
            g.current_user = get_factory().create_account_service().get(person_id)
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


def public_rate_limit() -> str:
    """The limit string for public write endpoints, read from settings at request time."""
    return get_settings().rate_limit_public
