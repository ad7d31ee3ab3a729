"""The ticket JSON's first-response clock (``sla``), and an administrator's audited override of a queue's limit
per person through ``PATCH /api/v1/tickets/<id>`` (staff get 403, nobody gets it silently)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person, Role
from helpdesk.accounts.services import AccountService
from helpdesk.audit import AuditEvent
from helpdesk.tickets.models import Queue, Source, Ticket
from helpdesk.tickets.services import TicketService
from tests.support.reading import fresh


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def full_queue(db_session: Session, make_person: Callable[..., Person]) -> tuple[int, int]:
    """ann holds the one ticket butler allows per person; returns (her ticket, a second unassigned one)."""
    make_person("ann", "staff")
    requester = make_person("delegate")
    db_session.execute(update(Queue).where(Queue.slug == "butler").values(wip_limit_per_assignee=1))
    db_session.commit()
    tickets = TicketService(db_session)
    staff = db_session.scalars(select(Person).where(Person.display_name == "ann")).one()
    first = tickets.file(requester, "calexp missing", "butler.get fails", Source.WEB).ticket
    tickets.update(staff, first.id, {"queue": "butler", "assignee": "ann"})
    second = tickets.file(requester, "deepCoadd cutout", "how?", Source.WEB).ticket
    tickets.update(staff, second.id, {"queue": "butler"})
    return first.id, second.id


def test_staff_are_refused_the_override_and_an_admin_is_audited(
    client: FlaskClient, db_session: Session, make_person: Callable[..., Person], staff_token: str,
) -> None:
    _, waiting = full_queue(db_session, make_person)
    _, sam_token = AccountService(db_session).create_staff("sam", Role.STAFF, with_token=True)
    assert sam_token

    plain = client.patch(f"/api/v1/tickets/{waiting}", json={"assignee": "ann"}, headers=bearer(sam_token))
    assert plain.status_code == 409 and plain.get_json()["error"]["code"] == "wip_limit_reached"
    forbidden = client.patch(f"/api/v1/tickets/{waiting}", json={"assignee": "ann", "override_limit": True},
                             headers=bearer(sam_token))
    assert forbidden.status_code == 403 and forbidden.get_json()["error"]["code"] == "override_forbidden"
    fresh(db_session)
    assert db_session.get(Ticket, waiting).assignee is None, "a refused change leaves nothing behind"

    # alice (the staff_token fixture) is an administrator
    done = client.patch(f"/api/v1/tickets/{waiting}", json={"assignee": "ann", "override_limit": True},
                        headers=bearer(staff_token))
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["assignee"]["login"] == "ann"
    fresh(db_session)
    events = db_session.scalars(select(AuditEvent).where(
        AuditEvent.action == "ticket.assignment_overridden", AuditEvent.ticket_id == waiting)).all()
    assert len(events) == 1
    assert events[0].data == {"assignee": "ann", "queue": "butler", "open": 1, "limit": 1}


def test_override_alone_changes_nothing_and_must_be_a_boolean(
    client: FlaskClient, db_session: Session, make_person: Callable[..., Person], staff_token: str,
) -> None:
    _, waiting = full_queue(db_session, make_person)
    alone = client.patch(f"/api/v1/tickets/{waiting}", json={"override_limit": True}, headers=bearer(staff_token))
    assert alone.status_code == 422
    wrong = client.patch(f"/api/v1/tickets/{waiting}", json={"assignee": "ann", "override_limit": "yes"},
                         headers=bearer(staff_token))
    assert wrong.status_code == 422
    with_room = client.patch(f"/api/v1/tickets/{waiting}", json={"priority": "high", "override_limit": False},
                             headers=bearer(staff_token))
    assert with_room.status_code == 200


def test_the_ticket_json_carries_its_first_response_clock(
    client: FlaskClient, db_session: Session, make_person: Callable[..., Person], staff_token: str,
) -> None:
    assigned, waiting = full_queue(db_session, make_person)
    unsorted = TicketService(db_session).file(make_person("other"), "hello", "a question", Source.WEB).ticket

    def clock(ticket_id: int) -> dict[str, object]:
        answer = client.get(f"/api/v1/tickets/{ticket_id}", headers=bearer(staff_token))
        assert answer.status_code == 200
        return answer.get_json()["sla"]

    assert clock(unsorted.id) == {"state": None, "due_at": None, "first_response_at": None}
    fresh = clock(waiting)
    due = db_session.get(Ticket, waiting).first_response_due_at
    assert fresh == {"state": "on_time", "due_at": due.isoformat(), "first_response_at": None}

    db_session.execute(update(Ticket).where(Ticket.id == waiting).values(first_response_due_at=due - timedelta(
        hours=24) + timedelta(minutes=30)))  # 30 minutes left of butler's 24 hours: inside the 20 % window
    db_session.commit()
    assert clock(waiting)["state"] == "due_soon"
    db_session.execute(update(Ticket).where(Ticket.id == waiting).values(first_response_due_at=due - timedelta(
        hours=25)))
    db_session.commit()
    assert clock(waiting)["state"] == "breached"

    reply = client.post(f"/api/v1/tickets/{assigned}/replies", json={"body": "Use the 2.2i/runs/DP0.2 collection."},
                        headers=bearer(staff_token))
    assert reply.status_code == 201
    met = clock(assigned)
    assert met["state"] == "met" and met["first_response_at"] is not None

    paused = client.patch(f"/api/v1/tickets/{waiting}", json={"status": "waiting_on_user"}, headers=bearer(staff_token))
    assert paused.status_code == 200 and paused.get_json()["sla"]["state"] == "paused"
