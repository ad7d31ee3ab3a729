"""Helpers for the incident and duplicate tests: tickets filed through the service, as different people."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person
from helpdesk.audit import AuditEvent
from helpdesk.db import utcnow
from helpdesk.tickets.incidents import IncidentPolicy, IncidentService
from helpdesk.tickets.models import Source, Ticket
from helpdesk.tickets.services import TicketService

#: Three people reporting one failure in their own words, and a question about something else.
TAP_DOWN = [
    ("TAP service returns 503", "Since about 10:00 UTC every TAP query from the portal fails with HTTP 503 "
     "Service Unavailable."),
    ("Portal queries failing", "Hi, my ADQL queries in the Portal all fail right now with a 503 error from the TAP "
     "service. Is it down?"),
    ("tap down?", "getting 503 service unavailable from the tap service in my notebook when running "
     "service.search, worked yesterday"),
    ("Error 503 when querying DP0.2 catalogs", "Every query to dp02_dc2_catalogs.Object errors out: HTTPError 503 "
     "Server Error: Service Unavailable for url: https://data.lsst.cloud/api/tap/sync"),
]
UNRELATED = ("How do I make a cutout image?", "I would like a small cutout around a galaxy from a calexp with the "
             "Butler. Which function should I use?")


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def file(db_session: Session, make_person: Callable[..., Person], clock: Clock) -> Callable[..., Ticket]:
    """File a web ticket as ``who`` (a new person per name) at the clock's time."""
    people: dict[str, Person] = {}

    def do_file(subject: str, body: str, who: str) -> Ticket:
        person = people.get(who) or people.setdefault(who, make_person(who))
        return TicketService(db_session, clock).file(person, subject, body, Source.WEB).ticket

    return do_file


@pytest.fixture
def incidents(db_session: Session, clock: Clock) -> IncidentService:
    return IncidentService(db_session, TicketService(db_session, clock), policy=IncidentPolicy(), clock=clock)


def audit_actions(session: Session, ticket_id: int | None = None) -> list[str]:
    query = select(AuditEvent.action).order_by(AuditEvent.id)
    if ticket_id is not None:
        query = query.where(AuditEvent.ticket_id == ticket_id)
    return list(session.scalars(query))


def enqueue_incident_checks(session: Session, ticket_ids: list[int]) -> None:
    """The ``incident_check`` items the filing path enqueues for new tickets (added here where it has not)."""
    from helpdesk.tickets.models import OutboxItem, OutboxKind
    from helpdesk.tickets.services import outbox_insert

    for ticket_id in ticket_ids:
        key = f"incident:{ticket_id}"
        if session.scalar(select(OutboxItem.id).where(OutboxItem.dedupe_key == key)) is None:
            source = session.get(Ticket, ticket_id).source.value
            session.execute(outbox_insert(OutboxKind.INCIDENT_CHECK, source, key, utcnow(), ticket_id=ticket_id))
    session.commit()
