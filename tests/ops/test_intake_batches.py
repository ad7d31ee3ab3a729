"""SQLite intake writes the deliveries a process has waiting in one transaction (helpdesk.tickets.intake).

Known askers' questions that arrive while another is being written wait in the process; the next of them
writes them all, each in a savepoint of its own, and commits once. These tests hold the process's writer lock
while the deliveries arrive, so that they all wait and are written as one batch, then check what every
acknowledged delivery left behind: one ticket per question, a retry or a twin never a second one, and a
delivery that fails in the middle of its rows leaving none of them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from helpdesk.audit import AuditEvent
from helpdesk.config import Settings
from helpdesk.tickets import intake
from helpdesk.tickets.models import InboundDelivery, OutboxItem, Ticket
from tests.support.reading import fresh
from tests.support.signing import SLACK_SECRET, signed_slack_request
from tests.support.slack import EVENTS, SUPPORT_CHANNEL, message_event
from tests.support.threads import JOIN_SECONDS

pytestmark = pytest.mark.usefixtures("sqlite_only")


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(slack_signing_secret=SLACK_SECRET, slack_bot_token="xoxb-test-token",
                         slack_channel_ids=SUPPORT_CHANNEL, slack_profile_lookup=False)


@pytest.fixture
def sqlite_only(app: Flask) -> None:
    if app.extensions["helpdesk"].engine.dialect.name != "sqlite":
        pytest.skip("batches are SQLite's: PostgreSQL writes each delivery in one statement of its own")


@contextmanager
def one_batch(app: Flask, expected: int) -> Iterator[None]:
    """Hold this process's SQLite writer lock until ``expected`` deliveries wait, then let them go as one batch."""
    engine = app.extensions["helpdesk"].engine
    key = str(engine.url)
    with intake._SQLITE_WRITERS_LOCK:  # noqa: SLF001 - the lock the batch leader takes
        writers = intake._SQLITE_WRITERS.setdefault(key, threading.Lock())  # noqa: SLF001
        state = intake._BATCHES.setdefault(key, intake._Batches())  # noqa: SLF001
    writers.acquire()
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            writers.release()

    try:
        def wait_for_all() -> None:
            deadline = time.monotonic() + JOIN_SECONDS
            while len(state.waiting) < expected and time.monotonic() < deadline:
                time.sleep(0.005)
            release()

        watcher = threading.Thread(target=wait_for_all, daemon=True)
        watcher.start()
        yield
        watcher.join(JOIN_SECONDS)
    finally:
        release()


def deliver_together(app: Flask, requests: list[tuple[dict[str, str], bytes]]) -> list[int]:
    """Each signed request from its own client and thread, all waiting for one batch; their status codes."""
    statuses: list[int | None] = [None] * len(requests)
    errors: list[BaseException] = []

    def deliver(index: int, headers: dict[str, str], raw: bytes) -> None:
        try:
            statuses[index] = app.test_client().post(EVENTS, data=raw, headers=headers).status_code
        except BaseException as exc:  # noqa: BLE001 - raised again in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(i, *request), daemon=True) for i, request in enumerate(requests)]
    with one_batch(app, len(requests)):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(JOIN_SECONDS)
    if errors:
        raise errors[0]
    assert not any(thread.is_alive() for thread in threads), "a delivery never returned"
    return statuses  # type: ignore[return-value]


def statements_seen(app: Flask) -> list[str]:
    seen: list[str] = []
    event.listen(app.extensions["helpdesk"].engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_: seen.append(statement))
    return seen


def count(session: Session, column: object, *where: object) -> int:
    return session.scalar(select(func.count(column)).where(*where))  # type: ignore[arg-type]


@pytest.fixture
def known_askers(app: Flask) -> Callable[[int], None]:
    """Make ``n`` Slack users known (each files one question on the general path first)."""

    def make(n: int) -> None:
        client = app.test_client()
        for i in range(n):
            headers, raw = signed_slack_request(message_event(
                f"First question {i}", user=f"W{i:03d}", event_id=f"EvFirst{i}", ts=f"1600000000.{i:06d}"))
            assert client.post(EVENTS, data=raw, headers=headers).status_code == 200

    return make


