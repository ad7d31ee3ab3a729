"""The staff pages of delegate access: idle seats (admins reclaim) and held questions (staff file them)."""

from __future__ import annotations

from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person
from helpdesk.db import utcnow
from helpdesk.programs.inactivity import IdlePolicy, sweep
from helpdesk.programs.models import Application
from helpdesk.tickets.limits import HeldDelivery
from helpdesk.tickets.models import Ticket
from tests.conftest import csrf_token_from
from tests.support.reading import fresh


def test_an_admin_reclaims_from_the_idle_page_and_staff_may_not(
    client: FlaskClient, db_session: Session, seat, login,  # type: ignore[no-untyped-def]
) -> None:
    application = seat("sleepy", 3001)
    fresh(db_session)
    row = db_session.get(Application, application.id)
    row.decided_at = row.created_at = utcnow() - timedelta(days=60)
    db_session.commit()
    policy = IdlePolicy(30, 7, 2)
    sweep(db_session, policy, lambda: utcnow() - timedelta(days=8))
    sweep(db_session, policy)
    login("helper", "staff")
    assert client.get("/staff/delegates/idle").status_code == 403
    client.post("/auth/logout", data={"csrf_token": csrf_token_from(client.get("/tickets/").get_data(as_text=True))})
    login("boss", "admin")
    page = client.get("/staff/delegates/idle")
    assert page.status_code == 200 and "Reclaim seat of sleepy" in page.get_data(as_text=True)
    response = client.post(f"/staff/delegates/idle/{application.id}/reclaim",
                           data={"csrf_token": csrf_token_from(page.get_data(as_text=True))})
    assert response.status_code == 302
    fresh(db_session)
    assert db_session.get(Application, application.id).status.value == "reclaimed"
    assert client.post(f"/staff/delegates/idle/{application.id}/reclaim", data={}).status_code == 400  # no CSRF
    assert "seat reclaimed" not in client.get("/staff/delegates/idle").get_data(as_text=True)


def test_staff_file_a_held_question(client: FlaskClient, db_session: Session, login, make_person) -> None:  # type: ignore[no-untyped-def]
    asker = make_person("asker")
    db_session.add(HeldDelivery(source="slack", thread_key="C111:1.1", person_id=asker.id, subject="TAP times out",
                                body="My query times out", external={"channel": "C111", "thread_ts": "1.1"},
                                reason="per_day", retry_at=utcnow() + timedelta(hours=3), created_at=utcnow()))
    db_session.commit()
    login("helper", "staff")
    console = client.get("/staff/").get_data(as_text=True)
    assert "Held questions" in console and "Idle delegates" not in console  # the idle list is for admins
    page = client.get("/staff/held")
    assert page.status_code == 200 and "TAP times out" in page.get_data(as_text=True)
    fresh(db_session)
    held = db_session.scalars(select(HeldDelivery)).one()
    response = client.post(f"/staff/held/{held.id}/file", data={"csrf_token": csrf_token_from(page.get_data(as_text=True))})
    assert response.status_code == 302
    fresh(db_session)
    ticket = db_session.scalars(select(Ticket)).one()
    assert (ticket.subject, ticket.requester_id, ticket.thread_key) == ("TAP times out", asker.id, "C111:1.1")
    assert db_session.get(HeldDelivery, held.id).released_ticket_id == ticket.id
    assert "TAP times out" not in client.get("/staff/held").get_data(as_text=True)
    assert db_session.get(Person, asker.id) is not None
