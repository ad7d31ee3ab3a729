"""The first-response clock of every ticket: when the first public staff answer is due, and how it stands.

The rules, in one place (the operator page ``docs/operator/queues-sla-assignment.md`` tells them to people):

* A ticket's clock starts when it gets a queue, counted from when it was **filed**: the requester has been
  waiting since then, sorted or not. Due = filed + the queue's ``first_response_hours`` (wall-clock hours).
* While the ticket waits on the requester (status ``waiting_on_user``) the clock stands still; when it leaves
  that status the due time moves later by the time it stood still, so the time left is what it was.
* Moving a ticket to another queue keeps the time already used and the time it stood still: the due time
  moves by the difference between the two targets. Taking it out of every queue stops the clock.
* The first public staff answer meets the clock (``first_response_at``); a ticket resolved or closed with no
  answer has no running clock.
* A clock is *due soon* inside the warning window before the due time: a share of the target
  (``HELPDESK_SLA_WARNING_PERCENT``) or a fixed number of minutes (``HELPDESK_SLA_WARNING_MINUTES``).

The functions that read a clock are pure; the ones that move it change a :class:`Ticket` in the session
and leave the commit to their caller. The warnings before a breach are :mod:`helpdesk.tickets.sla_warnings`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from helpdesk.tickets.models import Queue, Status, Ticket

if TYPE_CHECKING:
    from helpdesk.config import Settings


class HasTarget(Protocol):
    first_response_hours: int


class ClockState(enum.StrEnum):
    ON_TIME = "on_time"
    DUE_SOON = "due_soon"
    BREACHED = "breached"
    MET = "met"
    PAUSED = "paused"

    @property
    def mark(self) -> str:
        """A symbol shown next to the words, so the state never rests on colour alone."""
        return _MARKS[self]

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


_MARKS = {ClockState.ON_TIME: "●", ClockState.DUE_SOON: "▲", ClockState.BREACHED: "✖", ClockState.MET: "✓",
          ClockState.PAUSED: "⏸"}


@dataclass(frozen=True)
class SlaPolicy:
    """The warning window: ``warning_minutes`` when set, else ``warning_percent`` of the queue's target."""

    warning_percent: int = 20
    warning_minutes: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SlaPolicy:
        return cls(settings.sla_warning_percent, settings.sla_warning_minutes)

    def window(self, target_hours: int) -> timedelta:
        if self.warning_minutes is not None:
            return timedelta(minutes=self.warning_minutes)
        return timedelta(hours=target_hours) * self.warning_percent / 100


@dataclass(frozen=True)
class Clock:
    """How one ticket's first-response clock stands at ``now``."""

    state: ClockState
    due_at: datetime
    #: Time left before the due time (negative once breached); for a paused clock, what is left when it resumes.
    remaining: timedelta
    #: A met clock: whether the answer came after the due time.
    late: bool = False

    @property
    def text(self) -> str:
        """Words for people: ``due soon (1 h 20 min left)``, ``breached (3 h ago)``, ``met``."""
        if self.state is ClockState.MET:
            return "met late" if self.late else "met"
        if self.state is ClockState.BREACHED:
            return f"breached ({duration(-self.remaining)} ago)"
        if self.state is ClockState.PAUSED:
            return f"paused, waiting on the requester ({duration(self.remaining)} left)"
        return f"{self.state.label} ({duration(self.remaining)} left)"


def duration(delta: timedelta) -> str:
    """``2 d 3 h``, ``5 h 12 min``, ``12 min``: rounded down, never negative."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def first_response_due(queue: HasTarget, filed_at: datetime) -> datetime:
    """The first response due time of a ticket filed at ``filed_at`` into ``queue`` (no pause yet).

    At filing ``filed_at`` is "now": put the result into the new ticket's ``first_response_due_at``.
    """
    return filed_at + timedelta(hours=queue.first_response_hours)


def clock_state(*, due_at: datetime | None, paused_at: datetime | None, first_response_at: datetime | None,
                status: Status, target_hours: int | None, now: datetime, policy: SlaPolicy) -> Clock | None:
    """The pure rule; None when no clock runs (unsorted, or resolved or closed with no answer)."""
    if due_at is None or target_hours is None:
        return None
    if first_response_at is not None:
        return Clock(ClockState.MET, due_at, due_at - first_response_at, late=first_response_at > due_at)
    if not status.is_open:
        return None
    if paused_at is not None:
        return Clock(ClockState.PAUSED, due_at, due_at - paused_at)
    remaining = due_at - now
    if remaining <= timedelta(0):
        return Clock(ClockState.BREACHED, due_at, remaining)
    if remaining <= policy.window(target_hours):
        return Clock(ClockState.DUE_SOON, due_at, remaining)
    return Clock(ClockState.ON_TIME, due_at, remaining)


def clock_of(ticket: Ticket, now: datetime, policy: SlaPolicy) -> Clock | None:
    """How ``ticket``'s clock stands at ``now``."""
    return clock_state(
        due_at=ticket.first_response_due_at, paused_at=ticket.sla_paused_at,
        first_response_at=ticket.first_response_at, status=ticket.status,
        target_hours=ticket.queue.first_response_hours if ticket.queue else None, now=now, policy=policy,
    )


# -- moving the clock (uncommitted; the caller commits) ------------------------------------------------


def queue_changed(ticket: Ticket, old: Queue | None, new: Queue | None, now: datetime) -> None:
    """``ticket`` moved from queue ``old`` to ``new``: start, move or stop its clock."""
    if new is None:
        ticket.first_response_due_at = ticket.sla_paused_at = ticket.sla_warned_at = None
        return
    if old is None or ticket.first_response_due_at is None:
        ticket.first_response_due_at = first_response_due(new, ticket.created_at)
    else:
        # Keeps the time used so far and the pauses: only the target differs.
        ticket.first_response_due_at += timedelta(hours=new.first_response_hours - old.first_response_hours)
    ticket.sla_warned_at = None  # a new due time deserves its own warning
    if ticket.status is Status.WAITING_ON_USER and ticket.sla_paused_at is None:
        ticket.sla_paused_at = now


def status_changed(ticket: Ticket, previous: Status, now: datetime) -> None:
    """The ticket's status went from ``previous`` to ``ticket.status``: pause or resume its clock.

    Call it wherever a status changes (a staff update, a message that reopens a ticket).
    """
    current = ticket.status
    if current is previous or ticket.first_response_due_at is None:
        return
    if current is Status.WAITING_ON_USER:
        if ticket.sla_paused_at is None and ticket.first_response_at is None:
            ticket.sla_paused_at = now
    elif previous is Status.WAITING_ON_USER and ticket.sla_paused_at is not None:
        ticket.first_response_due_at += max(timedelta(0), now - ticket.sla_paused_at)
        ticket.sla_paused_at = None
