"""Ticket lists: filters, full-text search, sort orders, keyset pages both ways and capped counts.

One reading of a list serves the staff console (``/staff/``, ``/staff/tickets``) and ``GET /api/v1/tickets``:
:meth:`ListQuery.parse` turns query parameters into a checked query (an unknown value is an
:class:`~helpdesk.exceptions.InvalidInputError` naming the parameter), and :class:`TicketListing` reads a page of
it in two statements whatever the page size: the page itself (tickets with their queue, requester and
assignee and those people's identities joined, so their logins need no read of their own, and each ticket's
tags as one aggregated column), and one capped count. The queues, needed only to resolve a queue filter or
an SLA state, are read once per listing, or handed over with the page's reference data
(:meth:`TicketListing.use_queues`).

Pages are *keyset* pages: a cursor holds the sort order, the direction and the sort key of the row at the edge
of the page it came from, so page 1,000 costs what page 1 costs and a ticket filed meanwhile never shifts a
page. Cursors are opaque to clients (base64 of a short text) and are validated, not trusted: a cursor that is
not one the desk gave out, or one from another sort order, is refused. Each sort has its index:

========== ====================================== ===========================================
sort       order                                  index
========== ====================================== ===========================================
newest     ticket number, newest first (default)  the primary key (and queue, status, id)
oldest     ticket number, oldest first            the same, read backwards
updated    last change, latest first              ``ix_ticket_updated_at_id``
due        first-response due time, soonest first ``ix_ticket_open_due_id`` (partial: open
           (tickets without a clock last)         tickets), ``ix_ticket_open_queue_due_id``
========== ====================================== ===========================================

Counts are capped (:data:`COUNT_CAP`): counting stops after that many matches and the list says "1,000+", so a
count costs at most that many index entries however many tickets there are.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, literal, or_, select, tuple_
from sqlalchemy.orm import Session, joinedload

from helpdesk.accounts.models import Person
from helpdesk.accounts.services import AccountService
from helpdesk.db import ID_MAX, utcnow
from helpdesk.exceptions import InvalidInputError
from helpdesk.json_rows import JsonRows, json_rows
from helpdesk.tickets import fulltext, tags
from helpdesk.tickets.models import Priority, Queue, Source, Status, Ticket, open_condition
from helpdesk.tickets.sla import SlaPolicy

SORTS = ("newest", "oldest", "updated", "due")
SLA_STATES = ("on_time", "due_soon", "breached", "paused", "met")
#: The list parameters, in the order a query string is written.
PARAMETERS = ("q", "queue", "status", "assignee", "priority", "source", "sla", "tag", "sort")
#: Counting stops here: beyond it the count reads "1,000+".
COUNT_CAP = 1000
LIMIT_DEFAULT = 25
LIMIT_MAX = 100
#: The longest cursor the desk reads; the ones it gives out are under 50 characters.
CURSOR_MAX = 64
OPEN_STATUSES = tuple(s for s in Status if s.is_open)
#: Status words besides the statuses themselves: ``open`` (not resolved or closed) and ``any``.
STATUS_WORDS = ("open", "any")
_SORT_CODES = {"newest": "n", "oldest": "o", "updated": "u", "due": "d"}
_CODE_SORTS = {code: sort for sort, code in _SORT_CODES.items()}
_CURSOR = re.compile(r"^([noud])([<>])(\d{1,18}|n)?:(\d{1,10})$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_SLUG = re.compile(r"^[a-z][a-z0-9-]{0,63}$")


def _invalid(name: str, message: str) -> InvalidInputError:
    return InvalidInputError.for_field(name, message)


def _enum_values(raw: str, enum: type[Any], name: str) -> tuple[Any, ...]:
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    try:
        return tuple(dict.fromkeys(enum(p) for p in parts))
    except ValueError as exc:
        allowed = ", ".join(e.value for e in enum)
        raise _invalid(name, f"Unknown {name} in {raw!r}; use one of: {allowed}.") from exc


@dataclass(frozen=True)
class ListQuery:
    """What a list shows, as checked text (so it goes back into a query string unchanged).

    ``status`` is ``open``, ``any``, or statuses separated by commas; ``assignee`` is ``me``, ``none`` or a
    staff login; ``queue`` a slug or ``unsorted``; ``priority`` one priority or several separated by commas.
    An empty value is no filter.
    """

    q: str = ""
    queue: str = ""
    status: str = ""
    assignee: str = ""
    priority: str = ""
    source: str = ""
    sla: str = ""
    tag: str = ""
    sort: str = "newest"

    @classmethod
    def parse(cls, args: Mapping[str, str], *, default_status: str = "") -> ListQuery:
        """Read and check the list parameters of ``args`` (others are left alone).

        Raises
        ------
        InvalidInputError
            A value the parameter does not take; ``details`` names the parameter.
        """
        def get(name: str) -> str:
            value = args.get(name)
            return value.strip() if isinstance(value, str) else ""

        q = " ".join(get("q").split())
        if len(q) > fulltext.QUERY_MAX:
            raise _invalid("q", f"A search is at most {fulltext.QUERY_MAX} characters.")
        queue = get("queue")
        if queue and not _SLUG.match(queue):
            raise _invalid("queue", f"Unknown queue {queue!r}.")
        status = get("status") if "status" in args else default_status
        status = status.lower()
        if status and status not in STATUS_WORDS:
            status = ",".join(s.value for s in _enum_values(status, Status, "status"))
        assignee = get("assignee")
        if assignee and assignee not in ("me", "none") and not re.match(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}$", assignee):
            raise _invalid("assignee", f"assignee is 'me', 'none' or a staff login, not {assignee!r}.")
        priority = ",".join(p.value for p in _enum_values(get("priority"), Priority, "priority"))
        source = get("source")
        if source:
            values = _enum_values(source, Source, "source")
            if len(values) > 1:
                raise _invalid("source", "Filter by one source at a time.")
            source = values[0].value
        sla = get("sla")
        if sla and sla not in SLA_STATES:
            raise _invalid("sla", f"Unknown sla {sla!r}; use one of: {', '.join(SLA_STATES)}.")
        tag = get("tag")
        if tag:
            tag = tags.normalise(tag, field="tag")
        sort = get("sort") or "newest"
        if sort not in SORTS:
            raise _invalid("sort", f"Unknown sort {sort!r}; use one of: {', '.join(SORTS)}.")
        return cls(q=q, queue=queue, status=status, assignee=assignee, priority=priority, source=source, sla=sla,
                   tag=tag, sort=sort)

    def to_args(self) -> dict[str, str]:
        """The parameters that differ from no filter (and the sort when not the default), for a URL."""
        values = {name: getattr(self, name) for name in PARAMETERS}
        return {k: v for k, v in values.items() if v and not (k == "sort" and v == "newest")}

    def query_string(self) -> str:
        from urllib.parse import urlencode

        return urlencode(self.to_args())

    def with_(self, **changes: str) -> ListQuery:
        return replace(self, **changes)

    @property
    def statuses(self) -> tuple[Status, ...]:
        if self.status == "open":
            return OPEN_STATUSES
        if self.status in ("", "any"):
            return ()
        return tuple(Status(s) for s in self.status.split(","))

    @property
    def priorities(self) -> tuple[Priority, ...]:
        return tuple(Priority(p) for p in self.priority.split(",")) if self.priority else ()


@dataclass(frozen=True)
class Count:
    """A capped count: ``value`` matches, or at least ``value`` when ``capped``."""

    value: int
    capped: bool = False

    def __str__(self) -> str:
        return f"{self.value:,}+" if self.capped else f"{self.value:,}"


@dataclass(frozen=True)
class ListPage:
    items: list[Ticket]
    next_cursor: str | None
    prev_cursor: str | None
    count: Count | None
    #: The tags of the page's tickets, by name, by ticket id (read with the page, as one aggregated column).
    tags: dict[int, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Cursor:
    sort: str
    forward: bool
    key: datetime | None
    ticket_id: int


def _micros(value: datetime) -> int:
    return (value - _EPOCH) // _MICRO


def encode_cursor(sort: str, forward: bool, ticket: Ticket) -> str:
    """The cursor of the page after (``forward``) or before ``ticket`` in the ``sort`` order."""
    key = ""
    if sort == "updated":
        key = str(_micros(ticket.updated_at))
    elif sort == "due":
        key = str(_micros(ticket.first_response_due_at)) if ticket.first_response_due_at else "n"
    raw = f"{_SORT_CODES[sort]}{'>' if forward else '<'}{key}:{ticket.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> Cursor:
    """Read a cursor the desk gave out for ``sort``; anything else is refused (422, naming ``cursor``)."""
    refused = _invalid("cursor", "The cursor is not one this list gave out; start again without it.")
    if not cursor or len(cursor) > CURSOR_MAX:
        raise refused
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise refused from exc
    if raw.startswith("t:") and raw[2:].isdigit() and len(raw) <= 14:
        raw = f"n>:{raw[2:]}"  # the cursors of the first API release: newest first, the page after
    match = _CURSOR.match(raw)
    if match is None:
        raise refused
    code, direction, key, ticket_id = match.groups()
    if not 0 < int(ticket_id) <= ID_MAX:
        raise refused
    found = _CODE_SORTS[code]
    if found != sort:
        raise _invalid("cursor", f"This cursor belongs to the {found!r} order, not {sort!r}; start again "
                                 "without it.")
    value: datetime | None = None
    if found in ("newest", "oldest"):
        if key:
            raise refused
    elif key is None or (key == "n" and found != "due"):
        raise refused
    elif key != "n":
        micros = int(key)
        if micros >= 253_402_300_800_000_000:  # past the year 9999
            raise refused
        value = _EPOCH + micros * _MICRO
    return Cursor(found, direction == ">", value, int(ticket_id))


class TicketListing:
    """Reads lists of tickets for a viewer. Never imports Flask; never writes."""

    def __init__(self, session: Session, *, clock: Callable[[], datetime] = utcnow,
                 policy: SlaPolicy | None = None, count_cap: int = COUNT_CAP) -> None:
        self.session = session
        self.clock = clock
        self.policy = policy or SlaPolicy()
        self.count_cap = count_cap
        self._queues: list[Queue] | None = None
        #: Assignee logins already looked up: a list's count reads the same conditions as its page.
        self._assignees: dict[str, Person | None] = {}

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def use_queues(self, queues: list[Queue]) -> None:
        """Take the queues already read for this request (:func:`helpdesk.tickets.reference.read_reference`)
        instead of reading them again."""
        self._queues = list(queues)

    def queues(self) -> list[Queue]:
        """The queues, read once per listing (slugs to ids, and each queue's warning window)."""
        if self._queues is None:
            self._queues = list(self.session.scalars(select(Queue).order_by(Queue.position, Queue.id)))
        return self._queues

    # -- the conditions -------------------------------------------------------------------------------------

    def conditions(self, viewer: Person, query: ListQuery) -> list[ColumnElement[bool]]:
        """The WHERE clause of ``query`` for ``viewer`` (requesters see only their own tickets).

        Raises
        ------
        InvalidInputError
            An unknown queue, or an assignee login that is no staff member.
        """
        where: list[ColumnElement[bool]] = []
        if not viewer.is_staff:
            where.append(Ticket.requester_id == viewer.id)
        if query.queue == "unsorted":
            where.append(Ticket.queue_id.is_(None))
        elif query.queue:
            queue = next((q for q in self.queues() if q.slug == query.queue), None)
            if queue is None:
                known = ", ".join(q.slug for q in self.queues()) or "none"
                raise _invalid("queue", f"Unknown queue {query.queue!r}. Known queues: {known}, or unsorted.")
            where.append(Ticket.queue_id == queue.id)
        if statuses := query.statuses:
            if set(statuses) == set(OPEN_STATUSES):
                where.append(open_condition())
            else:
                where.append(Ticket.status.in_(statuses) if len(statuses) > 1 else Ticket.status == statuses[0])
        if query.assignee == "me":
            where.append(Ticket.assignee_id == viewer.id)
        elif query.assignee == "none":
            where.append(Ticket.assignee_id.is_(None))
        elif query.assignee:
            if query.assignee not in self._assignees:
                self._assignees[query.assignee] = AccountService(self.session).find_by_login(query.assignee)
            person = self._assignees[query.assignee]
            if person is None or not person.is_staff:
                raise _invalid("assignee", f"{query.assignee!r} is not a staff member; use me, none or a staff "
                                           "login.")
            where.append(Ticket.assignee_id == person.id)
        if priorities := query.priorities:
            where.append(Ticket.priority.in_(priorities))
        if query.source:
            where.append(Ticket.source == Source(query.source))
        if query.sla:
            where.append(self._sla_condition(query.sla))
        if query.tag:
            where.append(tags.tagged(query.tag))
        if query.q:
            where.append(fulltext.matches(self.dialect, query.q, public_only=not viewer.is_staff))
        return where

    def _sla_condition(self, state: str) -> ColumnElement[bool]:
        """Tickets whose first-response clock is in ``state`` now (the rule of helpdesk.tickets.sla.clock_state)."""
        now, due = self.clock(), Ticket.first_response_due_at
        has_clock = and_(due.is_not(None), Ticket.queue_id.is_not(None))
        if state == "met":
            return and_(has_clock, Ticket.first_response_at.is_not(None))
        waiting = and_(has_clock, Ticket.first_response_at.is_(None), open_condition())
        if state == "paused":
            return and_(waiting, Ticket.sla_paused_at.is_not(None))
        running = and_(waiting, Ticket.sla_paused_at.is_(None))
        if state == "breached":
            return and_(running, due <= now)
        windows = [(q.id, now + self.policy.window(q.first_response_hours)) for q in self.queues()]
        if state == "due_soon":
            near = [and_(Ticket.queue_id == queue_id, due <= edge) for queue_id, edge in windows]
            return and_(running, due > now, or_(*near)) if near else false()
        far = [and_(Ticket.queue_id == queue_id, due > edge) for queue_id, edge in windows]
        return and_(running, or_(*far)) if far else false()

    # -- pages ----------------------------------------------------------------------------------------------

    def page(self, viewer: Person, query: ListQuery, *, cursor: str | None = None, limit: int = LIMIT_DEFAULT,
             count: bool = True) -> ListPage:
        """One page of ``query``: after or before ``cursor`` (the start without one), with its count and tags.

        Raises
        ------
        InvalidInputError
            A bad limit or cursor, or a filter naming nothing (see :meth:`conditions`).
        """
        if not 1 <= limit <= LIMIT_MAX:
            raise _invalid("limit", f"limit must be between 1 and {LIMIT_MAX}.")
        position = decode_cursor(cursor, query.sort) if cursor else None
        where = self.conditions(viewer, query)
        forward = position is None or position.forward
        # The tags of each ticket as one aggregated column (a correlated subquery on ticket_tag's unique
        # (ticket_id, tag_id) index, which PostgreSQL runs for the page's rows only, after any sort), and the
        # requester's and assignee's identities joined: a list shows their logins (Person.handle), which would
        # otherwise be two more reads. With a collection joined, SQLAlchemy limits the tickets in a subquery
        # first, so the ORDER BY ... LIMIT still reads its index and only the page's rows are joined.
        tag_names = _tag_names()
        statement = select(Ticket, tag_names.column.label("tag_names")).where(*where).options(
            joinedload(Ticket.requester).joinedload(Person.identities),
            joinedload(Ticket.assignee).joinedload(Person.identities),
        )
        if position is not None:
            statement = statement.where(_seek(query.sort, position))
        statement = statement.order_by(*_order(query.sort, forward)).limit(limit + 1)
        # Unique by ticket (the joined identities repeat a row per identity); the tags' JSON list is no key.
        found = list(self.session.execute(statement).unique(lambda row: row[0]))
        more = len(found) > limit
        found = found[:limit]
        rows = [ticket for ticket, _ in found]
        page_tags = {ticket.id: [t.name for t in tag_names.read(value)] for ticket, value in found if value}
        if not forward:
            rows.reverse()
        next_cursor = prev_cursor = None
        if rows:
            if (more and forward) or (position is not None and not forward):
                next_cursor = encode_cursor(query.sort, True, rows[-1])
            if (more and not forward) or (position is not None and forward):
                prev_cursor = encode_cursor(query.sort, False, rows[0])
        total = self.count(where) if count else None
        return ListPage(rows, next_cursor, prev_cursor, total, page_tags)

    def count(self, where: Sequence[ColumnElement[bool]]) -> Count:
        """How many tickets match, counted up to the cap (one statement)."""
        (value,) = self.session.execute(select(_capped(where, self.count_cap))).one()
        return Count(min(value, self.count_cap), value > self.count_cap)

    def counts(self, viewer: Person, queries: Mapping[str, ListQuery]) -> dict[str, Count]:
        """Capped counts of several lists (the built-in and saved views) in one statement."""
        if not queries:
            return {}
        names = list(queries)
        columns = [_capped(self.conditions(viewer, queries[name]), self.count_cap).label(f"c{i}")
                   for i, name in enumerate(names)]
        values = self.session.execute(select(*columns)).one()
        return {name: Count(min(v, self.count_cap), v > self.count_cap) for name, v in zip(names, values, strict=True)}



@functools.cache
def _tag_names() -> JsonRows:
    """Each listed ticket's tag names, by name, as a JSON array correlated with the ticket: built once per process,
    since building the aggregate costs more than running it for a page."""
    return json_rows(select(tags.Tag.name).join(tags.TicketTag, tags.TicketTag.tag_id == tags.Tag.id)
                     .where(tags.TicketTag.ticket_id == Ticket.id).correlate(Ticket), tags.Tag.name)


def _capped(where: Sequence[ColumnElement[bool]], cap: int) -> Any:
    """``(SELECT count(*) FROM (SELECT 1 FROM ticket WHERE … LIMIT cap + 1))`` as a scalar subquery."""
    inner = select(Ticket.id).where(*where).limit(cap + 1).subquery()
    return select(func.count()).select_from(inner).scalar_subquery()


def _order(sort: str, forward: bool) -> list[Any]:
    """ORDER BY of ``sort`` read forwards (the order shown) or backwards (for the page before a cursor)."""
    if sort in ("newest", "oldest"):
        descending = (sort == "newest") == forward
        return [Ticket.id.desc() if descending else Ticket.id.asc()]
    if sort == "updated":
        return ([Ticket.updated_at.desc(), Ticket.id.desc()] if forward
                else [Ticket.updated_at.asc(), Ticket.id.asc()])
    due = Ticket.first_response_due_at
    return ([due.asc().nulls_last(), Ticket.id.asc()] if forward
            else [due.desc().nulls_first(), Ticket.id.desc()])


def _seek(sort: str, at: Cursor) -> ColumnElement[bool]:
    """Rows after (``at.forward``) or before the cursor's row in ``sort`` order."""
    if sort in ("newest", "oldest"):
        after_is_smaller = (sort == "newest") == at.forward
        return Ticket.id < at.ticket_id if after_is_smaller else Ticket.id > at.ticket_id
    if sort == "updated":
        key = tuple_(Ticket.updated_at, Ticket.id)
        edge = tuple_(literal(at.key, Ticket.__table__.c.updated_at.type), literal(at.ticket_id))
        return key < edge if at.forward else key > edge
    due = Ticket.first_response_due_at
    if at.key is None:  # the cursor's row has no due time: it sits among the last rows
        if at.forward:
            return and_(due.is_(None), Ticket.id > at.ticket_id)
        return or_(due.is_not(None), and_(due.is_(None), Ticket.id < at.ticket_id))
    key = tuple_(due, Ticket.id)
    edge = tuple_(literal(at.key, Ticket.__table__.c.first_response_due_at.type), literal(at.ticket_id))
    if at.forward:
        return or_(key > edge, due.is_(None))
    return and_(due.is_not(None), key < edge)
