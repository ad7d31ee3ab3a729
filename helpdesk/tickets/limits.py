"""Fair limits on tickets: how many open tickets one person may have, and how many they may file a day.

``HELPDESK_OPEN_TICKETS_PER_PERSON`` and ``HELPDESK_TICKETS_PER_DAY`` (0: no limit). Staff are exempt. The
day is a rolling 24 hours: someone at the daily limit may file again 24 hours after the oldest ticket that
still counts. An open-ticket limit has no fixed end (it lifts when one of their tickets is resolved), so
its ``Retry-After`` is a re-check interval, :data:`OPEN_LIMIT_RECHECK`.

The check runs inside the transaction that inserts the ticket, after locking the requester's person row
(``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's writers are serialised by ``BEGIN IMMEDIATE``), so two
filings by one person at the limit queue behind each other and the second one counts the first. The
counts use the index ``ix_ticket_requester_created`` (requester, filing time).

A Slack or forum question past a limit is not dropped: it is kept as a :class:`HeldDelivery` (staff see it
in the console and may file it), its delivery keys go into the inbound ledger so retries change nothing,
and the asker is told in their thread, once, when they may file again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from helpdesk.accounts.models import Person, Role
from helpdesk.db import Base, utcnow
from helpdesk.exceptions import HelpdeskError
from helpdesk.tickets.models import Status, Ticket

#: The window of the daily limit.
DAY = timedelta(hours=24)
#: ``Retry-After`` for the open-ticket limit, which lifts when a ticket is resolved, not at a known time.
OPEN_LIMIT_RECHECK = timedelta(hours=1)
OPEN_STATUSES = tuple(s.value for s in Status if s.is_open)


@dataclass(frozen=True)
class TicketLimits:
    """The two per-person limits; 0 is no limit."""

    open_per_person: int = 0
    per_day: int = 0

    @property
    def active(self) -> bool:
        return self.open_per_person > 0 or self.per_day > 0

    @classmethod
    def from_settings(cls, settings: Any) -> TicketLimits:
        return cls(settings.open_tickets_per_person, settings.tickets_per_day)


@dataclass(frozen=True)
class LimitVerdict:
    """Why a person may not file now, and when they may."""

    kind: str  # "open" or "per_day"
    limit: int
    retry_at: datetime
    #: For the open-ticket limit, ``retry_at`` is only when to check again.
    fixed_time: bool

    def retry_after_seconds(self, now: datetime) -> int:
        return max(1, math.ceil((self.retry_at - now).total_seconds()))

    def message(self, now: datetime) -> str:
        """The kind message the person reads, on the web, in the API's error and in their thread."""
        when = self.retry_at.strftime("%Y-%m-%d %H:%M UTC")
        if self.kind == "per_day":
            return (f"Thank you for your question. You have filed {self.limit} tickets in the last 24 hours, "
                    f"which is as many as one person can file in a day, so this one was not filed. "
                    f"You can file again from {when}. Staff can still see what you sent, and you can add to "
                    "one of your open tickets at any time.")
        return (f"Thank you for your question. You already have {self.limit} open tickets, which is as many as "
                "one person can have at once, so this one was not filed. You can file again as soon as one of "
                f"them is resolved (check again after {when}). Staff can still see what you sent, and you can "
                "add to one of your open tickets at any time.")

    def as_json(self, now: datetime) -> dict[str, Any]:
        return {"limit": self.kind, "max": self.limit, "retry_at": self.retry_at.isoformat(),
                "retry_after": self.retry_after_seconds(now)}


class TicketLimitError(HelpdeskError):
    """A person past one of their ticket limits (429, with ``Retry-After``)."""

    status_code = 429
    code = "ticket_limit"

    def __init__(self, verdict: LimitVerdict, now: datetime) -> None:
        super().__init__(verdict.message(now), details=verdict.as_json(now))
        self.verdict = verdict
        self.retry_after = verdict.retry_after_seconds(now)


def check(session: Session, person_id: int, limits: TicketLimits, now: datetime) -> LimitVerdict | None:
    """Lock the person's row and count their tickets: None when they may file, else why not.

    Must run in the transaction that then inserts the ticket (the lock holds until it commits). Staff
    (read under the same lock) are exempt. At most three small indexed queries, and none when no limit is set.

    The counts are separate statements *after* the lock, on purpose: under READ COMMITTED each statement sees
    what was committed when it started, so a count inside the locking statement would miss the ticket of the
    filing it waited for (and two filings at the limit would both pass).
    """
    if not limits.active:
        return None
    role = session.scalar(select(Person.role).where(Person.id == person_id).with_for_update())
    if role is None or Role(role).is_staff:
        return None
    verdicts: list[LimitVerdict] = []
    if limits.per_day:
        since = now - DAY
        # The oldest ticket whose ageing out brings them back under the limit: the limit-th newest.
        times = list(session.scalars(
            select(Ticket.created_at).where(Ticket.requester_id == person_id, Ticket.created_at > since)
            .order_by(Ticket.created_at.desc()).limit(limits.per_day)
        ))
        if len(times) >= limits.per_day:
            verdicts.append(LimitVerdict("per_day", limits.per_day, min(times) + DAY, True))
    if limits.open_per_person:
        count = session.scalar(
            select(func.count()).select_from(Ticket)
            .where(Ticket.requester_id == person_id, Ticket.status.in_(OPEN_STATUSES),
                   Ticket.merged_into_id.is_(None))
        ) or 0
        if count >= limits.open_per_person:
            verdicts.append(LimitVerdict("open", limits.open_per_person, now + OPEN_LIMIT_RECHECK, False))
    if not verdicts:
        return None
    # Both limits reached: the later time is when they may really file again.
    return max(verdicts, key=lambda v: v.retry_at)


class HeldDelivery(Base):
    """A Slack or forum question that arrived past its author's ticket limit: kept, not filed.

    Later messages in the same thread are added to it (a follow-up never counts). Staff see held questions in
    the console; filing one (``released_ticket_id``) makes it an ordinary ticket, audited.
    """

    __tablename__ = "held_delivery"
    __table_args__ = (Index("ix_held_delivery_source_thread_key", "source", "thread_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    thread_key: Mapped[str | None] = mapped_column(String(200))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    external: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: Which limit held it ("open", "per_day") and when the person could file again, as they were told.
    reason: Mapped[str] = mapped_column(String(16))
    retry_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_at: Mapped[datetime | None]
    released_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id", ondelete="SET NULL"))

    person: Mapped[Person] = relationship(lazy="joined")
