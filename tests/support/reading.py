"""Reading back what requests committed, from the test's own session."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person
from helpdesk.tickets.models import InboundDelivery, Message, OutboxItem, Ticket


def fresh(session: Session) -> None:
    """Forget what the test's session holds: read what the requests committed."""
    session.rollback()
    session.expire_all()


def count(session: Session, model: type) -> int:
    fresh(session)
    return session.scalar(select(func.count()).select_from(model)) or 0


def stored_nothing(session: Session) -> bool:
    """No ticket, message, delivery record, person or outbox item: a refused request left no trace."""
    return all(count(session, m) == 0 for m in (Ticket, Message, InboundDelivery, Person, OutboxItem))


def outbox_items(session: Session) -> list[OutboxItem]:
    fresh(session)
    return list(session.scalars(select(OutboxItem).order_by(OutboxItem.id)))


def only_ticket(session: Session) -> Ticket:
    """The one ticket in the database (fails when there is none or more than one)."""
    fresh(session)
    return session.scalars(select(Ticket)).one()
