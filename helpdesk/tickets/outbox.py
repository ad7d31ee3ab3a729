"""The outbox: the one way into it, and staff's view of deliveries that failed for good.

`outbox_insert` lives here rather than in :mod:`helpdesk.tickets.services` so that programmes and reminders
can queue a notice without importing the whole ticket service (which imports accounts, which import them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, func, insert, select
from sqlalchemy.orm import Session

from helpdesk import audit
from helpdesk.accounts.models import Person
from helpdesk.db import utcnow
from helpdesk.exceptions import InvalidTransitionError, NotFoundError, PermissionDeniedError
from helpdesk.tickets.models import OutboxItem, OutboxKind, OutboxStatus


def outbox_insert(kind: OutboxKind, channel: str, dedupe_key: str, now: datetime, *, ticket_id: int | None = None,
                  message_id: int | None = None, payload: Mapping[str, Any] | None = None) -> Insert:
    """The one way into the outbox. Where to deliver is read from the ticket when the worker delivers."""
    return insert(OutboxItem.__table__).values(
        dedupe_key=dedupe_key, channel=channel, kind=kind.value, ticket_id=ticket_id, message_id=message_id,
        payload=dict(payload or {}), status=OutboxStatus.PENDING.value, attempts=0, next_attempt_at=now,
        created_at=now,
    )


class OutboxService:
    """Lists dead deliveries and puts them back in the queue. Never imports Flask."""

    def __init__(self, session: Session, clock: Callable[[], datetime] = utcnow) -> None:
        self.session = session
        self.clock = clock

    def dead(self, limit: int = 100) -> list[OutboxItem]:
        """Dead deliveries, newest first."""
        return list(self.session.scalars(
            select(OutboxItem).where(OutboxItem.status == OutboxStatus.DEAD).order_by(OutboxItem.id.desc())
            .limit(limit)
        ))

    def counts(self) -> dict[str, int]:
        rows = self.session.execute(select(OutboxItem.status, func.count()).group_by(OutboxItem.status))
        counts = {status.value: 0 for status in OutboxStatus}
        counts.update({status.value: count for status, count in rows})
        return counts

    def retry(self, actor: Person, item_id: int) -> OutboxItem:
        """Send a dead delivery again, from a fresh count of attempts.

        The worker still checks for an earlier post with the same marker first, since a delivery that
        timed out may have arrived after all.

        Raises
        ------
        PermissionDeniedError, NotFoundError, InvalidTransitionError
        """
        if not actor.is_staff:
            raise PermissionDeniedError("Only staff can retry deliveries.")
        item = self.session.get(OutboxItem, item_id)
        if item is None:
            raise NotFoundError(f"No delivery {item_id}.")
        if item.status is not OutboxStatus.DEAD:
            raise InvalidTransitionError(f"Delivery {item_id} is {item.status.value}; only dead ones can be retried.")
        previous_attempts = item.attempts
        item.status, item.attempts, item.locked_until, item.next_attempt_at = (
            OutboxStatus.PENDING, 0, None, self.clock())
        item.last_error = item.last_error or "retried by staff"
        audit.record(self.session, "outbox.retried", actor_id=actor.id, ticket_id=item.ticket_id,
                     outbox_id=item.id, previous_attempts=previous_attempts)
        self.session.commit()
        return item
