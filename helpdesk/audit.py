"""The audit trail: one row for every change a person makes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Insert, String, insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from helpdesk.db import Base, utcnow
from helpdesk.tickets import models as _ticket_models  # noqa: F401 - the ticket table audit rows point at


class AuditEvent(Base):
    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Who did it; None for the system itself (webhook intake, the worker).
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), index=True)
    action: Mapped[str] = mapped_column(String(64))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


def event_values(action: str, actor_id: int | None, ticket_id: int | None, data: dict[str, Any],
                 created_at: datetime | None = None) -> dict[str, Any]:
    """The one shape of an audit row, for the ORM (:func:`record`) and for Core (:func:`insert_event`)."""
    return {"action": action, "actor_id": actor_id, "ticket_id": ticket_id, "data": data,
            "created_at": created_at or utcnow()}


def insert_event(action: str, *, actor_id: int | None, ticket_id: int | None = None,
                 created_at: datetime | None = None, **data: Any) -> Insert:
    """The audit row as a Core INSERT, for write paths that send their statements together."""
    return insert(AuditEvent.__table__).values(**event_values(action, actor_id, ticket_id, data, created_at))


def record(
    session: Session, action: str, *, actor_id: int | None, ticket_id: int | None = None, **data: Any
) -> AuditEvent:
    """Add an audit event to the session; it commits with the change it describes."""
    event = AuditEvent(**event_values(action, actor_id, ticket_id, data))
    session.add(event)
    return event
