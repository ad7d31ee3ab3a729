"""The lean write of a channel's new ticket: one statement on PostgreSQL, one INSERT per table on SQLite.

Every Slack message and forum topic that starts a ticket writes the same rows: the ticket, its
``ticket.filed`` audit event, one ledger row per delivery key (idempotency), its full-text index row
(:mod:`helpdesk.tickets.fulltext`), and its outbox items (the acknowledgement in the thread, the incident
check): the same rows as the general path (``TicketService._insert_ticket``).
:class:`~helpdesk.tickets.services.TicketService` calls :func:`insert_new_ticket` for them when the
requester is already known; the requester is looked up inside the same statement, so a known person costs
no query of its own.

- PostgreSQL: ``WITH p AS (SELECT person …), t AS (INSERT INTO ticket … SELECT … FROM p RETURNING id),
  … INSERT INTO outbox … SELECT … FROM t``: one round trip for the whole delivery.
- SQLite: ``INSERT INTO ticket … SELECT … FROM person JOIN identity … RETURNING id`` (SQLite 3.35 or
  later), then one INSERT each for the audit event, the ledger and the outbox: SQLite runs in the process,
  so there is no round trip to save, only the CPU of building statements, which are built once here.

Nothing is committed here and nothing is checked here: the ledger's and the thread's unique constraints
fail the statement (IntegrityError) for a delivery already stored, exactly as on the general path, and the
service rolls back and reports the earlier delivery. When the person is unknown nothing is written and the
caller takes the general path (which creates the person).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, String, Text, bindparam, cast, func, insert, literal, null, select, union_all
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Identity, Person
from helpdesk.audit import AuditEvent
from helpdesk.tickets import fulltext
from helpdesk.tickets.models import InboundDelivery, OutboxItem, OutboxStatus, Ticket

TICKET = Ticket.__table__
AUDIT = AuditEvent.__table__
LEDGER = InboundDelivery.__table__
OUTBOX = OutboxItem.__table__

#: The ticket's columns a new channel ticket sets (the rest start NULL); requester_id comes from the person.
TICKET_COLUMNS = ("subject", "body", "source", "status", "priority", "queue_id", "thread_key", "external",
                  "triage", "created_at", "updated_at", "first_response_due_at")
AUDIT_COLUMNS = ("action", "actor_id", "ticket_id", "data", "created_at")
LEDGER_COLUMNS = ("source", "external_id", "fingerprint", "received_at", "ticket_id", "message_id")
OUTBOX_COLUMNS = ("dedupe_key", "channel", "kind", "ticket_id", "message_id", "payload", "status", "attempts",
                  "next_attempt_at", "created_at")

class Prepared:
    """A statement compiled once for a dialect, run through ``exec_driver_sql`` with its own type conversions.

    A Core statement pays on every execution for its cache key, its parameters' coercion and SQLAlchemy's
    compiled-statement bookkeeping, which on SQLite costs more than the INSERT itself. Here the SQL string
    and the bind processors (JSON, UTC timestamps) come from SQLAlchemy's compiler once; each execution only
    converts the values and sends the string. It still goes through the session's connection and transaction,
    its events (statement counters see it) and its error translation (``IntegrityError``).
    """

    def __init__(self, statement: Any, dialect: Any) -> None:
        self.compiled = statement.compile(dialect=dialect)
        self.sql = self.compiled.string
        self.order = tuple(self.compiled.positiontup or ()) if self.compiled.positional else None
        self.processors = dict(self.compiled._bind_processors)  # noqa: SLF001 - SQLAlchemy's own conversions
        #: Every bind's fixed value (the literals), asked of SQLAlchemy once: executions add only the named ones.
        self.defaults = self.compiled.construct_params({}, _check=False)
        self.plain = not getattr(self.compiled, "escaped_bind_names", None)
        names = self.order if self.order is not None else tuple(self.defaults)
        #: (name, its conversion or None) in the order the driver takes them.
        self.binds = tuple((name, self.processors.get(name)) for name in names)

    def parameters(self, values: dict[str, Any]) -> Any:
        # Escaped bind names (none in these statements) take SQLAlchemy's own mapping.
        params = {**self.defaults, **values} if self.plain else self.compiled.construct_params(values, _check=False)
        converted = [processor(params[name]) if processor is not None else params[name]
                     for name, processor in self.binds]
        if self.order is not None:
            return tuple(converted)
        return dict(zip((name for name, _ in self.binds), converted, strict=True))

    def execute(self, session: Session | Connection, values: dict[str, Any]) -> Any:
        connection = session.connection() if isinstance(session, Session) else session
        return connection.exec_driver_sql(self.sql, self.parameters(values))

    def execute_many(self, session: Session | Connection, rows: Sequence[dict[str, Any]]) -> None:
        connection = session.connection() if isinstance(session, Session) else session
        connection.exec_driver_sql(self.sql, [self.parameters(row) for row in rows])


#: Prepared statements by (dialect, number of delivery keys, outbox kinds): building one costs more than running it.
_STATEMENTS: dict[tuple[str, int, tuple[tuple[str, str], ...]], Any] = {}


def _param(table: Any, column: str, name: str | None = None) -> Any:
    return bindparam(name or column, type_=table.c[column].type)


def _null(table: Any, column: str) -> Any:
    """A NULL of the column's type (an untyped NULL in a UNION is text to PostgreSQL)."""
    return cast(null(), table.c[column].type)


