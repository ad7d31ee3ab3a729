"""The queue summaries of the board and of ``GET /api/v1/queues`` in one statement, from the reference data.

The same numbers as :meth:`helpdesk.tickets.services.TicketService.queue_summaries` (open tickets, the oldest,
the oldest without an owner, members' loads and room, first-response clocks due soon and breached), read in one
round trip instead of four: the queues and their members come with the page's reference data
(:mod:`helpdesk.tickets.reference`), and the two counts are one ``UNION ALL`` of two grouped reads.

Why a ``UNION ALL`` and not one GROUP BY with conditional counts: the open tickets per (queue, assignee) are
an index-only scan of ``ix_ticket_open_assignee_queue_created``, which holds neither the due time nor the first
response; counting the clocks in the same pass would visit the heap row of every open ticket (a tenth of the
table). Each branch of the union keeps its own partial index (the clocks: ``ix_ticket_clock_running``, and only
the tickets near or past their due time); PostgreSQL runs them as one Append. No Flask here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, and_, case, cast, func, literal, literal_column, null, select, union_all
from sqlalchemy.orm import Session

from helpdesk.tickets import sla
from helpdesk.tickets.assignment import MemberLoad
from helpdesk.tickets.models import Queue, Ticket, open_condition
from helpdesk.tickets.reference import ReferenceData


@dataclass(frozen=True)
class QueueSummary:
    queue: Queue | None
    open_count: int
    oldest_open_at: datetime | None
    #: The queue's members and their loads (helpdesk.tickets.assignment); empty for the unsorted tickets.
    members: list[MemberLoad] = field(default_factory=list)
    #: Open tickets the members can still take under the queue's limit; None for the unsorted tickets.
    capacity_left: int | None = None
    #: Open tickets whose first response is due soon, or overdue (helpdesk.tickets.sla).
    due_soon: int = 0
    breached: int = 0
    #: Filing time of the oldest open ticket that has no owner yet.
    oldest_waiting_at: datetime | None = None

    @property
    def no_room(self) -> bool:
        """Back-pressure: nobody in the queue can take another ticket."""
        return self.capacity_left == 0


_OPEN, _CLOCKS = 0, 1


def _counts_statement(reference: ReferenceData, now: datetime, policy: sla.SlaPolicy) -> Any:
    """``(kind, queue, assignee, n, m, oldest)`` rows: kind 0 is open tickets per queue and assignee (``n`` of
    them, the ``oldest`` filed), kind 1 the running clocks per queue (``n`` due soon, ``m`` breached)."""
    no_int, no_time = cast(null(), Integer), cast(null(), Ticket.created_at.type)
    open_tickets = (
        select(
            literal_column(str(_OPEN)).label("kind"),
            Ticket.queue_id,
            Ticket.assignee_id,
            func.count().label("n"),
            no_int.label("m"),
            func.min(Ticket.created_at).label("oldest"),
        )
        .where(open_condition())
        .group_by(Ticket.queue_id, Ticket.assignee_id)
    )
    targets = {q.id: q.first_response_hours for q in reference.queues}
    if not targets:
        return open_tickets
    # The rule of sla.clock_state for a running clock: breached once due, due soon within the queue's warning window.
    due = Ticket.first_response_due_at
    widest = max(policy.window(hours) for hours in targets.values())
    soon_edge = case(
        *[
            (Ticket.queue_id == queue_id, literal(now + policy.window(hours), due.type))
            for queue_id, hours in targets.items()
        ]
    )
    now_value = literal(now, due.type)
    clocks = (
        select(
            literal_column(str(_CLOCKS)),
            Ticket.queue_id,
            no_int,
            func.count(case((and_(due > now_value, due <= soon_edge), 1))),
            func.count(case((due <= now_value, 1))),
            no_time,
        )
        .where(
            open_condition(),
            Ticket.first_response_at.is_(None),
            Ticket.sla_paused_at.is_(None),
            due.is_not(None),
            Ticket.queue_id.in_(targets),
            due <= now + widest,
        )
        .group_by(Ticket.queue_id)
    )
    return union_all(open_tickets, clocks)


def queue_summaries(
    session: Session, reference: ReferenceData, now: datetime, policy: sla.SlaPolicy | None = None
) -> list[QueueSummary]:
    """Every queue of ``reference`` (read with its ``queues`` and ``members``) with its open tickets, members'
    room and clocks, the unsorted tickets first: one statement."""
    counts: dict[int | None, tuple[int, datetime | None]] = {}
    waiting: dict[int | None, datetime | None] = {}
    loads: dict[tuple[int, int], int] = {}
    clocks: dict[int, tuple[int, int]] = {}
    for kind, queue_id, assignee_id, n, m, oldest in session.execute(
        _counts_statement(reference, now, policy or sla.SlaPolicy())
    ):
        if kind == _CLOCKS:
            clocks[queue_id] = (n, m)
            continue
        total, first = counts.get(queue_id, (0, None))
        counts[queue_id] = (total + n, oldest if first is None or oldest < first else first)
        if assignee_id is None:
            waiting[queue_id] = oldest
        elif queue_id is not None:
            loads[(queue_id, assignee_id)] = n
    summaries = [QueueSummary(None, *counts.get(None, (0, None)), oldest_waiting_at=waiting.get(None))]
    for queue in reference.queues:
        members = [
            MemberLoad(
                m.person,
                loads.get((queue.id, m.person.id), 0),  # type: ignore[arg-type]
                queue.wip_limit_per_assignee,
                m.last_assigned_at,
            )
            for m in reference.members.get(queue.id, [])
        ]
        due_soon, breached = clocks.get(queue.id, (0, 0))
        summaries.append(
            QueueSummary(
                queue,
                *counts.get(queue.id, (0, None)),
                members=members,
                capacity_left=sum(m.room for m in members),
                due_soon=due_soon,
                breached=breached,
                oldest_waiting_at=waiting.get(queue.id),
            )
        )
    return summaries
