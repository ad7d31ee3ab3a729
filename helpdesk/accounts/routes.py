"""Sign-in and sign-out: GitHub OAuth, or the development form that trusts the login typed."""

from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import urlsplit

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from helpdesk.accounts.forms import DevLoginForm
from helpdesk.accounts.models import Person
from helpdesk.web import SESSION_ID_KEY, get_factory, get_settings, limiter, public_rate_limit

log = logging.getLogger("helpdesk.auth")
bp = Blueprint("auth", __name__, url_prefix="/auth")


def _safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect would let a link send people elsewhere after sign-in.

    Browsers read a backslash as a slash and drop tabs and line breaks from addresses, so ``/\\evil.com``
    and ``/<TAB>/evil.com`` mean ``//evil.com``; and a CR or LF would break the Location header. Any control
    character or backslash, then, and the target is refused.
    """
    if not target or "\\" in target or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _oauth() -> OAuth:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if "helpdesk_oauth" not in app.extensions:
        settings = get_settings()
        oauth = OAuth(app)
        oauth.register(
            "github",
            client_id=settings.github_client_id,
            client_secret=settings.github_client_secret.get_secret_value() if settings.github_client_secret else None,
            access_token_url=settings.github_token_url,
            authorize_url=settings.github_authorize_url,
            api_base_url=settings.github_api_url,
            client_kwargs={"scope": "read:user user:email"},
        )
        app.extensions["helpdesk_oauth"] = oauth
    return app.extensions["helpdesk_oauth"]


def _sign_in(person: Person) -> None:
    # A fresh server-side session on sign-in (the one the browser carried before is ended), and a fresh
    # cookie, so a session id planted before sign-in is worthless.
    settings = get_settings()
    session_id = get_factory().create_account_service().start_session(
        person, lifetime=timedelta(hours=settings.session_lifetime_hours), replacing=_carried_session_id(),
    )
    session.clear()
    session[SESSION_ID_KEY] = session_id
    session.permanent = True


def _carried_session_id() -> str | None:
    value = session.get(SESSION_ID_KEY)
    return value if isinstance(value, str) else None


@bp.get("/login")
def login() -> Response | str:
    """Sign in: the dev form, or a redirect to GitHub."""
    settings = get_settings()
    next_url = _safe_next(request.args.get("next"))
    if settings.auth == "dev":
        form = DevLoginForm(next=next_url)
        return render_template("auth/login.html", form=form)
    session["after_login"] = next_url
    if not settings.github_client_id:
        abort(503, description="GitHub sign-in is not configured (HELPDESK_GITHUB_CLIENT_ID).")
    return _oauth().github.authorize_redirect(url_for("auth.github_callback", _external=True))


@bp.post("/login")
@limiter.limit(public_rate_limit)
def dev_login() -> Response | tuple[str, int]:
    """The development sign-in: trusts the login typed. Refused unless HELPDESK_AUTH=dev."""
    if get_settings().auth != "dev":
        abort(404)
    form = DevLoginForm()
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form), 400
    person = get_factory().create_account_service().sign_in_dev(form.login.data)
    _sign_in(person)
    log.info("signed in", extra={"person_id": person.id, "method": "dev"})
    return redirect(_safe_next(form.next.data))


@bp.get("/github/callback")
@limiter.limit(public_rate_limit)
def github_callback() -> Response:
    """GitHub sends people back here with a code we trade for their login."""
    if get_settings().auth != "github":
        abort(404)
    client = _oauth().github
    try:
        client.authorize_access_token()
        profile = client.get("user").json()
        # The numeric id is the key: a login can be renamed, and a freed one registered by someone else.
        github_id, login = profile["id"], profile["login"]
        if isinstance(github_id, bool) or not isinstance(github_id, int) or not isinstance(login, str):
            raise ValueError(f"unexpected GitHub profile: id {github_id!r}, login {login!r}")
        email = None
        emails = client.get("user/emails")
        if emails.ok:
            # Only the verified primary address: it is stored as verified and may join this person to others.
            email = next((e["email"] for e in emails.json() if e.get("primary") and e.get("verified")), None)
    except (OAuthError, KeyError, ValueError, TypeError) as exc:
        log.warning("GitHub sign-in failed: %s", exc)
        flash("GitHub sign-in did not complete. Please try again.", "error")
        return redirect(url_for("tickets.home"))
    person = get_factory().create_account_service().sign_in_github(
        login, github_id=github_id, display_name=profile.get("name") or login, email=email
    )
    next_url = session.get("after_login", "/")
    _sign_in(person)
    return redirect(_safe_next(next_url))


@bp.post("/logout")
def logout() -> Response:
    """Sign out: the session ends on the server, so a copy of the cookie stops working too."""
    if (session_id := _carried_session_id()) is not None:
        get_factory().create_account_service().end_session(session_id)
    session.clear()
    return redirect(url_for("tickets.home"))
