"""Accounts security through HTTP: the people merge cannot make anyone admin, sign-out ends the session on
the server, sessions time out and end on merge, GitHub accounts are keyed by their numeric id."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from helpdesk import create_app
from helpdesk.accounts.models import Person, Role, WebSession
from helpdesk.accounts.services import AccountService
from helpdesk.db import utcnow
from tests.conftest import csrf_token_from
from tests.functional.test_github_login import start


def signed_in(client: FlaskClient) -> bool:
    """Whether the client is signed in: the new-ticket page needs a signed-in person."""
    return client.get("/tickets/new").status_code == 200


def cookie(client: FlaskClient) -> str:
    found = client.get_cookie("session")
    assert found is not None
    return found.value


def post_merge(client: FlaskClient, source: Person, target: Person) -> str:
    page = client.get("/staff/people")
    response = client.post("/staff/people/merge", data={
        "source_id": source.id, "target_id": target.id, "csrf_token": csrf_token_from(page.get_data(as_text=True)),
    }, follow_redirects=True)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def role_of(db_session: Session, person: Person) -> Role:
    db_session.expire_all()
    return db_session.get(Person, person.id).role


class TestPeopleMerge:
    def test_staff_cannot_merge_an_admin_into_their_own_account(
        self, client: FlaskClient, db_session: Session, login: Callable[..., Person],
        make_person: Callable[..., Person], staff_token: str,
    ) -> None:
        admin = AccountService(db_session).find_by_login("alice")  # staff_token made alice an admin
        sock = make_person("mallory-sock")
        login("mallory", "staff")
        page = post_merge(client, admin, sock)
        assert "Only an administrator" in page
        assert role_of(db_session, sock) is Role.USER
        # The admin's token still works, and the sock still cannot reach the admin-only API.
        assert client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {staff_token}"}).status_code == 200
        sock_client = client.application.test_client()
        page = sock_client.get("/auth/login")
        sock_client.post("/auth/login", data={"login": "mallory-sock",
                                              "csrf_token": csrf_token_from(page.get_data(as_text=True))})
        assert sock_client.get("/staff/").status_code == 403

    def test_an_admin_cannot_merge_an_admin_into_a_plain_account(
        self, client: FlaskClient, db_session: Session, login: Callable[..., Person],
        make_person: Callable[..., Person],
    ) -> None:
        other_admin, plain = make_person("root2", "admin"), make_person("plain")
        login("root", "admin")
        page = post_merge(client, other_admin, plain)
        assert "never changes anyone&#39;s role" in page
        assert role_of(db_session, plain) is Role.USER

    def test_a_merged_persons_sessions_end(
        self, app: Flask, client: FlaskClient, db_session: Session, login: Callable[..., Person],
        make_person: Callable[..., Person],
    ) -> None:
        ann_client = app.test_client()
        ann, ann_too = make_person("ann"), make_person("ann-too")
        page = ann_client.get("/auth/login")
        ann_client.post("/auth/login", data={"login": "ann", "csrf_token": csrf_token_from(page.get_data(as_text=True))})
        assert signed_in(ann_client)
        login("helper", "staff")
        assert "was merged into" in post_merge(client, ann, ann_too)
        assert not signed_in(ann_client)


class TestSessions:
    def test_a_copied_cookie_stops_working_after_sign_out(
        self, app: Flask, client: FlaskClient, login: Callable[..., Person]
    ) -> None:
        login("helper", "staff")
        stolen = cookie(client)
        thief = app.test_client()
        thief.set_cookie("session", stolen)
        assert thief.get("/staff/").status_code == 200
        page = client.get("/staff/")
        assert client.post("/auth/logout", data={"csrf_token": csrf_token_from(page.get_data(as_text=True))}
                           ).status_code == 302
        assert not signed_in(client)
        assert thief.get("/staff/").status_code == 302  # sent to sign in

    def test_the_cookie_carries_no_person_id_and_the_database_no_session_id(
        self, app: Flask, client: FlaskClient, db_session: Session, login: Callable[..., Person]
    ) -> None:
        login("helper", "staff")
        with client.session_transaction() as flask_session:
            assert set(flask_session) >= {"session_id"} and "person_id" not in flask_session
            session_id = flask_session["session_id"]
        stored = db_session.scalars(select(WebSession.session_hash)).one()
        assert session_id not in stored and len(stored) == 64

    def test_idle_sessions_end(self, client: FlaskClient, db_session: Session, login: Callable[..., Person]) -> None:
        login("helper", "staff")
        assert signed_in(client)
        db_session.execute(update(WebSession).values(last_seen_at=utcnow() - timedelta(minutes=121)))
        db_session.commit()
        assert not signed_in(client)

    def test_idle_and_lifetime_come_from_settings(
        self, make_settings: Callable[..., object], db_session: Session, make_person: Callable[..., Person],
    ) -> None:
        app = create_app(make_settings(session_idle_minutes=5, session_lifetime_hours=1))
        try:
            client = app.test_client()
            make_person("ann")
            page = client.get("/auth/login")
            client.post("/auth/login", data={"login": "ann", "csrf_token": csrf_token_from(page.get_data(as_text=True))})
            assert signed_in(client)
            db_session.execute(update(WebSession).values(last_seen_at=utcnow() - timedelta(minutes=6)))
            db_session.commit()
            assert not signed_in(client)
            page = client.get("/auth/login")
            client.post("/auth/login", data={"login": "ann", "csrf_token": csrf_token_from(page.get_data(as_text=True))})
            assert signed_in(client)
            db_session.execute(update(WebSession).where(WebSession.ended_at.is_(None))
                               .values(created_at=utcnow() - timedelta(minutes=61)))
            db_session.commit()
            assert not signed_in(client)
        finally:
            app.extensions["helpdesk"].engine.dispose()

    def test_sign_in_rotates_the_session_and_forms_keep_working(
        self, client: FlaskClient, db_session: Session, login: Callable[..., Person]
    ) -> None:
        login("ann")
        first = cookie(client)
        login("ann")  # signing in again, from the same browser
        assert cookie(client) != first
        rows = db_session.scalars(select(WebSession).order_by(WebSession.id)).all()
        assert [r.ended_at is None for r in rows] == [True]  # the replaced one ended and was cleared away
        page = client.get("/tickets/new")
        response = client.post("/tickets/new", data={
            "subject": "Token problem", "body": "My token stopped working.",
            "csrf_token": csrf_token_from(page.get_data(as_text=True)),
        })
        assert response.status_code == 302  # CSRF still checks out with server-side sessions


# -- GitHub, through the fake GitHub -----------------------------------------------------------------




def github_sign_in(app: Flask) -> FlaskClient:
    client = app.test_client()
    state = start(client)
    assert client.get(f"/auth/github/callback?code=good-code&state={state}").status_code == 302
    return client


def test_github_staff_keep_their_role_across_a_rename_and_a_new_holder_of_the_login_gets_none(
    github_app: Flask, github, db_session: Session  # type: ignore[no-untyped-def]
) -> None:
    AccountService(db_session).create_staff("octo-cat", Role.STAFF)  # before they ever sign in
    assert github_sign_in(github_app).get("/staff/").status_code == 200  # claims the pending identity
    github.login = "octo-renamed"
    assert github_sign_in(github_app).get("/staff/").status_code == 200
    github.login, github.user_id = "Octo-Cat", 999  # someone else registers the freed login
    assert github_sign_in(github_app).get("/staff/").status_code == 403


def test_a_github_profile_without_an_id_signs_nobody_in(github_app: Flask, github) -> None:  # type: ignore[no-untyped-def]
    github.user_id = "583231"  # a string, not GitHub's number
    client = github_sign_in(github_app)
    assert not signed_in(client)
