"""Upgrading to 0009_workspace_lists indexes the tickets already stored: subject, question and messages, with staff
notes kept out of what requesters can match."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import JSON, MetaData, Table

from helpdesk.db import make_engine
from helpdesk.migrations import alembic_config
from helpdesk.tickets import fulltext
from tests.support.database import SERVER_URL, scratch_postgres_database


def insert_row(conn, table: str, **values: object) -> None:  # type: ignore[no-untyped-def]
    """A row as the schema of that revision has it: required columns not given get a plain value of their type
    (later migrations add columns; this test only cares about the text)."""
    reflected = Table(table, MetaData(), autoload_with=conn)
    for column in reflected.columns:
        if column.name in values or column.nullable or column.server_default is not None or column.primary_key:
            continue
        python_type = getattr(column.type, "python_type", str) if not isinstance(column.type, JSON) else dict
        values[column.name] = {bool: False, int: 0, dict: {}, datetime: datetime.now(UTC)}.get(python_type, "")
    conn.execute(reflected.insert().values(**values))


def _upgrade_with_old_tickets(url: str) -> list[tuple[str, bool, list[int]]]:
    command.upgrade(alembic_config(url), "0008_self_served")
    engine = make_engine(url, pool=False)
    with engine.begin() as conn:
        insert_row(conn, "person", id=1, display_name="dana", role="user")
        for ticket_id, subject in ((1, "Butler calexp missing"), (2, "TAP query times out")):
            insert_row(conn, "ticket", id=ticket_id, subject=subject, body="details here", source="web",
                       status="new", priority="normal", requester_id=1)
        insert_row(conn, "message", ticket_id=2, body="qserv outage suspected", visibility="internal",
                   direction="outbound")
        insert_row(conn, "message", ticket_id=2, body="also a deepCoadd cutout", visibility="public",
                   direction="inbound")
    command.upgrade(alembic_config(url), "head")
    found = []
    with engine.connect() as conn:
        from sqlalchemy import select

        from helpdesk.tickets.models import Ticket

        for words, public in (("calexp", False), ("qserv", False), ("qserv", True), ("deepcoadd", True)):
            ids = conn.execute(select(Ticket.id).where(fulltext.matches(engine.dialect.name, words,
                                                                         public_only=public))).scalars()
            found.append((words, public, sorted(ids)))
    command.downgrade(alembic_config(url), "0008_self_served")
    engine.dispose()
    return found


EXPECTED = [("calexp", False, [1]), ("qserv", False, [2]), ("qserv", True, []), ("deepcoadd", True, [2])]


def test_sqlite_upgrade_indexes_existing_tickets(tmp_path: Path) -> None:
    assert _upgrade_with_old_tickets(f"sqlite:///{tmp_path / 'old.sqlite3'}") == EXPECTED


@pytest.mark.postgres
def test_postgres_upgrade_indexes_existing_tickets() -> None:
    if not SERVER_URL:
        pytest.skip("set HELPDESK_TEST_DATABASE_URL to run the PostgreSQL variant")
    with scratch_postgres_database("fts_upgrade") as url:
        assert _upgrade_with_old_tickets(url) == EXPECTED