def test_questions_written_in_one_batch_are_each_stored_once_and_retries_file_nothing(
    app: Flask, db_session: Session, known_askers: Callable[[int], None],
) -> None:
    known_askers(4)
    questions = [message_event(f"Question {i} about the TAP service", user=f"W{i % 4:03d}", event_id=f"EvQ{i}",
                               ts=f"1700000000.{i:06d}") for i in range(8)]
    # Every question twice, the second as Slack's retry.
    requests = [signed_slack_request(q) for q in questions] + [signed_slack_request(q, retry_num=1) for q in questions]
    seen = statements_seen(app)
    assert deliver_together(app, requests) == [200] * 16
    # One transaction wrote them all, each delivery in a savepoint of its own; the only other transactions are
    # the 8 retries' look-ups of the earlier delivery, after the batch's commit.
    assert sum(s.startswith("SAVEPOINT") for s in seen) == 16
    assert sum(s.startswith("BEGIN") for s in seen) == 1 + 8
    fresh(db_session)
    for i, _question in enumerate(questions):
        thread = f"{questions[i]['event']['channel']}:1700000000.{i:06d}"
        ticket = db_session.scalars(select(Ticket).where(Ticket.thread_key == thread)).one()
        assert ticket.subject == f"Question {i} about the TAP service"
        assert sorted(db_session.scalars(select(InboundDelivery.external_id).where(
            InboundDelivery.ticket_id == ticket.id))) == [f"event:EvQ{i}", f"msg:{thread}"]
        assert count(db_session, OutboxItem.id, OutboxItem.ticket_id == ticket.id, OutboxItem.kind == "ack") == 1
        assert count(db_session, AuditEvent.id, AuditEvent.ticket_id == ticket.id,
                     AuditEvent.action == "ticket.filed") == 1
    assert count(db_session, Ticket.id) == 4 + 8


def test_a_delivery_that_fails_midway_in_a_batch_leaves_none_of_its_rows(
    app: Flask, db_session: Session, known_askers: Callable[[int], None],
) -> None:
    known_askers(2)
    # Two messages in other threads that carry one event id: the second one's ticket goes in, then its ledger
    # key collides with the first one's, so the whole of the second delivery (ticket, audit, search row,
    # outbox) must go, and the first one and the other batch members must stay.
    first = message_event("The first one", user="W000", event_id="EvSame", ts="1700000100.000001")
    second = message_event("The second one", user="W001", event_id="EvSame", ts="1700000100.000002")
    other = message_event("Another question", user="W001", event_id="EvOther", ts="1700000100.000003")
    statuses = deliver_together(app, [signed_slack_request(b) for b in (first, second, other)])
    assert statuses == [200, 200, 200]
    fresh(db_session)
    subjects = sorted(db_session.scalars(select(Ticket.subject).where(Ticket.subject.not_like("First question%"))))
    assert len([s for s in subjects if s in ("The first one", "The second one")]) == 1
    assert "Another question" in subjects
    tickets = count(db_session, Ticket.id)
    assert tickets == 2 + 2
    # No row of the rolled-back delivery is left: one filed event, one acknowledgement per ticket.
    assert count(db_session, AuditEvent.id, AuditEvent.action == "ticket.filed") == tickets
    assert count(db_session, OutboxItem.id, OutboxItem.kind == "ack") == tickets
    assert count(db_session, InboundDelivery.id) == 2 * tickets


def test_a_failed_commit_fails_every_delivery_of_the_batch_and_stores_none(
    app: Flask, db_session: Session, known_askers: Callable[[int], None], monkeypatch: pytest.MonkeyPatch,
) -> None:
    known_askers(2)
    original = Session.commit

    def refuse(session: Session) -> None:
        if session.get_bind().dialect.name == "sqlite" and threading.current_thread() is not threading.main_thread():
            raise RuntimeError("disk full")
        original(session)

    monkeypatch.setattr(Session, "commit", refuse)
    requests = [signed_slack_request(message_event(f"Lost {i}", user=f"W{i % 2:03d}", event_id=f"EvL{i}",
                                                   ts=f"1700000200.{i:06d}")) for i in range(4)]
    app.config["PROPAGATE_EXCEPTIONS"] = False
    statuses = deliver_together(app, requests)
    monkeypatch.setattr(Session, "commit", original)
    assert statuses == [500] * 4  # none acknowledged: Slack sends them again
    fresh(db_session)
    assert count(db_session, Ticket.id) == 2


def test_a_delivery_the_database_refuses_fails_alone_and_the_rest_of_its_batch_is_stored(
    app: Flask, db_session: Session, known_askers: Callable[[int], None], monkeypatch: pytest.MonkeyPatch,
) -> None:
    known_askers(2)
    original = intake._write_sqlite  # noqa: SLF001

    def refuse_one(connection, statement, params, **kwargs):  # type: ignore[no-untyped-def]
        if params["subject"] == "Refused":
            original(connection, statement, params, **kwargs)  # some rows written, then the database says no
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        return original(connection, statement, params, **kwargs)

    monkeypatch.setattr(intake, "_write_sqlite", refuse_one)
    requests = [signed_slack_request(message_event(subject, user=f"W{i % 2:03d}", event_id=f"EvR{i}",
                                                   ts=f"1700000300.{i:06d}"))
                for i, subject in enumerate(["Kept before", "Refused", "Kept after"])]
    app.config["PROPAGATE_EXCEPTIONS"] = False
    statuses = deliver_together(app, requests)
    assert statuses == [200, 500, 200]  # only the refused one is sent again by Slack
    fresh(db_session)
    subjects = set(db_session.scalars(select(Ticket.subject)))
    assert {"Kept before", "Kept after"} <= subjects and "Refused" not in subjects
    assert count(db_session, OutboxItem.id, OutboxItem.kind == "ack") == count(db_session, Ticket.id)
