"""Warnings before a first response is overdue: in the log, in the console's audit trail, and optionally in a
staff Slack channel through the outbox (``HELPDESK_SLA_SLACK_CHANNEL``).

The worker runs :meth:`SlaService.sweep` between deliveries, and ``helpdesk queues sla-sweep`` runs it once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from helpdesk import audit
from helpdesk.db import utcnow
from helpdesk.tickets.models import OutboxKind, Queue, Status, Ticket
from helpdesk.tickets.services import outbox_insert
from helpdesk.tickets.sla import Clock, ClockState, SlaPolicy, clock_of, duration

if TYPE_CHECKING:
    from helpdesk.config import Settings

log = logging.getLogger("helpdesk.sla")

#: Tickets one sweep warns about at most; the next sweep takes the rest.
SWEEP_BATCH = 200


@dataclass(frozen=True)
class SlaWarning:
    ticket_id: int
    queue: str
    clock: Clock


class SlaService:
    """Warns staff once per ticket (and due time) when its first response is due soon or overdue."""

    def __init__(self, session: Session, policy: SlaPolicy, *, clock: Callable[[], datetime] = utcnow,
                 slack_channel: str | None = None, public_url: str = "") -> None:
        self.session = session
        self.policy = policy
        self.clock = clock
        #: The staff Slack channel warnings go to through the outbox; None: console and log only.
        self.slack_channel = slack_channel
        self.public_url = public_url.rstrip("/")

    @classmethod
    def from_settings(cls, session: Session, settings: Settings, clock: Callable[[], datetime] = utcnow
                      ) -> SlaService:
        channel = settings.sla_slack_channel
        if channel and not settings.slack_enabled:
            log.warning("HELPDESK_SLA_SLACK_CHANNEL is set but Slack is not connected; warnings go to the log only")
            channel = None
        return cls(session, SlaPolicy.from_settings(settings), clock=clock, slack_channel=channel,
                   public_url=settings.public_url)

    def sweep(self) -> list[SlaWarning]:
        """Warn about every running clock that entered its warning window since the last sweep; commits.

        Each ticket is claimed with ``UPDATE … WHERE sla_warned_at IS NULL`` before it is warned about, so
        two sweeps at once (two workers) warn once; the outbox's dedupe key (ticket and due time) makes the
        Slack message single too.
        """
        now = self.clock()
        widest = max((self.policy.window(q.first_response_hours) for q in self.session.scalars(select(Queue))),
                     default=timedelta(0))
        candidates = self.session.scalars(
            select(Ticket).where(
                Ticket.first_response_due_at.is_not(None), Ticket.first_response_due_at <= now + widest,
                Ticket.first_response_at.is_(None), Ticket.sla_paused_at.is_(None), Ticket.sla_warned_at.is_(None),
                Ticket.status.in_([s for s in Status if s.is_open]), Ticket.queue_id.is_not(None),
            ).order_by(Ticket.first_response_due_at, Ticket.id).limit(SWEEP_BATCH)
        ).unique().all()
        warnings = []
        for ticket in candidates:
            clock = clock_of(ticket, now, self.policy)
            if clock is None or clock.state not in (ClockState.DUE_SOON, ClockState.BREACHED):
                continue
            claimed = self.session.execute(
                update(Ticket).where(Ticket.id == ticket.id, Ticket.sla_warned_at.is_(None),
                                     Ticket.first_response_due_at == ticket.first_response_due_at)
                .values(sla_warned_at=now).execution_options(synchronize_session=False)
            ).rowcount
            if claimed != 1:
                continue  # another sweep warned, or the clock moved meanwhile
            set_committed_value(ticket, "sla_warned_at", now)  # the loaded ticket knows it too
            assert ticket.queue is not None
            text = self.warning_text(ticket, clock)
            log.warning("first response %s: %s", clock.state.label, text)
            audit.record(self.session, "ticket.sla_warning", actor_id=None, ticket_id=ticket.id,
                         state=clock.state.value, due_at=clock.due_at.isoformat())
            if self.slack_channel:
                # No ticket_id on the item: the worker would otherwise let a thread-less ticket adopt the
                # staff channel as its thread (OutboxWorker._started_thread).
                key = f"sla-warning:{ticket.id}:{clock.due_at:%Y%m%dT%H%M%S}"
                try:
                    with self.session.begin_nested():
                        self.session.execute(outbox_insert(
                            OutboxKind.SLA_WARNING, "slack", key, now,
                            payload={"conversation": self.slack_channel, "text": text, "ticket": ticket.id}))
                except IntegrityError:
                    # Sent before for this very due time (the ticket went to another queue and back).
                    log.info("SLA warning %s was sent before", key)
            warnings.append(SlaWarning(ticket.id, ticket.queue.slug, clock))
        self.session.commit()
        return warnings

    def warning_text(self, ticket: Ticket, clock: Clock) -> str:
        assert ticket.queue is not None
        when = f"{clock.due_at:%Y-%m-%d %H:%M} UTC"
        state = (f"is overdue: its first response was due {when}" if clock.state is ClockState.BREACHED
                 else f"needs a first response by {when} ({duration(clock.remaining)} left)")
        return (f"Ticket #{ticket.id} in {ticket.queue.name} {state}: {ticket.subject} "
                f"{self.public_url}/staff/tickets/{ticket.id}")
