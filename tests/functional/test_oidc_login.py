"""Signing in with OpenID Connect (CILogon): Authlib's real client against a local fake provider.

The round trip is real: discovery, the authorization redirect (state, nonce, PKCE S256), the token request
with the verifier, and an RS256-signed ID token checked against the published keys.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from helpdesk import create_app
from helpdesk.accounts.models import Identity, Person, Role
from helpdesk.accounts.services import AccountService
from helpdesk.config import Settings, UnsafeSettingsError
from tests.conftest import TEST_SECRET, csrf_token_from
from tests.support.fake_oidc import CLIENT_ID, fake_oidc


@pytest.fixture
def oidc(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    with fake_oidc() as fake:
        yield fake


@pytest.fixture
def oidc_app(make_settings, oidc, github):  # type: ignore[no-untyped-def]
    app = create_app(make_settings(
        auth="github,oidc", **oidc.settings(),
        github_client_id="client-123", github_client_secret="shh",
        github_authorize_url=f"{github.url}/login/oauth/authorize",
        github_token_url=f"{github.url}/login/oauth/access_token", github_api_url=f"{github.url}/",
    ))
    yield app
    app.extensions["helpdesk"].engine.dispose()


def sign_in_oidc(client, oidc, *, path: str = "/auth/login/oidc?next=/tickets/new"):  # type: ignore[no-untyped-def]
    """Follow the sign-in as a browser would: to the provider, which answers at once, and back."""
    response = client.get(path)
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    query = parse_qs(urlsplit(location).query)
    assert location.startswith(f"{oidc.url}/authorize")
    assert query["client_id"] == [CLIENT_ID] and query["code_challenge_method"] == ["S256"]
    assert query["state"] and query["nonce"] and "openid" in query["scope"][0].split()
    answer = requests.get(location, allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    return client.get(f"{back.path}?{back.query}")


def start_link(client, account_page: str) -> str:  # type: ignore[no-untyped-def]
    """Press "Link GitHub": a page that goes on (by a plain navigation) to GitHub; the state GitHub gets."""
    answer = client.post("/auth/link/github", data={"csrf_token": csrf_token_from(account_page)})
    assert answer.status_code == 200 and 'http-equiv="refresh"' in answer.get_data(as_text=True)
    go = client.get("/auth/login/github?link=1")
    assert go.status_code == 302
    return parse_qs(urlsplit(go.headers["Location"]).query)["state"][0]


def people(app) -> list[Person]:  # type: ignore[no-untyped-def]
    session = app.extensions["helpdesk"].session_factory()
    try:
        return list(session.scalars(select(Person).where(Person.merged_into_id.is_(None)).order_by(Person.id)))
    finally:
        session.close()


def identities(app) -> list[tuple[int, str, str]]:  # type: ignore[no-untyped-def]
    session = app.extensions["helpdesk"].session_factory()
    try:
        return [(i.person_id, i.provider.value, i.external_id) for i in session.scalars(select(Identity).order_by(Identity.id))]
    finally:
        session.close()


def test_with_oidc_alone_the_sign_in_goes_straight_to_the_provider(make_settings, oidc) -> None:  # type: ignore[no-untyped-def]
    app = create_app(make_settings(auth="oidc", **oidc.settings()))
    try:
        client = app.test_client()
        response = client.get("/auth/login?next=/tickets/")
        assert response.status_code == 302 and response.headers["Location"].startswith(f"{oidc.url}/authorize")
        assert client.get("/auth/github/callback?code=x&state=y").status_code == 404
        answer = requests.get(response.headers["Location"], allow_redirects=False, timeout=5)
        back = urlsplit(answer.headers["Location"])
        assert client.get(f"{back.path}?{back.query}").headers["Location"] == "/tickets/"
    finally:
        app.extensions["helpdesk"].engine.dispose()


def test_choice_page_offers_both(oidc_app) -> None:  # type: ignore[no-untyped-def]
    html = oidc_app.test_client().get("/auth/login").get_data(as_text=True)
    assert "Sign in with GitHub" in " ".join(html.split()) and "Sign in with CILogon" in " ".join(html.split())


def test_sign_in_end_to_end_keyed_by_issuer_and_subject(oidc_app, oidc) -> None:  # type: ignore[no-untyped-def]
    client = oidc_app.test_client()
    response = sign_in_oidc(client, oidc)
    assert response.status_code == 302 and response.headers["Location"] == "/tickets/new"
    assert client.get("/tickets/new").status_code == 200
    token_request = next(r for r in oidc.requests if r[1] == "/oauth2/token")
    assert token_request[2]["code_verifier"]  # PKCE: the verifier went with the code
    (person,) = people(oidc_app)
    assert (person.display_name, person.email, person.email_verified, person.role) == (
        "Vera Rubin", "vera@example.edu", True, Role.USER)
    assert identities(oidc_app) == [(person.id, "oidc", f"{oidc.url} http://cilogon.org/serverA/users/1234")]
    # Again: the same person, however often.
    client2 = oidc_app.test_client()
    sign_in_oidc(client2, oidc)
    assert len(people(oidc_app)) == 1


def test_a_forged_id_token_signs_nobody_in(oidc_app, oidc) -> None:  # type: ignore[no-untyped-def]
    oidc.forge = True
    client = oidc_app.test_client()
    response = sign_in_oidc(client, oidc)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/tickets/new").status_code == 302
    assert people(oidc_app) == []


def test_a_wrong_nonce_signs_nobody_in(oidc_app, oidc) -> None:  # type: ignore[no-untyped-def]
    oidc.wrong_nonce = True
    client = oidc_app.test_client()
    sign_in_oidc(client, oidc)
    assert client.get("/tickets/new").status_code == 302
    assert people(oidc_app) == []


def test_a_forged_state_never_reaches_the_token_endpoint(oidc_app, oidc) -> None:  # type: ignore[no-untyped-def]
    client = oidc_app.test_client()
    client.get("/auth/login/oidc")
    response = client.get("/auth/oidc/callback?code=anything&state=forged")
    assert response.status_code == 302 and client.get("/tickets/new").status_code == 302
    assert not any(r[1] == "/oauth2/token" for r in oidc.requests)


def test_same_email_unverified_joins_nobody_verified_joins_a_plain_user(oidc_app, oidc, db_session) -> None:  # type: ignore[no-untyped-def]
    AccountService(db_session).sign_in_github("vera", github_id=77, email="vera@example.edu")
    oidc.user = {**oidc.user, "email_verified": False}
    sign_in_oidc(oidc_app.test_client(), oidc)
    assert len(people(oidc_app)) == 2  # never by an email the provider did not verify
    oidc.user = {**oidc.user, "sub": "http://cilogon.org/serverA/users/999", "email_verified": True}
    sign_in_oidc(oidc_app.test_client(), oidc)
    assert len(people(oidc_app)) == 2  # the verified email joined the GitHub user
    github_person = people(oidc_app)[0]
    assert (github_person.id, "oidc", f"{oidc.url} http://cilogon.org/serverA/users/999") in identities(oidc_app)


def test_a_staff_members_email_joins_nobody_and_raises_no_role(oidc_app, oidc, db_session) -> None:  # type: ignore[no-untyped-def]
    staff, _ = AccountService(db_session).create_staff("boss", Role.ADMIN)
    staff.email, staff.email_verified = "vera@example.edu", True
    db_session.commit()
    client = oidc_app.test_client()
    sign_in_oidc(client, oidc)
    newcomer = [p for p in people(oidc_app) if p.id != staff.id]
    assert len(newcomer) == 1 and newcomer[0].role is Role.USER
    assert client.get("/staff/").status_code == 403


def test_linking_github_to_an_oidc_person_makes_one_person(oidc_app, oidc, github) -> None:  # type: ignore[no-untyped-def]
    client = oidc_app.test_client()
    sign_in_oidc(client, oidc)
    page = client.get("/auth/account")
    assert page.status_code == 200 and "Link GitHub" in page.get_data(as_text=True)
    state = start_link(client, page.get_data(as_text=True))
    linked = client.get(f"/auth/github/callback?code=good-code&state={state}")
    assert linked.status_code == 302 and linked.headers["Location"] == "/auth/account"
    (person,) = people(oidc_app)
    assert {p for p, _, _ in identities(oidc_app)} == {person.id}
    # Signing in with GitHub alone now finds the same person.
    other = oidc_app.test_client()
    start = other.get("/auth/login/github")
    state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
    other.get(f"/auth/github/callback?code=good-code&state={state}")
    assert "Vera Rubin" in other.get("/auth/account").get_data(as_text=True)
    assert len(people(oidc_app)) == 1


def test_linking_someone_elses_account_is_refused(oidc_app, oidc, github, db_session) -> None:  # type: ignore[no-untyped-def]
    AccountService(db_session).sign_in_github("Octo-Cat", github_id=github.user_id)  # already someone's
    client = oidc_app.test_client()
    sign_in_oidc(client, oidc)
    page = client.get("/auth/account").get_data(as_text=True)
    state = start_link(client, page)
    client.get(f"/auth/github/callback?code=good-code&state={state}")
    assert "already someone else" in client.get("/auth/account").get_data(as_text=True)
    assert len(people(oidc_app)) == 2


def test_the_link_action_needs_its_csrf_token(oidc_app, oidc) -> None:  # type: ignore[no-untyped-def]
    client = oidc_app.test_client()
    sign_in_oidc(client, oidc)
    assert client.post("/auth/link/github").status_code == 400


def test_settings_accept_lists_and_production_refuses_an_http_issuer(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert Settings(env="testing", auth=" GitHub, oidc ").auth_methods == ("github", "oidc")
    with pytest.raises(ValueError, match="HELPDESK_AUTH"):
        Settings(env="testing", auth="github,saml")
    with pytest.raises(ValueError, match="cannot be combined"):
        Settings(env="testing", auth="dev,oidc")
    unsafe = Settings(env="production", auth="oidc", secret_key=TEST_SECRET, oidc_issuer="http://cilogon.org",
                      oidc_client_id="x", oidc_client_secret="y")
    with pytest.raises(UnsafeSettingsError, match="https"):
        unsafe.check_safe_for_production()
    Settings(env="production", auth="oidc", secret_key=TEST_SECRET, oidc_issuer="https://cilogon.org",
             oidc_client_id="x", oidc_client_secret="y").check_safe_for_production()
