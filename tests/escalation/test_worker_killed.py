"""Kill -9 the real ``helpdesk worker`` while Jira files the issue; the restarted worker must not file another."""

from __future__ import annotations

import os

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.config import Settings
from helpdesk.tickets.models import Escalation, EscalationState, OutboxStatus
from tests.escalation.conftest import escalate
from tests.support.fake_trackers import JIRA_TOKEN, JIRA_USER, FakeJira
from tests.support.fakes import Scripted
from tests.support.reading import fresh, outbox_items
from tests.support.worker_process import kill_worker_once, rerun_worker

pytestmark = pytest.mark.slow


def worker_env(settings: Settings, fake_jira: FakeJira) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy") and not k.startswith("HELPDESK_")}
    env.update({
        "HELPDESK_ENV": "testing",
        "HELPDESK_DATABASE_URL": settings.database_url,
        "HELPDESK_SECRET_KEY": "crash-test-secret-" + "x" * 32,
        "HELPDESK_ESCALATION_TRACKER": "jira",
        "HELPDESK_JIRA_URL": fake_jira.url,
        "HELPDESK_JIRA_PROJECT": "DM",
        "HELPDESK_JIRA_USER": JIRA_USER,
        "HELPDESK_JIRA_TOKEN": JIRA_TOKEN,
        "HELPDESK_TRIAGE_ENABLED": "false",
        "HELPDESK_CHANNEL_TIMEOUT_SECONDS": "30",
        "HELPDESK_WORKER_LEASE_SECONDS": "2",
        "HELPDESK_WORKER_POLL_SECONDS": "0.2",
        "HELPDESK_LOG_LEVEL": "WARNING",
        "NO_PROXY": "127.0.0.1,localhost",
    })
    return env


def test_killed_while_jira_files_the_issue_then_restarted_files_exactly_one(
    client: FlaskClient, db_session: Session, settings: Settings, staff_token: str, fake_jira: FakeJira,
) -> None:
    headers = {"Authorization": f"Bearer {staff_token}"}
    ticket = client.post("/api/v1/tickets", json={"subject": "SIA cutouts fail", "body": "Every cutout is a 500."},
                         headers=headers).get_json()
    assert escalate(client, staff_token, ticket["id"]).status_code == 201
    # Jira files the issue, but its answer is held back: the worker is mid-request when it dies.
    fake_jira.script("create", Scripted(stall=60, then_normal=True))
    env = worker_env(settings, fake_jira)
    kill_worker_once(env, lambda: bool(fake_jira.issues), "filed the issue")
    (item,) = outbox_items(db_session)
    assert item.status is OutboxStatus.PENDING and item.remote_id is None

    rerun = rerun_worker(env)  # once the dead worker's lease has run out
    assert rerun.returncode == 0, rerun.stderr
    assert "1 delivered" in rerun.stdout, rerun.stdout

    assert list(fake_jira.issues) == ["DM-1"] and len(fake_jira.created()) == 1
    (item,) = outbox_items(db_session)
    assert item.status is OutboxStatus.DELIVERED and item.remote_id == "DM-1" and item.attempts == 2
    fresh(db_session)
    escalation = db_session.scalars(select(Escalation)).one()
    assert escalation.remote_key == "DM-1" and escalation.state is EscalationState.OPEN
