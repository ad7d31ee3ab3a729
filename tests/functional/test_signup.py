"""Sign-up as a delegate sees it, the roster as staff see it, and the programmes API."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from helpdesk.programs.models import Application, Program
from tests.conftest import csrf_token_from


def signup(client: FlaskClient, **fields: str) -> object:
    token = csrf_token_from(client.get("/signup").get_data(as_text=True))
    data = {"name": "Vera Rubin", "email": "vera@example.edu", "institution": "Example U", "data_rights": "y",
            "program": "dp0", "csrf_token": token, **fields}
    return client.post("/signup", data={k: v for k, v in data.items() if v is not None})


def test_signup_needs_sign_in(client: FlaskClient) -> None:
    response = client.get("/signup")
    assert response.status_code == 302 and "/auth/login?next=/signup" in response.headers["Location"]


def test_signup_holds_a_seat_and_shows_the_status(client: FlaskClient, login, db_session: Session) -> None:  # type: ignore[no-untyped-def]
    login("vera")
    form = client.get("/signup").get_data(as_text=True)
    assert 'name="data_rights"' in form and 'value="dp0"' in form
    response = signup(client)
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "a seat is held for you" in page
    application = db_session.scalars(select(Application)).one()
    assert (application.status.value, application.institution) == ("pending", "Example U")


def test_signup_without_data_rights_explains_and_stores_nothing(client: FlaskClient, login, db_session: Session) -> None:  # type: ignore[no-untyped-def]
    login("vera")
    response = signup(client, data_rights=None)
    assert response.status_code == 422
    assert "open only to people who hold Rubin Observatory data rights" in response.get_data(as_text=True)
    assert db_session.scalar(select(func.count()).select_from(Application)) == 0


@pytest.mark.parametrize("fields", [{"email": "not-an-email"}, {"name": ""}, {"program": "nope"}, {"csrf_token": "x"}])
def test_bad_signup_is_400_and_stores_nothing(client: FlaskClient, login, db_session: Session, fields) -> None:  # type: ignore[no-untyped-def]
    login("vera")
    response = signup(client, **fields)
    assert response.status_code == 400
    assert db_session.scalar(select(func.count()).select_from(Application)) == 0


def test_waitlisted_person_sees_their_place(client: FlaskClient, login, db_session: Session) -> None:  # type: ignore[no-untyped-def]
    program = db_session.scalars(select(Program).where(Program.slug == "dp0")).one()
    program.cap, program.reserved = 0, 0
    db_session.commit()
    login("vera")
    signup(client)
    page = client.get("/signup").get_data(as_text=True)
    assert "Waitlisted" in page and "<span data-position>1</span>" in page


def test_roster_is_staff_only_and_works(client: FlaskClient, login, make_person, db_session: Session) -> None:  # type: ignore[no-untyped-def]
    login("vera")
    signup(client, name="=HYPERLINK(\"http://evil\")")
    token = csrf_token_from(client.get("/signup").get_data(as_text=True))
    assert client.get("/staff/roster").status_code == 403
    client.post("/auth/logout", data={"csrf_token": token})
    login("sam", "staff")
    roster = client.get("/staff/roster").get_data(as_text=True)
    assert "Being checked (1)" in roster and "1 of 600 held" in roster
    csv_text = client.get("/staff/roster.csv").get_data(as_text=True)
    assert "'=HYPERLINK" in csv_text and ",vera," in csv_text
    application = db_session.scalars(select(Application)).one()
    response = client.post(f"/staff/roster/{application.id}", data={
        "csrf_token": csrf_token_from(roster), "action": "approve", "checks": ["identity", "rights_list", "email"]},
        follow_redirects=True)
    assert "vera" in response.get_data(as_text=True).lower() and ": active." in response.get_data(as_text=True)
    db_session.rollback()  # end the read snapshot taken above
    assert db_session.get(Application, application.id).status.value == "active"
    assert "Active delegates (1)" in client.get("/staff/roster").get_data(as_text=True)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_program_api_counts_and_cap_raise(client: FlaskClient, staff_token: str, login, make_person,  # type: ignore[no-untyped-def]
                                         db_session: Session) -> None:
    program = db_session.scalars(select(Program).where(Program.slug == "dp0")).one()
    program.cap, program.reserved = 1, 0
    db_session.commit()
    for name in ("ann", "bob", "cyd"):
        other = client.application.test_client()
        person = make_person(name)
        token = csrf_token_from(other.get("/auth/login").get_data(as_text=True))
        other.post("/auth/login", data={"login": person.handle, "csrf_token": token})
        token = csrf_token_from(other.get("/signup").get_data(as_text=True))
        other.post("/signup", data={"name": name, "email": f"{name}@example.edu", "institution": "U",
                                    "data_rights": "y", "program": "dp0", "csrf_token": token})
    before = client.get("/api/v1/programs/dp0", headers=auth(staff_token)).get_json()
    assert before == {"slug": "dp0", "name": "Data Preview 0 delegates", "cap": 1, "reserved": 0, "active": 0,
                      "pending": 1, "waitlisted": 2}
    after = client.patch("/api/v1/programs/dp0", json={"cap": 2}, headers=auth(staff_token)).get_json()
    assert (after["pending"], after["waitlisted"]) == (2, 1)
    db_session.rollback()
    bob = db_session.scalars(select(Application).where(Application.name == "bob")).one()
    assert bob.status.value == "pending"  # the second in line went first


@pytest.mark.parametrize(("body", "status"), [({}, 422), ({"cap": -1}, 422), ({"cap": "10"}, 422),
                                              ({"cap": 10, "extra": 1}, 422), ({"cap": 5, "reserved": 6}, 422)])
def test_program_api_bad_input(client: FlaskClient, staff_token: str, body: dict, status: int) -> None:
    response = client.patch("/api/v1/programs/dp0", json=body, headers=auth(staff_token))
    assert response.status_code == status
    assert client.get("/api/v1/programs/dp0", headers=auth(staff_token)).get_json()["cap"] == 600


def test_program_api_needs_an_admin(client: FlaskClient, db_session: Session) -> None:
    from helpdesk.accounts.models import Role
    from helpdesk.accounts.services import AccountService

    _, token = AccountService(db_session).create_staff("helper", Role.STAFF, with_token=True)
    response = client.patch("/api/v1/programs/dp0", json={"cap": 10}, headers=auth(token))
    assert response.status_code == 403
    assert client.get("/api/v1/programs/nope", headers=auth(token)).status_code == 404


