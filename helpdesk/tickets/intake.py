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
  so there is no round trip to save, only the CPU of building statements, which are built once here. The
  deliveries one process has waiting are written in one transaction, each in a savepoint, and committed
  together (:func:`file_in_batch`); writers queue in the process and on a ``flock`` of
  ``<database file>-writers.lock`` across processes, not in SQLite's sleeping busy handler.

Nothing is committed here and nothing is checked here: the ledger's and the thread's unique constraints
fail the statement (IntegrityError) for a delivery already stored, exactly as on the general path, and the
service rolls back and reports the earlier delivery. When the person is unknown nothing is written and the
caller takes the general path (which creates the person).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows: the turn is then per process only
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import Insert, String, Text, bindparam, cast, func, insert, literal, null, select, union_all
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError
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

    def run(self, connection: Connection, values: dict[str, Any]) -> list[Any]:
        """Execute on the connection's driver connection and return every row: for SQLite, in the process.

        SQLAlchemy's execution context (result set-up, cursor bookkeeping) costs more than a one-row INSERT on
        SQLite. So when nothing listens to the engine's cursor events, the statement goes straight to the
        driver, inside the same transaction, and a driver error is raised as SQLAlchemy's (``IntegrityError``
        for a stored delivery key or thread, as ``exec_driver_sql`` would). With a listener (statement
        counters in tests, profilers) it takes ``exec_driver_sql``, so they see it.
        """
        dispatch = connection.dispatch
        if connection.dialect.name != "sqlite" or dispatch.before_cursor_execute or dispatch.after_cursor_execute:
            result = connection.exec_driver_sql(self.sql, self.parameters(values))
            return result.all() if result.returns_rows else []
        parameters = self.parameters(values)
        driver = connection.connection.driver_connection
        try:
            return driver.execute(self.sql, parameters).fetchall()  # all rows: the statement is done
        except connection.dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(self.sql, parameters, exc, connection.dialect.loaded_dbapi.Error,
                                      dialect=connection.dialect) from exc

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
    """``columns`` FROM the identity the channel names, when its person is not merged away.

    Only the identity is in FROM (found on its unique index) and the person is read by its primary key in a
    scalar subquery, which the planner cannot turn into a join. As a join, PostgreSQL without statistics yet (a
    new desk, or a generic plan made while the table was small) chose a scan of every person with the identity
    looked up once per person: a cost that grew with the number of people, on every new ticket.
    """
    person, identity = Person.__table__, Identity.__table__
    merged_into = select(person.c.merged_into_id).where(person.c.id == identity.c.person_id).scalar_subquery()
    return (
        select(*columns, identity.c.person_id)
        .where(identity.c.provider == _param(identity, "provider"),
               identity.c.external_id == _param(identity, "external_id", "author"),
               merged_into.is_(None))
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
#: The lock file each SQLite file's writers queue on across processes, open in this process: path -> (pid, fd).
_LOCK_FILES: dict[str, tuple[int, int]] = {}


def lock_file_path(database: str | None) -> str | None:
    """Where the writers of the SQLite file ``database`` queue across processes: ``<file>-writers.lock``.

    None for an in-memory database (one process only) or a ``file:`` URI.
    """
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return os.path.abspath(database) + "-writers.lock"


def _lock_file(path: str) -> int | None:
    """This process's descriptor of the lock file (opened once per process; a forked child opens its own,
    since a ``flock`` is shared by every copy of one descriptor). None where it cannot be opened."""
    opened = _LOCK_FILES.get(path)
    if opened is not None and opened[0] == os.getpid():
        return opened[1]
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError:
        return None
    _LOCK_FILES[path] = (os.getpid(), fd)
    return fd


@contextmanager
def _across_processes(database: str | None) -> Iterator[None]:
    """Hold ``flock`` on the SQLite file's lock file: the writers of other processes wait in the kernel and are
    woken when it is released (SQLite's own busy handler polls with sleeps of up to 100 ms)."""
    path = lock_file_path(database) if fcntl is not None else None
    fd = _lock_file(path) if path is not None else None
    if fd is None:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # releases the GIL while it waits
    except OSError:  # a file system without locks (NFS without lockd): SQLite's busy handler still guards
        yield
        return
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


@contextmanager
def writer_turn(session: Session) -> Iterator[None]:
    """On SQLite, wait for the other intake writers in the process and in the kernel, not in SQLite's busy handler.

    SQLite lets one writer in at a time; the others poll with growing sleeps (1, 2, 5, 10, 15, 20, 25 ms …),
    so under load most of the time a waiting writer sleeps while the lock is already free. Threads of one
    process queue on a lock here, and one thread per process at a time on an exclusive ``flock`` of
    ``<database file>-writers.lock`` (where the platform has ``flock``); each goes in as soon as the previous
    one commits. Other writers (web forms, the worker) still meet them in SQLite's busy handler, which stays
    the guarantee. The turn covers the whole transaction, up to its commit (or rollback, on an error).
    PostgreSQL needs no turn (row locks, no database-wide write lock): a no-op there.

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
    with lock, _across_processes(bind.url.database):
        try:
            yield
        except BaseException:
            session.rollback()  # release SQLite's write lock before the next writer goes in
            raise


def _begun(session: Session) -> bool:
    """Whether the session's transaction has a connection already (a statement was sent, or is unflushed)."""
    transaction = session.get_transaction()
    return bool((transaction is not None and transaction._connections)  # noqa: SLF001
                or session.new or session.dirty or session.deleted)


def insert_new_ticket(
    session: Session, *, provider: str, author: str, values: dict[str, Any], audit_data: dict[str, Any],
    delivery_source: str, delivery_keys: Sequence[str], outbox_kinds: Sequence[tuple[str, str]], now: datetime,
    whole_transaction: bool = False,
) -> int | None:
    """Insert a known requester's new ticket with its audit event, ledger keys and outbox items; uncommitted.

    ``values`` holds :data:`TICKET_COLUMNS`; ``outbox_kinds`` the outbox items as ``(kind, prefix)`` pairs,
    each deduplicated by ``<prefix>:<ticket id>`` (``("ack", "ack")`` is the acknowledgement). Returns the
    ticket's id, or None when no person has that identity (then nothing was written).

    ``whole_transaction``: the caller will write nothing more before it commits. On PostgreSQL, when the
    session has not begun a transaction yet, the statement is then sent in autocommit: being one statement it
    is atomic by itself, and it is committed in the same round trip, where ``BEGIN``, the statement and
    ``COMMIT`` are three (the caller's commit then has nothing to send). Elsewhere it changes nothing.

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
        if whole_transaction and not _begun(session):
            connection = session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            ticket_id = statement.execute(connection, params).scalar()
            if ticket_id is None:
                # Nobody has the identity, nothing was written: end the autocommit "transaction" (nothing to
                # send) so the caller's general path gets the ordinary transaction it needs.
                session.commit()
            return ticket_id
        return statement.execute(session, params).scalar()
    return _write_sqlite(session.connection(), statement, params, audit_data=audit_data,
                         delivery_source=delivery_source, delivery_keys=delivery_keys, kinds=kinds, now=now,
                         search_text=search_text, with_search=dialect.name == "sqlite")


def _write_sqlite(
    connection: Connection, statement: Any, params: dict[str, Any], *, audit_data: dict[str, Any],
    delivery_source: str, delivery_keys: Sequence[str], kinds: tuple[tuple[str, str], ...], now: datetime,
    search_text: str, with_search: bool = True,
) -> int | None:
    """One INSERT per table on ``connection`` (SQLite): the ticket (with its requester looked up), then the rest."""
    ticket_statement, audit_statement, ledger_statement, outbox_statement, search_statement = statement
    rows = ticket_statement.run(connection, params)
    if not rows:
        return None
    ticket_id, requester_id = rows[0]
    audit_statement.run(connection, {"action": "ticket.filed", "actor_id": requester_id,
                                     "ticket_id": ticket_id, "data": audit_data, "created_at": now})
    if delivery_keys:
        ledger_statement.run(connection, _row_values([
            {"source": delivery_source, "external_id": key, "fingerprint": None, "received_at": now,
             "ticket_id": ticket_id, "message_id": None} for key in delivery_keys]))
    if with_search:
        search_statement.run(connection, {"rowid": ticket_id, "document": search_text,
                                          "public_document": search_text})
    if kinds:
        outbox_statement.run(connection, _row_values([
            {"dedupe_key": f"{prefix}:{ticket_id}", "channel": delivery_source, "kind": kind,
             "ticket_id": ticket_id, "message_id": None, "payload": {}, "status": OutboxStatus.PENDING.value,
             "attempts": 0, "next_attempt_at": now, "created_at": now} for kind, prefix in kinds]))
    return ticket_id


# -- SQLite: the waiting deliveries of one process written and committed together ---------------------


@dataclass(eq=False)
class _Pending:
    """One delivery waiting for its turn; woken when its batch is committed (or to lead the next one)."""

    write: Callable[[Connection], int | None]
    wake: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    ticket_id: int | None = None
    error: BaseException | None = None


@dataclass(eq=False)
class _Batches:
    """The deliveries waiting to be written to one SQLite file by this process, and whether a leader is writing."""

    mutex: threading.Lock = field(default_factory=threading.Lock)
    waiting: list[_Pending] = field(default_factory=list)
    leading: bool = False


_BATCHES: dict[str, _Batches] = {}


def batches(session: Session) -> bool:
    """Whether :func:`file_in_batch` may write for ``session``: SQLite, no transaction begun, nothing unflushed.

    (Another caller's batch commits only the leader's session: a session with work of its own keeps its own
    transaction.)
    """
    return session.get_bind().dialect.name == "sqlite" and not _begun(session)


def file_in_batch(
    session: Session, *, provider: str, author: str, values: dict[str, Any], audit_data: dict[str, Any],
    delivery_source: str, delivery_keys: Sequence[str], outbox_kinds: Sequence[tuple[str, str]], now: datetime,
) -> int | None:
    """:func:`insert_new_ticket` on SQLite, committed together with the other deliveries this process has waiting.

    Every new ticket on SQLite writes some 45 pages (the ticket's indexes, the full-text segment, the ledger,
    the audit event, the outbox), most of them the same rightmost pages as the ticket before, and only one
    transaction at a time may write. So the deliveries that arrive while one is being written wait in the
    process, and the next of them (the leader) writes them all in one transaction, each inside a savepoint of
    its own, and commits once for all: the pages are written once per batch. Each caller returns only after
    the commit that stored its rows, so nothing is acknowledged before it is stored; rows are written in the
    order the deliveries arrived. A delivery already stored (a Slack retry: the ledger's or the thread's unique
    constraint) rolls back its own savepoint only and raises ``IntegrityError`` in its own caller, after the
    commit, as :func:`insert_new_ticket` would; any other error fails the whole batch, in every caller.
    The leader holds the process's writer lock and the file's ``flock`` (see :func:`writer_turn`) for it.

    ``session`` must have no transaction begun (:func:`batches`); only the leader's session is used. Returns
    the committed ticket's id, or None when no person has that identity (nothing written for it).
    """
    kinds = tuple(outbox_kinds)
    bind = session.get_bind()
    statement = _statements(bind.dialect, len(delivery_keys), kinds)
    params = {**values, "provider": provider, "author": author}
    search_text = f"{values['subject']}\n{values['body']}"  # as helpdesk.tickets.fulltext.filed indexes it
    keys = tuple(delivery_keys)

    def write(connection: Connection) -> int | None:
        return _write_sqlite(connection, statement, params, audit_data=audit_data, delivery_source=delivery_source,
                             delivery_keys=keys, kinds=kinds, now=now, search_text=search_text)

    key = str(bind.url)
    with _SQLITE_WRITERS_LOCK:
        state = _BATCHES.setdefault(key, _Batches())
        writers = _SQLITE_WRITERS.setdefault(key, threading.Lock())
    mine = _Pending(write)
    with state.mutex:
        state.waiting.append(mine)
        mine.lead = not state.leading
        state.leading = True
    if not mine.lead:
        mine.wake.wait()  # until a batch with this delivery is committed, or this thread is to lead the next
    if mine.lead:
        batch: list[_Pending] = []
        try:
            with writers, _across_processes(bind.url.database):
                with state.mutex:
                    batch, state.waiting = state.waiting, []
                _write_batch(session, batch)
        except BaseException as exc:  # noqa: BLE001 - handed to every caller of the batch
            for pending in batch or [mine]:
                if pending.error is None:
                    pending.error = exc
        finally:
            with state.mutex:
                if not batch and mine in state.waiting:  # failed before taking the batch (the lock file)
                    state.waiting.remove(mine)
                if state.waiting:  # arrived while this batch was written: the first of them leads the next
                    state.waiting[0].lead = True
                    state.waiting[0].wake.set()
                else:
                    state.leading = False
            for pending in batch:
                if pending is not mine:
                    pending.wake.set()
    if mine.error is not None:
        raise mine.error
    return mine.ticket_id


def _write_batch(session: Session, batch: list[_Pending]) -> None:
    """Write ``batch`` in one transaction of ``session`` and commit it; each delivery in a savepoint when many."""
    connection = session.connection()  # BEGIN IMMEDIATE: SQLite's write lock, for the whole batch
    try:
        if len(batch) == 1:
            batch[0].ticket_id = batch[0].write(connection)
        else:
            for pending in batch:
                _SAVEPOINT.run(connection, {})
                try:
                    pending.ticket_id = pending.write(connection)
                except OperationalError:  # the database itself (locked, disk full, gone): the whole batch fails
                    raise
                except Exception as exc:  # noqa: BLE001 - this delivery only: stored before (IntegrityError), or
                    # a value the database refused (DataError, an encoding error): its own caller is told
                    _ROLLBACK_TO.run(connection, {})
                    pending.error = exc
                _RELEASE.run(connection, {})
        session.commit()
    except BaseException:
        session.rollback()
        raise


class _Plain(Prepared):
    """A statement without parameters (the savepoints), run like the prepared INSERTs."""

    def __init__(self, sql: str) -> None:  # noqa: D107 - nothing to compile
        self.sql, self.order, self.binds, self.plain, self.defaults = sql, (), (), True, {}

    def parameters(self, values: dict[str, Any]) -> Any:
        return ()


_SAVEPOINT = _Plain("SAVEPOINT intake_delivery")
_ROLLBACK_TO = _Plain("ROLLBACK TO SAVEPOINT intake_delivery")
_RELEASE = _Plain("RELEASE SAVEPOINT intake_delivery")
