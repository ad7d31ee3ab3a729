"""Database helpers: inserts sent together succeed or fail together, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from helpdesk.audit import AuditEvent
from helpdesk.db import execute_inserts, utcnow
from helpdesk.tickets.models import InboundDelivery


def ledger(key: str):  # type: ignore[no-untyped-def]
    return insert(InboundDelivery.__table__).values(source="test", external_id=key, received_at=utcnow())


def audit_row(action: str):  # type: ignore[no-untyped-def]
    return insert(AuditEvent.__table__).values(action=action, data={}, created_at=utcnow())


def counts(session: Session) -> tuple[int, int]:
    return (session.scalar(select(func.count()).select_from(InboundDelivery)) or 0,
            session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def test_inserts_sent_together_all_land(app) -> None:  # type: ignore[no-untyped-def]
    session = app.extensions["helpdesk"].session_factory()
    execute_inserts(session, [ledger("a"), audit_row("one"), ledger("b")])
    session.commit()
    assert counts(session) == (2, 1)
    session.close()


def test_one_failing_insert_takes_the_others_with_it(app) -> None:  # type: ignore[no-untyped-def]
    session = app.extensions["helpdesk"].session_factory()
    execute_inserts(session, [ledger("a")])
    session.commit()
    with pytest.raises(IntegrityError):
        execute_inserts(session, [audit_row("lost"), ledger("a")])
        session.commit()
    session.rollback()
    assert counts(session) == (1, 0)
    session.close()


def test_nothing_to_insert_is_fine(app) -> None:  # type: ignore[no-untyped-def]
    session = app.extensions["helpdesk"].session_factory()
    execute_inserts(session, [])
    assert counts(session) == (0, 0)
    session.close()
