"""``helpdesk staff``: create, tokens, revoke and demote, run through click's CliRunner against a test database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.accounts.cli import staff
from helpdesk.accounts.models import ApiToken, Role
from helpdesk.accounts.services import AccountService
from helpdesk.audit import AuditEvent
from helpdesk.db import make_engine, make_session_factory

LIFETIME = timedelta(hours=24)


@pytest.fixture
def db(database_url: str) -> Session:
    engine = make_engine(database_url)
    # Deferred transactions (as the app's GET requests use): this session's reads must not hold SQLite's
    # write lock while the command runs.
    session = make_session_factory(engine, read_mostly=True)()
    yield session
    session.close()
    engine.dispose()


@pytest.fixture
def run(database_url: str):  # type: ignore[no-untyped-def]
    def invoke(*args: str) -> Result:
        env = {"HELPDESK_DATABASE_URL": database_url, "HELPDESK_ENV": "testing"}
        return CliRunner().invoke(staff, list(args), env=env, catch_exceptions=False)

    return invoke


def test_create_prints_the_token_alone_on_the_last_line(run, db: Session) -> None:  # type: ignore[no-untyped-def]
    result = run("create", "Alice", "--role", "admin", "--token")
    assert result.exit_code == 0, result.output
    assert "Alice is admin (person 1)." in result.stderr
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("hd_") and result.stdout.strip() == token
    assert AccountService(db).authenticate_token(token).role is Role.ADMIN
    again = run("create", "alice")
    assert (again.exit_code, again.stdout) == (0, "Alice is staff (person 1).\n")


def test_create_refuses_a_bad_login(run) -> None:  # type: ignore[no-untyped-def]
    result = run("create", "not a login")
    assert result.exit_code == 1 and "letters, digits or single hyphens" in result.stderr


def test_tokens_lists_prefix_created_last_used_and_revoked(run, db: Session) -> None:  # type: ignore[no-untyped-def]
    first = run("create", "helper", "--token").stdout.strip()
    second = run("create", "helper", "--token").stdout.strip()
    AccountService(db).authenticate_token(first)
    assert run("revoke", second[:10]).exit_code == 0
    result = run("tokens", "HELPER")
    assert result.exit_code == 0, result.output
    header, row1, row2 = result.stdout.strip().splitlines()
    assert header.split() == ["PREFIX", "CREATED", "LAST", "USED", "REVOKED"]
    assert row1.startswith(first[:10]) and "never" not in row1 and row1.endswith(" -")
    assert row2.startswith(second[:10]) and "never" in row2 and not row2.endswith(" -")
    assert first not in result.stdout  # only prefixes, never the token


def test_tokens_of_someone_without_any_and_of_nobody(run) -> None:  # type: ignore[no-untyped-def]
    run("create", "helper")
    assert run("tokens", "helper").stdout == "helper (person 1, staff) has no API tokens.\n"
    result = run("tokens", "nobody")
    assert result.exit_code == 1 and "Nobody has the GitHub login 'nobody'" in result.stderr


def test_revoke_by_prefix(run, db: Session) -> None:  # type: ignore[no-untyped-def]
    token = run("create", "helper", "--token").stdout.strip()
    result = run("revoke", token[:10])
    assert (result.exit_code, result.stdout) == (0, f"Revoked token {token[:10]} of helper.\n")
    assert AccountService(db).authenticate_token(token) is None
    again = run("revoke", token[:10])
    assert again.exit_code == 0 and "already revoked" in again.stdout
    missing = run("revoke", "hd_missing")
    assert missing.exit_code == 1 and "No API token has the prefix" in missing.stderr


def test_revoke_refuses_an_ambiguous_prefix(run, db: Session) -> None:  # type: ignore[no-untyped-def]
    first = run("create", "helper", "--token").stdout.strip()
    second = run("create", "other", "--token").stdout.strip()
    db.execute(ApiToken.__table__.update().values(prefix="hd_shared"))
    db.commit()
    result = run("revoke", "hd_shared")
    assert result.exit_code == 1 and "2 tokens share the prefix 'hd_shared'; nothing was revoked" in result.stderr
    accounts = AccountService(db)
    assert accounts.authenticate_token(first) is not None and accounts.authenticate_token(second) is not None


def test_demote_takes_role_tokens_and_sessions(run, db: Session) -> None:  # type: ignore[no-untyped-def]
    token = run("create", "helper", "--role", "admin", "--token").stdout.strip()
    accounts = AccountService(db)
    session_id = accounts.start_session(accounts.find_by_login("helper"), lifetime=LIFETIME)
    result = run("demote", "Helper")
    assert result.exit_code == 0, result.output
    assert result.stdout == "helper is user (person 1). API tokens revoked: 1; web sessions ended: 1.\n"
    db.expire_all()
    assert accounts.find_by_login("helper").role is Role.USER
    assert accounts.authenticate_token(token) is None
    assert accounts.authenticate_session(session_id, idle=LIFETIME, lifetime=LIFETIME) is None
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "person.role_changed")
                       .order_by(AuditEvent.id.desc())).first()
    assert event.data["previous"] == "admin" and event.data["tokens_revoked"] == [token[:10]]
    nobody = run("demote", "nobody")
    assert nobody.exit_code == 1 and "Nobody has the GitHub login" in nobody.stderr
