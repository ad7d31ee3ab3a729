"""Migration 0011_programmes keeps the rows already there: positions in arrival order, a one-step history,
the old reserved count as a pool holding the seats staff handed out, and the new states accepted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from helpdesk.db import make_engine
from helpdesk.migrations import alembic_config
from tests.support.database import empty_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with empty_database(request.param, tmp_path, "m0011") as scratch:
        yield scratch


def test_upgrade_keeps_applications_and_reserved_seats(url: str) -> None:
    command.upgrade(alembic_config(url), "0010_ticket_workspace")
    engine = make_engine(url, pool=False)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO person (id, display_name, role, email_verified, is_demo, created_at) "
                          "VALUES (1, 'Ann', 'user', false, false, CURRENT_TIMESTAMP), "
                          "(2, 'Bob', 'user', false, false, CURRENT_TIMESTAMP)"))
        conn.execute(text("INSERT INTO program (id, slug, name, cap, reserved, created_at) "
                          "VALUES (1, 'dp0', 'DP0', 10, 3, CURRENT_TIMESTAMP)"))
        for app_id, person, status, pool in ((5, 1, "pending", "reserved"), (7, 2, "waitlisted", "open")):
            conn.execute(text(
                "INSERT INTO application (id, program_id, person_id, name, email, institution, "
                "data_rights_statement, status, pool, created_at) VALUES "
                "(:id, 1, :person, 'x', 'x@example.edu', 'U', true, :status, :pool, CURRENT_TIMESTAMP)"),
                {"id": app_id, "person": person, "status": status, "pool": pool})
    command.upgrade(alembic_config(url), "0011_programmes")
    with engine.begin() as conn:
        pool_id, seats = conn.execute(text("SELECT id, seats FROM program_pool WHERE program_id = 1")).one()
        assert seats == 3
        rows = conn.execute(text("SELECT id, position, pool_id, history FROM application ORDER BY id")).all()
        assert [(r[0], r[1], r[2]) for r in rows] == [(5, 5, pool_id), (7, 7, None)]
        assert conn.execute(text("SELECT last_position, selection FROM program")).one() == (7, "fcfs")
        conn.execute(text("UPDATE application SET status = 'entered' WHERE id = 7"))
        conn.execute(text("UPDATE application SET status = 'reclaimed' WHERE id = 5"))
    command.downgrade(alembic_config(url), "0010_ticket_workspace")
    with engine.begin() as conn:
        assert [r[0] for r in conn.execute(text("SELECT status FROM application ORDER BY id"))] == [
            "withdrawn", "withdrawn"]
    engine.dispose()
