"""The desk keeps its planner statistics fresh: ``helpdesk db upgrade`` analyses every table, and the worker
analyses the tables that changed enough where nothing else would (SQLite always; PostgreSQL when autovacuum is
off), committing what it wrote (helpdesk.maintenance)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from helpdesk import create_app
from helpdesk.cli import cli
from helpdesk.config import Settings
from helpdesk.db import make_engine
from helpdesk.maintenance import analyze_all, analyze_due
from helpdesk.worker import OutboxWorker
from tests.conftest import DATABASES, TEST_SECRET
from tests.support.database import empty_database


def file_tickets(client: FlaskClient, token: str, count: int) -> None:
    for i in range(count):
        response = client.post("/api/v1/tickets", json={"subject": f"Question {i}", "body": "How do I?"},
                               headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 201, response.get_data(as_text=True)


def ticket_index_stats(url: str) -> set[str]:
    """The ticket indexes sqlite_stat1 has rows for, read by a connection of its own (so only what was committed)."""
    conn = sqlite3.connect(make_url(url).database)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone():
            return set()
        return {idx for (idx,) in conn.execute("SELECT idx FROM sqlite_stat1 WHERE tbl = 'ticket'")}
    finally:
        conn.close()


def pg_ticket_stats(engine: Engine, *, at_least: int = 0) -> tuple[int, datetime | None]:
    """ticket's (n_mod_since_analyze, last_analyze), once the server shows at least ``at_least`` changes (other
    backends report their counts within a second or so, and when they exit)."""
    deadline = time.monotonic() + 15
    while True:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            modified, analysed = conn.execute(text(
                "SELECT n_mod_since_analyze, last_analyze FROM pg_stat_user_tables "
                "WHERE relname = 'ticket' AND schemaname = current_schema()")).one()
        if modified >= at_least or time.monotonic() > deadline:
            return modified, analysed
        time.sleep(0.2)


def release_connections(app: Flask) -> None:
    """Close the app's connections: a PostgreSQL backend reports its table counts when it exits."""
    app.extensions["helpdesk"].engine.dispose()


# -- helpdesk db upgrade ------------------------------------------------------------------------------


@pytest.fixture(params=DATABASES)
def migrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it, for ``helpdesk db upgrade`` to make."""
    with empty_database(request.param, tmp_path, "stats") as url:
        yield url


def upgrade(url: str) -> None:
    result = CliRunner().invoke(cli, ["db", "upgrade"], env={"HELPDESK_ENV": "testing", "HELPDESK_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    assert "Planner statistics refreshed" in result.output


def test_db_upgrade_leaves_every_table_analysed(migrated_url: str, tmp_path: Path) -> None:
    upgrade(migrated_url)
    engine = make_engine(migrated_url, pool=False)
    try:
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                never = conn.scalars(text("SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NULL "
                                          "AND schemaname = current_schema()")).all()
            assert never == []
        else:
            assert ticket_index_stats(migrated_url) == set()  # sqlite_stat1 is there, ticket has no rows yet
            with engine.connect() as conn:
                assert conn.scalar(text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")) == 1

        # A desk in use: the next upgrade (nothing to migrate) analyses the rows filed since.
        app = create_app(Settings(env="testing", database_url=migrated_url, secret_key=TEST_SECRET, auth="dev",
                                  index_dir=tmp_path / "index", attachment_dir=tmp_path / "attachments",
                                  rate_limit_enabled=False, triage_enabled=False, incident_checks=False))
        from helpdesk.accounts.models import Role
        from helpdesk.accounts.services import AccountService

        session = app.extensions["helpdesk"].session_factory()
        _, token = AccountService(session).create_staff("alice", Role.ADMIN, with_token=True)
        session.close()
        file_tickets(app.test_client(), token, 20)
        release_connections(app)
        if engine.dialect.name == "postgresql":
            modified, analysed_before = pg_ticket_stats(engine, at_least=20)
            assert modified >= 20
        upgrade(migrated_url)
        if engine.dialect.name == "postgresql":
            modified, analysed = pg_ticket_stats(engine)
            assert modified == 0 and analysed > analysed_before
            with engine.connect() as conn:  # migration 0014's extended statistics are built
                assert conn.scalar(text("SELECT count(*) FROM pg_stats_ext "
                                        "WHERE statistics_name = 'st_ticket_queue_status'")) == 1
        else:
            assert {"ix_ticket_open_assignee_queue_created", "ix_ticket_queue_updated_id"} <= ticket_index_stats(
                migrated_url)
    finally:
        engine.dispose()


def test_analyze_all_commits_on_sqlite(tmp_path: Path) -> None:
    """The engine's begin hook opens a transaction around ANALYZE; it must be committed, not rolled back."""
    url = f"sqlite:///{tmp_path / 'analysed.sqlite3'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER)")
        conn.exec_driver_sql("CREATE INDEX ix_t_a ON t (a)")
        conn.exec_driver_sql("INSERT INTO t (a) SELECT value % 7 FROM json_each('[' || "
                             "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) "
                             "SELECT group_concat(i) FROM n) || ']')")
    assert analyze_all(engine) == ["t"]
    engine.dispose()
    other = sqlite3.connect(tmp_path / "analysed.sqlite3")
    assert other.execute("SELECT tbl, idx, stat FROM sqlite_stat1").fetchall() == [("t", "ix_t_a", "100 15")]
    other.close()


