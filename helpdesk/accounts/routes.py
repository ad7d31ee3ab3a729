"""Sign-in and sign-out: GitHub OAuth, any OpenID Connect provider (CILogon), or the development form.

OpenID Connect goes through Authlib's client: the provider's discovery document names its endpoints and
keys; every sign-in carries a state (CSRF), a nonce (checked in the ID token) and a PKCE S256 challenge; the
ID token's RS256 signature, issuer, audience, expiry and nonce are checked before anyone is signed in. The
identity is the pair (issuer, sub), never the email. A signed-in person links another sign-in to themselves
from their account page (``/auth/account``); see :meth:`AccountService.link_identity`.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import urlsplit

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from helpdesk.accounts.forms import DevLoginForm
from helpdesk.accounts.models import Person, Provider
from helpdesk.exceptions import ConflictError, InvalidInputError
from helpdesk.forms import HelpdeskForm
from helpdesk.web import (
    SESSION_ID_KEY,
    current_user,
    get_factory,
    get_settings,
    limiter,
    login_required,
    public_rate_limit,
)

#: Where a link action waits for its provider's answer: the id of the person who asked to link.
LINK_KEY = "link_person"

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
        if settings.oidc_issuer:
            oauth.register(
                "oidc",
                client_id=settings.oidc_client_id,
                client_secret=settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None,
                server_metadata_url=settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
                client_kwargs={"scope": settings.oidc_scopes, "code_challenge_method": "S256",
                               "timeout": settings.channel_timeout_seconds,
                               # CILogon's client ids hold a colon, which HTTP basic authentication cannot
                               # carry unencoded (Authlib does not encode it): such clients post their secret.
                               "token_endpoint_auth_method": "client_secret_post"
                               if ":" in (settings.oidc_client_id or "") else "client_secret_basic"},
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
    """Sign in: the dev form, a redirect to the one provider, or a button for each when there are two."""
    settings = get_settings()
    next_url = _safe_next(request.args.get("next"))
    if settings.auth == "dev":
        form = DevLoginForm(next=next_url)
        return render_template("auth/login.html", form=form)
    session["after_login"] = next_url
    session.pop(LINK_KEY, None)
    if len(settings.auth_methods) == 1:
        return _start(settings.auth_methods[0])
    return render_template("auth/choose.html", methods=settings.auth_methods, oidc_name=settings.oidc_name)


@bp.get("/login/<any(github, oidc):method>")
def login_with(method: str) -> Response:
    """Start signing in with one provider (the buttons of the sign-in page)."""
    if method not in get_settings().auth_methods:
        abort(404)
    session.setdefault("after_login", _safe_next(request.args.get("next")))
    if request.args.get("link") != "1":
        session.pop(LINK_KEY, None)  # a plain sign-in: no link action of earlier is answered by it
    return _start(method)


def _start(method: str) -> Response:
    """Send the browser to the provider; Authlib keeps the state, nonce and PKCE verifier in the session."""
    settings = get_settings()
    if method == "github":
        if not settings.github_client_id:
            abort(503, description="GitHub sign-in is not configured (HELPDESK_GITHUB_CLIENT_ID).")
        return _oauth().github.authorize_redirect(url_for("auth.github_callback", _external=True))
    if not (settings.oidc_issuer and settings.oidc_client_id):
        abort(503, description="OpenID Connect sign-in is not configured (HELPDESK_OIDC_ISSUER, "
                               "HELPDESK_OIDC_CLIENT_ID).")
    try:
        return _oauth().oidc.authorize_redirect(url_for("auth.oidc_callback", _external=True))
    except Exception as exc:  # noqa: BLE001 - the provider's discovery document is unreachable or broken
        log.warning("OpenID Connect discovery failed: %s", exc)
        abort(503, description=f"{settings.oidc_name} sign-in is unavailable just now; please try again shortly.")


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
    if "github" not in get_settings().auth_methods:
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
    if (linked := _finish_link(Provider.GITHUB, str(github_id), login)) is not None:
        return linked
    person = get_factory().create_account_service().sign_in_github(
        login, github_id=github_id, display_name=profile.get("name") or login, email=email
    )
    next_url = session.get("after_login", "/")
    _sign_in(person)
    return redirect(_safe_next(next_url))


@bp.get("/oidc/callback")
@limiter.limit(public_rate_limit)
def oidc_callback() -> Response:
    """The OpenID Connect provider sends people back here; the ID token says who they are."""
    settings = get_settings()
    if "oidc" not in settings.auth_methods:
        abort(404)
    try:
        # Checks the state, trades the code (with the PKCE verifier), and verifies the ID token: its RS256
        # signature against the provider's keys, issuer, audience (our client id), expiry and nonce.
        token = _oauth().oidc.authorize_access_token()
        claims = token.get("userinfo") or {}
        issuer, subject = claims.get("iss"), claims.get("sub")
        if issuer != _oauth().oidc.load_server_metadata().get("issuer") or not isinstance(subject, str):
            raise ValueError(f"unexpected issuer or subject: {issuer!r}, {subject!r}")
    except Exception as exc:  # noqa: BLE001 - OAuthError, a bad token, an unreachable provider: all one answer
        log.warning("OpenID Connect sign-in failed: %s", exc)
        flash(f"{settings.oidc_name} sign-in did not complete. Please try again.", "error")
        return redirect(url_for("tickets.home"))
    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    name = claims.get("name") or " ".join(p for p in (claims.get("given_name"), claims.get("family_name")) if p)
    username = claims.get("preferred_username") or claims.get("eppn")
    service = get_factory().create_account_service()
    try:
        from helpdesk.accounts.services import oidc_external_id

        external_id = oidc_external_id(issuer, subject)
        if (linked := _finish_link(Provider.OIDC, external_id, username if isinstance(username, str) else None)):
            return linked
        person = service.sign_in_oidc(issuer, subject, email=email, email_verified=claims.get("email_verified") is True,
                                      display_name=name if isinstance(name, str) else None,
                                      username=username if isinstance(username, str) else None)
    except InvalidInputError as exc:
        flash(exc.message, "error")
        return redirect(url_for("tickets.home"))
    log.info("signed in", extra={"person_id": person.id, "method": "oidc"})
    next_url = session.get("after_login", "/")
    _sign_in(person)
    return redirect(_safe_next(next_url))


# -- linking another sign-in to the signed-in person ---------------------------------------------------


@bp.get("/account")
@login_required
def account() -> str:
    """The signed-in person's sign-ins, with a button to link each one they do not have yet."""
    settings = get_settings()
    person = current_user()
    assert person is not None
    have = {identity.provider for identity in person.identities}
    linkable = [m for m in settings.auth_methods if m in ("github", "oidc") and Provider(m) not in have]
    return render_template("auth/account.html", person=person, linkable=linkable, form=HelpdeskForm(),
                           oidc_name=settings.oidc_name)


