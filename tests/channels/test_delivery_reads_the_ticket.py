"""The worker reads where to post from the ticket when it delivers, and outlives a database outage."""

from __future__ import annotations

import threading
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person
from helpdesk.config import Settings
from helpdesk.tickets.models import OutboxStatus, Ticket
from helpdesk.tickets.services import TicketService
from helpdesk.worker import OutboxWorker
from tests.support.fakes import FakeSlack
from tests.support.reading import fresh
from tests.support.reading import outbox_items as items
from tests.support.slack import slack_ticket


def test_a_reply_queued_before_the_thread_moved_goes_to_the_ticket_s_thread_now(
    client: FlaskClient, db_session: Session, app: Flask, settings: Settings,
    make_person: Callable[..., Person], fake_slack: FakeSlack,
) -> None:
    ticket = slack_ticket(client, db_session)
    staff = make_person("alice", "staff")
    TicketService(db_session).reply(staff, ticket.id, "Try the TAP service.")
    # The ticket now lives elsewhere (as when a thread-less ticket adopts the thread its first
    # message started): what is delivered next must follow the ticket, not a copy made when queued.
    stored = db_session.get(Ticket, ticket.id)
    stored.external = {**stored.external, "channel": "C999", "thread_ts": "1700000000.000900"}
    db_session.commit()
    OutboxWorker(app.extensions["helpdesk"].session_factory, settings, rng=lambda: 0.5).run_once()
    posts = fake_slack.calls("chat.postMessage")
    assert [(p.json["channel"], p.json["thread_ts"]) for p in posts] == [("C999", "1700000000.000900")] * 2
    assert [p.json["text"] for p in posts][1] == "Try the TAP service."


def test_the_worker_outlives_a_database_outage_and_then_delivers(
    client: FlaskClient, db_session: Session, app: Flask, settings: Settings, fake_slack: FakeSlack,
) -> None:
    slack_ticket(client, db_session)  # queues its acknowledgement
    real_factory = app.extensions["helpdesk"].session_factory
    failures = {"left": 3}

    def flaky_sessions() -> Session:
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("the database is restarting"))
        return real_factory()

    fast = settings.model_copy(update={"worker_backoff_base_seconds": 0.01, "worker_poll_seconds": 0.01})
    worker = OutboxWorker(flaky_sessions, fast, rng=lambda: 0.5)
    runner = threading.Thread(target=worker.run_forever_in_thread, daemon=True)
    runner.start()
    try:
        for _ in range(500):
            fresh(db_session)
            if all(item.status is OutboxStatus.DELIVERED for item in items(db_session)):
                break
            runner.join(0.01)
        assert runner.is_alive(), "the worker died with the database"
    finally:
        worker.stopping.set()
        runner.join(5)
    assert failures["left"] == 0
    assert [item.status for item in items(db_session)] == [OutboxStatus.DELIVERED]
    assert len(fake_slack.calls("chat.postMessage")) == 1