# -- the worker ---------------------------------------------------------------------------------------


def test_the_worker_analyses_a_table_after_many_changes_and_leaves_it_alone_under_the_threshold(
    app: Flask, client: FlaskClient, staff_token: str, settings: Settings,
) -> None:
    engine = app.extensions["helpdesk"].engine
    postgres = engine.dialect.name == "postgresql"
    if postgres:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # Where the server's autovacuum is on, the table's own setting stands for it being off.
            autovacuum_on = conn.scalar(text("SHOW autovacuum")) == "on"
            if autovacuum_on:
                conn.exec_driver_sql("ALTER TABLE ticket SET (autovacuum_enabled = false)")
    try:
        analyze_all(engine)  # the baseline: what db upgrade left
        if postgres:
            _, baseline = pg_ticket_stats(engine)

        file_tickets(client, staff_token, 3)  # a few: under the threshold of 50 rows
        release_connections(app)
        if postgres:
            assert pg_ticket_stats(engine, at_least=3)[0] >= 3
        worker = OutboxWorker(app.extensions["helpdesk"].session_factory, settings, rng=lambda: 0.5)
        assert "ticket" not in (worker.refresh_statistics() or [])
        if postgres:
            modified, analysed = pg_ticket_stats(engine)
            assert modified >= 3 and analysed == baseline
        else:
            assert ticket_index_stats(settings.database_url) == set()
        assert worker.refresh_statistics() is None  # not time again before HELPDESK_STATISTICS_INTERVAL_SECONDS

        file_tickets(client, staff_token, 60)
        release_connections(app)
        if postgres:
            assert pg_ticket_stats(engine, at_least=63)[0] >= 63
        worker = OutboxWorker(app.extensions["helpdesk"].session_factory, settings, rng=lambda: 0.5)
        worker.run_once()  # the worker's round refreshes them
        if postgres:
            modified, analysed = pg_ticket_stats(engine)
            assert modified == 0 and analysed > baseline
        else:  # committed: another connection sees them
            assert "ix_ticket_open_assignee_queue_created" in ticket_index_stats(settings.database_url)
    finally:
        if postgres and autovacuum_on:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ALTER TABLE ticket RESET (autovacuum_enabled)")


def test_zero_turns_the_worker_refresh_off(
    app: Flask, client: FlaskClient, staff_token: str, make_settings: Callable[..., Settings],
) -> None:
    file_tickets(client, staff_token, 60)
    release_connections(app)
    off = OutboxWorker(app.extensions["helpdesk"].session_factory,
                       make_settings(statistics_interval_seconds=0), rng=lambda: 0.5)
    assert off.refresh_statistics() is None
    if app.extensions["helpdesk"].engine.dialect.name == "sqlite":  # the same desk, with the default: analysed
        on = OutboxWorker(app.extensions["helpdesk"].session_factory, make_settings(), rng=lambda: 0.5)
        assert "ticket" in (on.refresh_statistics() or [])


def test_postgres_tables_are_left_to_autovacuum_when_it_is_on() -> None:
    due = {"threshold": 50, "scale_factor": 0.1}
    assert not analyze_due(10**6, 1000, [], autovacuum=True, **due)
    assert not analyze_due(10**6, 1000, ["autovacuum_enabled=true"], autovacuum=True, **due)
    assert analyze_due(151, 1000, ["fillfactor=90", "autovacuum_enabled=false"], autovacuum=True, **due)
    # Off: autovacuum's own threshold, 50 + 10 % of the rows; the table's own settings first.
    assert not analyze_due(150, 1000, [], autovacuum=False, **due)
    assert analyze_due(151, 1000, [], autovacuum=False, **due)
    assert analyze_due(51, -1, [], autovacuum=False, **due)  # never analysed nor vacuumed: reltuples -1
    assert not analyze_due(151, 1000, ["autovacuum_analyze_threshold=500"], autovacuum=False, **due)
    assert analyze_due(61, 1000, ["autovacuum_analyze_scale_factor=0.01"], autovacuum=False, **due)