@bp.post("/link/<any(github, oidc):method>")
@login_required
def link(method: str) -> str:
    """Link another sign-in to me: off to that provider, and back to :func:`_finish_link`.

    The page answered continues with a plain navigation to :func:`login_with`: the content security policy
    (``form-action 'self'``) rightly stops a form submission from being redirected to another site.
    """
    if method not in get_settings().auth_methods or not HelpdeskForm().validate_on_submit():
        abort(400)
    person = current_user()
    assert person is not None
    session[LINK_KEY] = person.id
    session["after_login"] = url_for("auth.account")
    settings = get_settings()
    return render_template("auth/continue.html", target=url_for("auth.login_with", method=method, link="1"),
                           provider="GitHub" if method == "github" else settings.oidc_name)


def _finish_link(provider: Provider, external_id: str, username: str | None) -> Response | None:
    """When this callback answers a link action, add the account to the person who asked; else None."""
    wanted = session.pop(LINK_KEY, None)
    if wanted is None:
        return None
    person = current_user()
    if person is None or person.id != wanted:
        flash("Sign in again, then link the account from your account page.", "error")
        return redirect(url_for("auth.login"))
    try:
        get_factory().create_account_service().link_identity(person, provider, external_id, username=username)
    except ConflictError as exc:
        flash(exc.message, "error")
        return redirect(url_for("auth.account"))
    log.info("identity linked", extra={"person_id": person.id, "provider": provider.value})
    flash("Linked: you can now sign in either way, as the same person.", "success")
    return redirect(url_for("auth.account"))


@bp.post("/logout")
def logout() -> Response:
    """Sign out: the session ends on the server, so a copy of the cookie stops working too."""
    if (session_id := _carried_session_id()) is not None:
        get_factory().create_account_service().end_session(session_id)
    session.clear()
    return redirect(url_for("tickets.home"))
