"""Migrations build the schema the models describe, on SQLite and PostgreSQL, and never drift."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import helpdesk.models  # noqa: F401
from helpdesk.db import Base, make_engine
from helpdesk.migrations import alembic_config
from helpdesk.tickets.fulltext import include_name
from tests.support.database import SERVER_URL, scratch_postgres_database


def _assert_no_drift(url: str) -> None:
    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url, pool=False)
    with engine.connect() as conn:
        # The full-text index is no ORM model (helpdesk.tickets.fulltext): Alembic is told to leave it out.
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": include_name})
        diff = compare_metadata(context, Base.metadata)
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
    with scratch_postgres_database("migrations") as url:
        _assert_no_drift(url)
