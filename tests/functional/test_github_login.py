"""Signing in with GitHub: Authlib's real OAuth client against a local fake GitHub."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from helpdesk.accounts.models import Identity, Person


def start(client) -> str:  # type: ignore[no-untyped-def]
    response = client.get("/auth/login?next=/tickets/new")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    query = parse_qs(location.query)
    assert location.path == "/login/oauth/authorize"
    assert query["client_id"] == ["client-123"]
    assert query["scope"] == ["read:user user:email"]
    return query["state"][0]


def test_github_sign_in_creates_the_person_and_returns(github_app, github) -> None:  # type: ignore[no-untyped-def]
    client = github_app.test_client()
    state = start(client)
    response = client.get(f"/auth/github/callback?code=good-code&state={state}")
    assert response.status_code == 302
    assert response.headers["Location"] == "/tickets/new"
    assert client.get("/tickets/new").status_code == 200
    token_request = next(r for r in github.requests if r[1] == "/login/oauth/access_token")
    assert "code=good-code" in token_request[3]
    session = github_app.extensions["helpdesk"].session_factory()
    identity = session.scalars(select(Identity)).one()
    # Keyed by GitHub's numeric user id, not the login (which can be renamed or re-registered).
    assert (identity.provider.value, identity.external_id, identity.username) == ("github", "583231", "Octo-Cat")
    person = session.get(Person, identity.person_id)
    assert (person.display_name, person.email, person.email_verified, person.role.value) == (
        "Octo Cat", "octo@example.org", True, "user")
    session.close()


def test_forged_state_is_refused(github_app, github) -> None:  # type: ignore[no-untyped-def]
    client = github_app.test_client()
    start(client)
    response = client.get("/auth/github/callback?code=good-code&state=forged")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/tickets/new").status_code == 302  # still signed out
    assert not any(r[1] == "/login/oauth/access_token" for r in github.requests)


def test_bad_code_signs_nobody_in(github_app, github) -> None:  # type: ignore[no-untyped-def]
    client = github_app.test_client()
    state = start(client)
    response = client.get(f"/auth/github/callback?code=expired&state={state}")
    assert response.status_code == 302
    assert client.get("/tickets/new").status_code == 302
    session = github_app.extensions["helpdesk"].session_factory()
    assert session.scalars(select(Person)).first() is None
    session.close()