def _person_select(*columns: Any) -> Any:
    """``columns`` FROM the requester's (unmerged) person, found by the identity the channel names."""
    return (
        select(*columns, Person.__table__.c.id)
        .select_from(Person.__table__.join(Identity.__table__, Identity.__table__.c.person_id == Person.__table__.c.id))
        .where(Identity.__table__.c.provider == _param(Identity.__table__, "provider"),
               Identity.__table__.c.external_id == _param(Identity.__table__, "external_id", "author"),
               Person.__table__.c.merged_into_id.is_(None))
    )


def _insert_ticket_statement() -> Insert:
    values = [_param(TICKET, column) for column in TICKET_COLUMNS]
    return (
        insert(TICKET).from_select([*TICKET_COLUMNS, "requester_id"], _person_select(*values))
        .returning(TICKET.c.id, TICKET.c.requester_id)
    )


def _postgresql_statement(keys: int, kinds: tuple[tuple[str, str], ...]) -> Any:
    """The whole delivery in one statement: ticket, audit event, ledger keys and outbox items, chained on ids."""
    ticket = _insert_ticket_statement().cte("new_ticket")
    now = _param(TICKET, "created_at")
    audit = insert(AUDIT).from_select(AUDIT_COLUMNS, select(
        _param(AUDIT, "action"), ticket.c.requester_id, ticket.c.id, _param(AUDIT, "data", "audit_data"), now))
    ledger = insert(LEDGER).from_select(LEDGER_COLUMNS, union_all(*(
        select(_param(LEDGER, "source", "ledger_source"), _param(LEDGER, "external_id", f"key_{i}"),
               _null(LEDGER, "fingerprint"), now, ticket.c.id, _null(LEDGER, "message_id"))
        for i in range(keys)
    )))
    # The ticket's full-text index row (helpdesk.tickets.fulltext), from the same text as fulltext.filed.
    vector = func.to_tsvector(fulltext._REGCONFIG, bindparam("search_text", type_=Text))  # noqa: SLF001
    search = insert(fulltext._PG).from_select(  # noqa: SLF001
        ["ticket_id", "document", "public_document"], select(ticket.c.id, vector, vector))
    writes = [audit, ledger, search]
    if kinds:
        writes.append(insert(OUTBOX).from_select(OUTBOX_COLUMNS, union_all(*(
            select(literal(f"{prefix}:") + cast(ticket.c.id, String), _param(OUTBOX, "channel", "ledger_source"),
                   literal(kind), ticket.c.id, _null(OUTBOX, "message_id"), _param(OUTBOX, "payload"),
                   _param(OUTBOX, "status", "outbox_status"),
                   literal(0), now, now)
            for kind, prefix in kinds
        ))))
    ctes = [write.cte(f"write_{i}") for i, write in enumerate(writes)]
    return select(ticket.c.id).add_cte(*ctes)


def _plain_insert(table: Any, columns: Sequence[str]) -> Insert:
    return insert(table).values({column: _param(table, column) for column in columns})


def _rows_insert(table: Any, columns: Sequence[str], rows: int) -> Insert:
    """One INSERT of ``rows`` rows (``VALUES (…), (…)``): one call into SQLite where executemany makes one per row.

    The binds are named ``<column>_<row>``.
    """
    return insert(table).values([{column: _param(table, column, f"{column}_{row}") for column in columns}
                                 for row in range(rows)])


