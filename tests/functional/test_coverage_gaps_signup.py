"""Sign-up and roster paths a delegate or staff member hits when something is off: applying twice, no
programme loaded, a decision the rules forbid, a decision form that cannot be read."""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person
from helpdesk.programs.models import Application, ApplicationStatus, Program
from helpdesk.programs.services import ApplicationForm, ProgramService
from tests.conftest import csrf_token_from
from tests.support.reading import fresh


def apply(client: FlaskClient) -> object:
    token = csrf_token_from(client.get("/signup").get_data(as_text=True))
    return client.post("/signup", data={"name": "Vera Rubin", "email": "vera@example.edu", "institution": "U",
                                        "data_rights": "y", "program": "dp0", "csrf_token": token})


def applications(session: Session) -> int:
    fresh(session)
    return session.scalar(select(func.count()).select_from(Application)) or 0


def test_applying_twice_keeps_one_application_and_says_so(client: FlaskClient, login, db_session: Session) -> None:  # type: ignore[no-untyped-def]
    login("vera")
    assert apply(client).status_code == 302
    # A second tab still showing the form submits it again.
    token = csrf_token_from(client.get("/auth/login").get_data(as_text=True))
    again = client.post("/signup", data={"name": "Vera Rubin", "email": "vera@example.edu", "institution": "U",
                                         "data_rights": "y", "program": "dp0", "csrf_token": token},
                        follow_redirects=True)
    page = again.get_data(as_text=True)
    assert again.status_code == 200
    assert "You have already applied; here is where your application stands." in page
    assert "a seat is held for you" in page
    assert applications(db_session) == 1


def test_no_programme_loaded_means_sign_up_is_closed(client: FlaskClient, login, db_session: Session) -> None:  # type: ignore[no-untyped-def]
    db_session.execute(delete(Program))
    db_session.commit()
    login("vera")
    response = client.get("/signup")
    assert response.status_code == 503
    assert "Sign-up is not open" in response.get_data(as_text=True)


def pending_application(db_session: Session, make_person: Callable[..., Person]) -> Application:
    person = make_person("vera")
    form = ApplicationForm(name="Vera Rubin", email="vera@example.edu", institution="U", data_rights=True)
    application, _ = ProgramService(db_session).apply(person, "dp0", form)
    db_session.commit()
    return application


def test_a_forbidden_decision_is_explained_and_changes_nothing(client: FlaskClient, login, make_person,  # type: ignore[no-untyped-def]
                                                               db_session: Session) -> None:
    application = pending_application(db_session, make_person)
    login("sam", "staff")
    token = csrf_token_from(client.get("/staff/roster").get_data(as_text=True))
    client.post(f"/staff/roster/{application.id}", data={"csrf_token": token, "action": "approve",
                                                         "checks": ["identity", "rights_list", "email"]})
    response = client.post(f"/staff/roster/{application.id}", data={
        "csrf_token": token, "action": "decline", "confirm": "yes", "note": "not on the list"}, follow_redirects=True)
    assert "Cannot decline an application that is active." in response.get_data(as_text=True)
    fresh(db_session)
    assert db_session.get(Application, application.id).status is ApplicationStatus.ACTIVE


def test_an_unreadable_decision_changes_nothing(client: FlaskClient, login, make_person,  # type: ignore[no-untyped-def]
                                                db_session: Session) -> None:
    application = pending_application(db_session, make_person)
    login("sam", "staff")
    token = csrf_token_from(client.get("/staff/roster").get_data(as_text=True))
    response = client.post(f"/staff/roster/{application.id}", data={"csrf_token": token}, follow_redirects=True)
    assert "That decision could not be read; try again." in response.get_data(as_text=True)
    forged = client.post(f"/staff/roster/{application.id}", data={"action": "approve"})  # no CSRF token
    assert forged.status_code == 400
    fresh(db_session)
    assert db_session.get(Application, application.id).status is ApplicationStatus.PENDING
