"""``helpdesk worker`` syncs escalations on its own every ``worker_escalation_sync_seconds``, in a thread of its
own: a tracker that fails or hangs neither stops the sync for good nor holds up deliveries."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.tickets.models import Escalation, EscalationState, OutboxItem, OutboxStatus
from helpdesk.worker import OutboxWorker
from tests.escalation.test_sync import escalated_and_filed, thread_texts
from tests.support.fake_trackers import FakeJira
from tests.support.fakes import FakeSlack, Scripted
from tests.support.reading import fresh

FAST = {"worker_escalation_sync_seconds": 0.05, "worker_poll_seconds": 0.02}


@contextmanager
def running(worker: OutboxWorker) -> Iterator[threading.Thread]:
    runner = threading.Thread(target=worker.run_forever_in_thread, daemon=True)
    runner.start()
    try:
        yield runner
    finally:
        worker.stopping.set()
        runner.join(10)
    assert not runner.is_alive(), "the worker did not stop"


def wait_for(check: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def escalation_state(db_session: Session) -> EscalationState:
    fresh(db_session)
    return db_session.scalars(select(Escalation)).one().state


def test_the_running_worker_syncs_and_tells_the_requester_without_the_command(
    client: FlaskClient, db_session: Session, staff_token: str, make_worker: Callable[..., OutboxWorker],
    fake_jira: FakeJira, fake_slack: FakeSlack,
) -> None:
    escalated_and_filed(client, db_session, staff_token, make_worker)
    fake_jira.transition("DM-1", "Done", "Done")
    with running(make_worker(**FAST)):
        assert wait_for(lambda: escalation_state(db_session) is EscalationState.RESOLVED)
        # the reply the sync queued goes out through the same worker's deliveries
        assert wait_for(lambda: any("as fixed" in text for text in thread_texts(fake_slack)))
    told = [text for text in thread_texts(fake_slack) if "as fixed" in text]
    assert len(told) == 1, "the requester is told once, however many rounds ran"


def test_a_failing_tracker_is_retried_next_round_and_the_worker_lives_on(
    client: FlaskClient, db_session: Session, staff_token: str, make_worker: Callable[..., OutboxWorker],
    fake_jira: FakeJira,
) -> None:
    escalated_and_filed(client, db_session, staff_token, make_worker)
    fake_jira.transition("DM-1", "Done", "Done")
    fake_jira.script("issue", *[Scripted(502, {"errorMessages": ["Bad gateway"]})] * 3)
    reads_before = len(fake_jira.calls("issue"))
    with running(make_worker(**FAST)) as runner:
        assert wait_for(lambda: escalation_state(db_session) is EscalationState.RESOLVED)
        assert runner.is_alive()
    assert len(fake_jira.calls("issue")) >= reads_before + 4, "three failed reads, then one that worked"


def test_a_hanging_tracker_does_not_hold_up_deliveries(
    client: FlaskClient, db_session: Session, staff_token: str, make_worker: Callable[..., OutboxWorker],
    fake_jira: FakeJira, fake_slack: FakeSlack,
) -> None:
    escalation = escalated_and_filed(client, db_session, staff_token, make_worker)
    fake_jira.script("issue", Scripted(200, {}, stall=3.0))  # the tracker takes 3 s to answer the first read
    with running(make_worker(**FAST)):
        assert wait_for(lambda: len(fake_jira.calls("issue")) >= 1)
        started = time.monotonic()
        answer = client.post(f"/api/v1/tickets/{escalation.ticket_id}/replies", json={"body": "Fixed upstream."},
                             headers={"Authorization": f"Bearer {staff_token}"})  # queues a reply to deliver
        assert answer.status_code == 201

        def acknowledged() -> bool:
            fresh(db_session)
            return all(i.status is OutboxStatus.DELIVERED for i in db_session.scalars(select(OutboxItem)))

        assert wait_for(acknowledged)
        assert time.monotonic() - started < 2.5, "the delivery waited for the tracker"


def test_zero_turns_the_sync_off(
    client: FlaskClient, db_session: Session, staff_token: str, make_worker: Callable[..., OutboxWorker],
    fake_jira: FakeJira,
) -> None:
    escalated_and_filed(client, db_session, staff_token, make_worker)
    fake_jira.transition("DM-1", "Done", "Done")
    worker = make_worker(worker_escalation_sync_seconds=0, worker_poll_seconds=0.02)
    assert worker.start_escalation_sync() is None
    reads_before = len(fake_jira.calls("issue"))
    with running(worker):
        time.sleep(0.3)
    assert len(fake_jira.calls("issue")) == reads_before
    assert escalation_state(db_session) is EscalationState.OPEN


def test_one_sync_survives_a_broken_database(make_worker: Callable[..., OutboxWorker]) -> None:
    worker = make_worker()

    def broken() -> Session:
        raise RuntimeError("no database")

    worker.session_factory = broken  # type: ignore[assignment]
    assert worker.sync_escalations() is None
