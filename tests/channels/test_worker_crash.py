"""Kill -9 the real ``helpdesk worker`` in the middle of a delivery; the next run must not post again."""

from __future__ import annotations

import os

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from helpdesk.config import Settings
from helpdesk.tickets.models import OutboxStatus
from tests.support.fakes import FakeSlack, Scripted
from tests.support.reading import outbox_items as items
from tests.support.slack import slack_ticket
from tests.support.worker_process import kill_worker_once, rerun_worker

pytestmark = pytest.mark.slow


def worker_env(settings: Settings, fake_slack: FakeSlack) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy") and not k.startswith("HELPDESK_")}
    env.update({
        "HELPDESK_ENV": "testing",
        "HELPDESK_DATABASE_URL": settings.database_url,
        "HELPDESK_SECRET_KEY": "crash-test-secret-" + "x" * 32,
        "HELPDESK_SLACK_SIGNING_SECRET": "unused-here",
        "HELPDESK_SLACK_BOT_TOKEN": "xoxb-test-token",
        "HELPDESK_SLACK_API_URL": fake_slack.api_url,
        "HELPDESK_CHANNEL_TIMEOUT_SECONDS": "30",
        "HELPDESK_WORKER_LEASE_SECONDS": "2",
        "HELPDESK_WORKER_POLL_SECONDS": "0.2",
        "HELPDESK_LOG_LEVEL": "WARNING",
        "NO_PROXY": "127.0.0.1,localhost",
    })
    return env


def test_killed_mid_delivery_then_restarted_posts_exactly_once(
    client: FlaskClient, db_session: Session, settings: Settings, fake_slack: FakeSlack
) -> None:
    slack_ticket(client, db_session)  # enqueues the acknowledgement
    # Slack receives and stores the message, but the answer is held back: the worker is mid-request.
    fake_slack.script("chat.postMessage", Scripted(stall=60, then_normal=True))
    env = worker_env(settings, fake_slack)
    kill_worker_once(env, lambda: bool(fake_slack.messages), "posted")
    (item,) = items(db_session)
    assert item.status is OutboxStatus.PENDING and item.remote_id is None and item.locked_until is not None

    rerun = rerun_worker(env)  # once the dead worker's lease has run out
    assert rerun.returncode == 0, rerun.stderr
    assert "1 delivered" in rerun.stdout

    assert len(fake_slack.posted()) == 1 and len(fake_slack.messages) == 1
    (item,) = items(db_session)
    assert item.status is OutboxStatus.DELIVERED
    assert item.remote_id == fake_slack.messages[0]["ts"] and item.attempts == 2
