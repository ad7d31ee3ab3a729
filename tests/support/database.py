"""Test databases: a fresh SQLite file per test, and on the PostgreSQL server named by
HELPDESK_TEST_DATABASE_URL a database of this test run's own (schema made once, tables emptied
before each test), so that concurrent runs on one server never see each other's rows."""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

import helpdesk.models  # noqa: F401 - every table on the metadata
from helpdesk.db import Base, make_engine

SERVER_URL = os.environ.get("HELPDESK_TEST_DATABASE_URL") or None
_run_url: str | None = None


def postgres_url() -> str:
    """The URL of this run's own database, created on first use and dropped at exit."""
    global _run_url
    if _run_url is not None:
        return _run_url
    assert SERVER_URL
    admin, name = _admin(), _run_database_name("run")
    try:
        url = _create(admin, name)
        atexit.register(_drop, admin, name)
    except SQLAlchemyError:
        # No right to create databases: share the named one, schema reset below.
        url = SERVER_URL
    engine = make_engine(url, pool=False)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    Base.metadata.create_all(engine)
    engine.dispose()
    _run_url = url
    return url


@contextmanager
def empty_database(kind: str, directory: Path, label: str) -> Iterator[str]:
    """The URL of an empty database of ``kind``: a new SQLite file in ``directory``, or a scratch database on the
    PostgreSQL test server (the test is skipped when none is set)."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / f'{label}.sqlite3'}"
        return
    if not SERVER_URL:
        pytest.skip("set HELPDESK_TEST_DATABASE_URL to run the PostgreSQL variant")
    with scratch_postgres_database(label) as url:
        yield url


@contextmanager
def scratch_postgres_database(label: str) -> Iterator[str]:
    """The URL of a new, empty database on the test server, named for this run, dropped afterwards."""
    assert SERVER_URL
    admin, name = _admin(), _run_database_name(label)
    try:
        yield _create(admin, name)
    finally:
        _drop(admin, name)


def _admin():  # type: ignore[no-untyped-def]
    assert SERVER_URL
    return make_engine(SERVER_URL, pool=False).execution_options(isolation_level="AUTOCOMMIT")


def _run_database_name(label: str) -> str:
    # The process id keeps runs that share one server (colleagues, CI jobs) out of each other's way.
    return f"{make_url(SERVER_URL).database or 'test'}_{label}{os.getpid()}"


def _create(admin, name: str) -> str:  # type: ignore[no-untyped-def]
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)


def _drop(admin, name: str) -> None:  # type: ignore[no-untyped-def]
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except SQLAlchemyError:
        pass
    admin.dispose()


def empty_postgres(url: str) -> None:
    engine = make_engine(url, pool=False)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


def create_sqlite_schema(url: str) -> None:
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
