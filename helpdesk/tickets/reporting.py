"""The numbers behind the staff dashboard: aggregates over a range of days, one bounded SQL statement per chart.

Each report groups in the database (by day, by queue) and returns small rows: at most one per day and queue
of the range (at most :data:`DAYS_MAX` days), never one per ticket. Each statement filters on an indexed
timestamp (``ticket.created_at``, ``ticket.resolved_at``, ``ticket.first_response_due_at``,
``audit_event.created_at``), so its cost follows the range, not the table. Days are UTC days.

No Flask here: the dashboard (:mod:`helpdesk.staff.dashboard`) draws these numbers and writes them as CSV.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, literal_column, or_, select, union_all
from sqlalchemy.orm import Session

from helpdesk.audit import AuditEvent
from helpdesk.db import utcnow
from helpdesk.exceptions import InvalidInputError
from helpdesk.programs.models import Application, ApplicationStatus, Program
from helpdesk.tickets.models import Queue, Ticket

DEFAULT_DAYS = 30
DAYS_MAX = 366
#: The row label of tickets without a queue.
UNSORTED = "unsorted"


@dataclass(frozen=True)
class Period:
    """Whole UTC days from ``first`` to ``last``, both included."""

    first: date
    last: date

    @classmethod
    def parse(cls, start: str | None, end: str | None, today: date) -> Period:
        """From ``from``/``to`` query values (``YYYY-MM-DD``); by default the last 30 days up to today.

        Raises
        ------
        InvalidInputError
            A value that is no date, ``from`` after ``to``, or more than :data:`DAYS_MAX` days.
        """
        def day(value: str | None, name: str, default: date) -> date:
            if not value:
                return default
            try:
                return date.fromisoformat(value)
            except ValueError as exc:
                raise InvalidInputError.for_field(name, f"{name} must be a date written YYYY-MM-DD.") from exc

        last = day(end, "to", today)
        first = day(start, "from", last - timedelta(days=DEFAULT_DAYS - 1))
        if first > last:
            raise InvalidInputError.for_field("from", "from must not be after to.")
        if (last - first).days + 1 > DAYS_MAX:
            raise InvalidInputError.for_field("from", f"Choose at most {DAYS_MAX} days.")
        return cls(first, last)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time.min, UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the period."""
        return datetime.combine(self.last + timedelta(days=1), time.min, UTC)

    def days(self) -> list[str]:
        return [(self.first + timedelta(days=n)).isoformat() for n in range((self.last - self.first).days + 1)]


@dataclass(frozen=True)
class QueueInfo:
    slug: str
    name: str
    first_response_hours: int | None


@dataclass
class Table:
    """One chart's numbers: column names and rows, as the CSV and the table beside the chart show them."""

    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _day(session: Session, column: Any) -> ColumnElement[str]:
    """``YYYY-MM-DD`` of a timestamp, in UTC, on SQLite and PostgreSQL."""
    # Constants written into the SQL, not bound: PostgreSQL must see the GROUP BY expression as the selected one.
    if _dialect(session) == "postgresql":
        return func.to_char(func.timezone(literal_column("'UTC'"), column), literal_column("'YYYY-MM-DD'"))
    return func.strftime(literal_column("'%Y-%m-%d'"), column)


def _seconds(session: Session, later: Any, earlier: Any) -> ColumnElement[float]:
    if _dialect(session) == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


