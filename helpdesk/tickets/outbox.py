"""The one way into the outbox, kept apart from the ticket service so that any package may queue a delivery.

Programmes and inactivity reminders queue notices too; importing this small module instead of
:mod:`helpdesk.tickets.services` keeps them from depending on the whole ticket service (and it on them).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, insert

from helpdesk.tickets.models import OutboxItem, OutboxKind, OutboxStatus


def outbox_insert(kind: OutboxKind, channel: str, dedupe_key: str, now: datetime, *, ticket_id: int | None = None,
                  message_id: int | None = None, payload: Mapping[str, Any] | None = None) -> Insert:
    """The one way into the outbox. Where to deliver is read from the ticket when the worker delivers."""
    return insert(OutboxItem.__table__).values(
        dedupe_key=dedupe_key, channel=channel, kind=kind.value, ticket_id=ticket_id, message_id=message_id,
        payload=dict(payload or {}), status=OutboxStatus.PENDING.value, attempts=0, next_attempt_at=now,
        created_at=now,
    )
