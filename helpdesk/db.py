"""Database engine, sessions and the declarative base."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

# Explicit constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: The largest id a row can have: ids are INTEGER columns, 32-bit on PostgreSQL. A larger number names
#: no row, and handing it to PostgreSQL would be an "integer out of range" error, not an empty answer.
ID_MAX = 2**31 - 1

#: How long SQLite waits for another writer before giving up, in milliseconds.
SQLITE_BUSY_TIMEOUT_MS = 10_000


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every engine (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use helpdesk.db.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


def make_engine(url: str, *, pool: bool = True) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout, foreign keys and immediate write locks."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _configure_sqlite(engine)
        return engine
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if not pool:
        kwargs["poolclass"] = NullPool
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event start transactions itself (see below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred transaction that reads and then writes can fail at once with SQLITE_BUSY
        # when another writer got in between; taking the write lock up front makes concurrent
        # writers queue up behind busy_timeout instead. Read-only work (GET requests) opts out
        # with execution_options(sqlite_begin="DEFERRED"), since WAL readers never block writers.
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")


def make_session_factory(engine: Engine, *, read_mostly: bool = False) -> sessionmaker[Session]:
    """Sessions on ``engine``; ``read_mostly`` sessions do not take SQLite's write lock up front."""
    bind = engine.execution_options(sqlite_begin="DEFERRED") if read_mostly else engine
    return sessionmaker(bind=bind, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for work outside a request (CLI, worker); rolled back on error, always closed."""
    session = factory()
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def execute_inserts(session: Session, statements: list[Any]) -> None:
    """Run INSERT statements whose results nobody reads, in one round trip where the database allows.

    PostgreSQL runs data-modifying statements inside WITH, so the statements travel as one; other
    databases (SQLite) get them one after the other. Either way they are part of the session's
    transaction, and a constraint that fails in any of them fails them all.
    """
    if not statements:
        return
    if session.get_bind().dialect.name != "postgresql" or len(statements) == 1:
        for statement in statements:
            session.execute(statement)
        return
    *leading, last = statements
    session.execute(last.add_cte(*(s.cte(f"write_{i}") for i, s in enumerate(leading))))
