"""Migrations build the schema the models describe, on SQLite and PostgreSQL, and never drift."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

import helpdesk.models  # noqa: F401
from helpdesk.db import Base, make_engine
from helpdesk.migrations import alembic_config
from tests.support.database import SERVER_URL


def _assert_no_drift(url: str) -> None:
    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url, pool=False)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"
    assert {t.name for t in Base.metadata.sorted_tables} <= tables


def test_sqlite_migrations_match_models(tmp_path) -> None:  # type: ignore[no-untyped-def]
    _assert_no_drift(f"sqlite:///{tmp_path / 'migrated.sqlite3'}")


def test_downgrade_to_base_and_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'cycle.sqlite3'}"
    command.upgrade(alembic_config(url), "head")
    command.downgrade(alembic_config(url), "base")
    _assert_no_drift(url)


@pytest.mark.postgres
def test_postgres_migrations_match_models() -> None:
    if not SERVER_URL:
        pytest.skip("set HELPDESK_TEST_DATABASE_URL to run the PostgreSQL variant")
    server = make_url(SERVER_URL)
    name = f"{server.database}_migrations"
    admin = make_engine(SERVER_URL, pool=False).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        _assert_no_drift(server.set(database=name).render_as_string(hide_password=False))
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
