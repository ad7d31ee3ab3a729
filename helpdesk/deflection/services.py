"""Knowledge gaps: recent tickets whose best knowledge-base match scored low, candidates for new articles.

The best score is kept on each ticket when its articles are looked for (helpdesk.deflection.suggestions), so
the report is one query on ``ix_ticket_best_score_created_at``, never a search per ticket.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.db import utcnow
from helpdesk.exceptions import InvalidInputError
from helpdesk.tickets.models import Queue, Source, Status, Ticket

DAYS_MAX = 366
#: The report lists at most this many tickets (the lowest scores first within each queue).
ROWS_MAX = 1000
UNSORTED = "unsorted"


@dataclass(frozen=True)
class Gap:
    ticket_id: int
    subject: str
    best_score: float
    created_at: datetime
    source: Source
    status: Status
    queue_slug: str | None
    queue_name: str | None


@dataclass(frozen=True)
class GapGroup:
    """The gaps of one queue (``slug`` None: tickets not sorted into a queue)."""

    slug: str | None
    name: str
    gaps: list[Gap]


class KnowledgeService:
    def __init__(self, session: Session, clock: Callable[[], datetime] = utcnow) -> None:
        self.session = session
        self.clock = clock

    def gaps(self, *, days: int, floor: float, queue: str | None = None) -> list[GapGroup]:
        """Tickets of the last ``days`` days whose best match scored below ``floor``, grouped by queue.

        ``queue`` is a queue slug, ``"unsorted"`` for tickets without one, or None for all. Merged duplicates
        are left out (their survivor is listed). Tickets whose articles were never looked for (filed through
        the API, or before this existed) have no score and are not listed.

        Raises
        ------
        InvalidInputError
            ``days`` out of 1 to 366, or an unknown queue.
        """
        if not 1 <= days <= DAYS_MAX:
            raise InvalidInputError.for_field("days", f"days must be between 1 and {DAYS_MAX}.")
        query = (
            select(Ticket.id, Ticket.subject, Ticket.best_score, Ticket.created_at, Ticket.source, Ticket.status,
                   Queue.slug, Queue.name, Queue.position)
            .outerjoin(Queue, Queue.id == Ticket.queue_id)
            .where(Ticket.best_score < floor, Ticket.created_at >= self.clock() - timedelta(days=days),
                   Ticket.merged_into_id.is_(None))
        )
        if queue == UNSORTED:
            query = query.where(Ticket.queue_id.is_(None))
        elif queue:
            queue_id = self.session.scalar(select(Queue.id).where(Queue.slug == queue))
            if queue_id is None:
                raise InvalidInputError.for_field("queue", f"Unknown queue {queue!r}.")
            query = query.where(Ticket.queue_id == queue_id)
        rows = self.session.execute(
            query.order_by(Queue.position, Queue.slug, Ticket.best_score, Ticket.id.desc()).limit(ROWS_MAX)
        ).all()
        groups: dict[str | None, GapGroup] = {}
        for row in rows:
            group = groups.get(row.slug)
            if group is None:
                group = groups[row.slug] = GapGroup(row.slug, row.name or "Unsorted", [])
            group.gaps.append(Gap(row.id, row.subject, float(row.best_score), row.created_at, row.source,
                                  row.status, row.slug, row.name))
        # Unsorted last, whatever the database does with NULLs in ORDER BY.
        return sorted(groups.values(), key=lambda g: g.slug is None)