class ReportingService:
    """Read-only aggregates for the dashboard; each method is one statement."""

    def __init__(self, session: Session, clock: Callable[[], datetime] = utcnow) -> None:
        self.session = session
        self.clock = clock

    def queues(self) -> dict[int, QueueInfo]:
        rows = self.session.execute(select(Queue.id, Queue.slug, Queue.name, Queue.first_response_hours)
                                    .order_by(Queue.position, Queue.id))
        return {qid: QueueInfo(slug, name, hours) for qid, slug, name, hours in rows}

    def _slug(self, queues: Mapping[int, QueueInfo], queue_id: int | None) -> str:
        info = queues.get(queue_id) if queue_id is not None else None
        return info.slug if info else UNSORTED

    # -- tickets in and out per day per queue -----------------------------------------------------

    def flow(self, period: Period) -> Table:
        """Tickets filed (in) and resolved (out) each day, per queue: ``day, queue, in, out``."""
        t = Ticket.__table__.c
        filed = (select(literal("in").label("kind"), _day(self.session, t.created_at).label("day"),
                        t.queue_id, func.count().label("n"))
                 .where(t.created_at >= period.start, t.created_at < period.end)
                 .group_by(_day(self.session, t.created_at), t.queue_id))
        resolved = (select(literal("out").label("kind"), _day(self.session, t.resolved_at).label("day"),
                           t.queue_id, func.count().label("n"))
                    .where(t.resolved_at >= period.start, t.resolved_at < period.end)
                    .group_by(_day(self.session, t.resolved_at), t.queue_id))
        queues = self.queues()
        cells: dict[tuple[str, str], list[int]] = {}
        for kind, day, queue_id, n in self.session.execute(union_all(filed, resolved)):
            pair = cells.setdefault((day, self._slug(queues, queue_id)), [0, 0])
            pair[0 if kind == "in" else 1] += n
        order = {info.slug: i for i, info in enumerate(queues.values())}
        table = Table(["day", "queue", "in", "out"])
        for (day, slug), (n_in, n_out) in sorted(cells.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], -1))):
            table.rows.append([day, slug, n_in, n_out])
        return table

    # -- time to first response against each queue's target ---------------------------------------

    def first_response(self, period: Period) -> Table:
        """Per queue, of the tickets filed in the period: how many were answered, the mean hours to the first
        public staff answer, the queue's target, and how many were answered by their due time."""
        t = Ticket.__table__.c
        answered = t.first_response_at.isnot(None)
        rows = self.session.execute(
            select(t.queue_id, func.count(), func.count(t.first_response_at),
                   func.avg(case((answered, _seconds(self.session, t.first_response_at, t.created_at)))),
                   func.sum(case((and_(answered, t.first_response_at <= t.first_response_due_at), 1), else_=0)))
            .where(t.created_at >= period.start, t.created_at < period.end, t.queue_id.isnot(None))
            .group_by(t.queue_id))
        queues = self.queues()
        found = {queue_id: row for queue_id, *row in rows}
        table = Table(["queue", "target_hours", "filed", "answered", "mean_hours", "within_target",
                       "within_target_percent"])
        for queue_id, info in queues.items():
            filed, n_answered, mean_seconds, within = found.get(queue_id, (0, 0, None, 0))
            within = int(within or 0)
            table.rows.append([info.slug, info.first_response_hours, filed, n_answered,
                               round(float(mean_seconds) / 3600, 2) if mean_seconds is not None else None,
                               within, round(100 * within / n_answered, 1) if n_answered else None])
        return table

    # -- SLA breaches per day ---------------------------------------------------------------------

    def breaches(self, period: Period) -> Table:
        """First responses that fell due in the period and came late or not at all (so far), per day and queue.

        A ticket waiting on its requester with no answer yet is not counted: its clock is paused, and its due
        time moves when it runs again (helpdesk.tickets.sla).
        """
        t = Ticket.__table__.c
        now = self.clock()
        late = or_(t.first_response_at > t.first_response_due_at,
                   and_(t.first_response_at.is_(None), t.first_response_due_at < now, t.sla_paused_at.is_(None)))
        rows = self.session.execute(
            select(_day(self.session, t.first_response_due_at), t.queue_id, func.count(),
                   func.sum(case((t.first_response_at.is_(None), 1), else_=0)))
            .where(t.first_response_due_at >= period.start, t.first_response_due_at < period.end, late)
            .group_by(_day(self.session, t.first_response_due_at), t.queue_id))
        queues = self.queues()
        table = Table(["day", "queue", "breached", "still_unanswered"])
        for day, queue_id, n, unanswered in sorted(rows, key=lambda r: (r[0], r[1] or 0)):
            table.rows.append([day, self._slug(queues, queue_id), n, int(unanswered or 0)])
        return table

    # -- share answered by articles (self-served) -------------------------------------------------

    def self_served(self, period: Period) -> Table:
        """Tickets filed each day and how many of them an article answered (``self_served_at`` set)."""
        t = Ticket.__table__.c
        rows = self.session.execute(
            select(_day(self.session, t.created_at), func.count(), func.count(t.self_served_at))
            .where(t.created_at >= period.start, t.created_at < period.end)
            .group_by(_day(self.session, t.created_at)))
        found = {day: (filed, served) for day, filed, served in rows}
        table = Table(["day", "filed", "self_served", "self_served_percent"])
        for day in period.days():
            filed, served = found.get(day, (0, 0))
            table.rows.append([day, filed, served, round(100 * served / filed, 1) if filed else None])
        return table

    # -- how often triage was corrected -----------------------------------------------------------

    def triage_corrections(self, period: Period) -> Table:
        """Per day: tickets filed, and triage decisions a person corrected (audit ``triage.corrected``)."""
        t, a = Ticket.__table__.c, AuditEvent.__table__.c
        filed = (select(literal("filed").label("kind"), _day(self.session, t.created_at).label("day"),
                        func.count().label("n"))
                 .where(t.created_at >= period.start, t.created_at < period.end)
                 .group_by(_day(self.session, t.created_at)))
        corrected = (select(literal("corrected").label("kind"), _day(self.session, a.created_at).label("day"),
                            func.count().label("n"))
                     .where(a.created_at >= period.start, a.created_at < period.end, a.action == "triage.corrected")
                     .group_by(_day(self.session, a.created_at)))
        found: dict[tuple[str, str], int] = {}
        for kind, day, n in self.session.execute(union_all(filed, corrected)):
            found[(kind, day)] = n
        table = Table(["day", "filed", "corrected", "corrected_percent"])
        for day in period.days():
            n_filed, n_corrected = found.get(("filed", day), 0), found.get(("corrected", day), 0)
            table.rows.append([day, n_filed, n_corrected,
                               round(100 * n_corrected / n_filed, 1) if n_filed else None])
        return table

    # -- seats in use -----------------------------------------------------------------------------

    def seats(self) -> Table:
        """Each programme now: its cap, seats in use (active, and pending while data rights are checked), and
        people waitlisted."""
        p, a = Program.__table__.c, Application.__table__.c
        rows = self.session.execute(
            select(p.slug, p.cap,
                   func.sum(case((a.status == ApplicationStatus.ACTIVE, 1), else_=0)),
                   func.sum(case((a.status == ApplicationStatus.PENDING, 1), else_=0)),
                   func.sum(case((a.status == ApplicationStatus.WAITLISTED, 1), else_=0)))
            .select_from(Program.__table__.outerjoin(Application.__table__, a.program_id == p.id))
            .group_by(p.id, p.slug, p.cap).order_by(p.slug))
        table = Table(["programme", "cap", "active", "pending", "in_use", "waitlisted"])
        for slug, cap, active, pending, waitlisted in rows:
            active, pending = int(active or 0), int(pending or 0)
            table.rows.append([slug, cap, active, pending, active + pending, int(waitlisted or 0)])
        return table