def _row_values(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {f"{column}_{index}": value for index, row in enumerate(rows) for column, value in row.items()}


def _statements(dialect: Any, keys: int, kinds: tuple[tuple[str, str], ...]) -> Any:
    key = (dialect.name, keys, kinds)
    statement = _STATEMENTS.get(key)
    if statement is None:
        if dialect.name == "postgresql":
            statement = Prepared(_postgresql_statement(keys, kinds), dialect)
        else:
            statement = tuple(Prepared(s, dialect) for s in (
                _insert_ticket_statement(), _plain_insert(AUDIT, AUDIT_COLUMNS),
                _rows_insert(LEDGER, LEDGER_COLUMNS, max(keys, 1)),
                _rows_insert(OUTBOX, OUTBOX_COLUMNS, max(len(kinds), 1)),
                _plain_insert(fulltext._SQLITE, ("rowid", "document", "public_document"))))  # noqa: SLF001
        _STATEMENTS[key] = statement
    return statement


#: One writer at a time per process and SQLite file: see :func:`writer_turn`.
_SQLITE_WRITERS: dict[str, threading.Lock] = {}
_SQLITE_WRITERS_LOCK = threading.Lock()


@contextmanager
def writer_turn(session: Session) -> Iterator[None]:
    """On SQLite, wait for this process's other writers in the process rather than in SQLite's busy handler.

    SQLite lets one writer in at a time; the others poll with growing sleeps (1, 2, 5, 10, 15, 20, 25 ms …),
    so under load most of the time a waiting writer sleeps while the lock is already free. Threads of one
    process queue here instead and go in as soon as the previous one commits; other processes still queue in
    SQLite. The turn covers the whole transaction, up to its commit (or rollback, on an error). PostgreSQL
    needs no turn (row locks, no database-wide write lock): a no-op there.

    A session that already began its transaction (it read the queues for the queue cache, or a thread's
    ticket) holds SQLite's write lock already (``BEGIN IMMEDIATE``): it goes ahead without a turn, since
    waiting for a turn while holding the lock would stall the writer that has the turn.
    """
    bind = session.get_bind()
    transaction = session.get_transaction()
    if bind.dialect.name != "sqlite" or (transaction is not None and transaction._connections):  # noqa: SLF001
        yield
        return
    key = str(bind.url)
    with _SQLITE_WRITERS_LOCK:
        lock = _SQLITE_WRITERS.setdefault(key, threading.Lock())
    with lock:
        try:
            yield
        except BaseException:
            session.rollback()  # release SQLite's write lock before the next writer of this process goes in
            raise


def insert_new_ticket(
    session: Session, *, provider: str, author: str, values: dict[str, Any], audit_data: dict[str, Any],
    delivery_source: str, delivery_keys: Sequence[str], outbox_kinds: Sequence[tuple[str, str]], now: datetime,
) -> int | None:
    """Insert a known requester's new ticket with its audit event, ledger keys and outbox items; uncommitted.

    ``values`` holds :data:`TICKET_COLUMNS`; ``outbox_kinds`` the outbox items as ``(kind, prefix)`` pairs,
    each deduplicated by ``<prefix>:<ticket id>`` (``("ack", "ack")`` is the acknowledgement). Returns the
    ticket's id, or None when no person has that identity (then nothing was written).

    Raises
    ------
    IntegrityError
        A delivery key or the thread is already stored (the caller rolls back and reports the earlier one).
    """
    kinds = tuple(outbox_kinds)
    dialect = session.get_bind().dialect
    statement = _statements(dialect, len(delivery_keys), kinds)
    params = {**values, "provider": provider, "author": author}
    search_text = f"{values['subject']}\n{values['body']}"  # as helpdesk.tickets.fulltext.filed indexes it
    if dialect.name == "postgresql":
        params.update({f"key_{i}": key for i, key in enumerate(delivery_keys)}, action="ticket.filed",
                      search_text=search_text,
                      audit_data=audit_data, ledger_source=delivery_source, payload={},
                      outbox_status=OutboxStatus.PENDING.value)
        return statement.execute(session, params).scalar()
    ticket_statement, audit_statement, ledger_statement, outbox_statement, search_statement = statement
    connection = session.connection()  # asked once: each ask walks the session's transaction bookkeeping
    row = ticket_statement.execute(connection, params).first()
    if row is None:
        return None
    ticket_id, requester_id = row
    audit_statement.execute(connection, {"action": "ticket.filed", "actor_id": requester_id,
                                         "ticket_id": ticket_id, "data": audit_data, "created_at": now})
    if delivery_keys:
        ledger_statement.execute(connection, _row_values([
            {"source": delivery_source, "external_id": key, "fingerprint": None, "received_at": now,
             "ticket_id": ticket_id, "message_id": None} for key in delivery_keys]))
    if dialect.name == "sqlite":
        search_statement.execute(connection, {"rowid": ticket_id, "document": search_text,
                                              "public_document": search_text})
    if kinds:
        outbox_statement.execute(connection, _row_values([
            {"dedupe_key": f"{prefix}:{ticket_id}", "channel": delivery_source, "kind": kind,
             "ticket_id": ticket_id, "message_id": None, "payload": {}, "status": OutboxStatus.PENDING.value,
             "attempts": 0, "next_attempt_at": now, "created_at": now} for kind, prefix in kinds]))
    return ticket_id
