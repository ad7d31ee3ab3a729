"""The outbox worker against fake Slack and forum servers: replies go back, outages retry, dead letters."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person
from helpdesk.config import Settings
from helpdesk.tickets.models import Message, OutboxStatus, Ticket, Visibility
from helpdesk.tickets.outbox import OutboxService
from helpdesk.tickets.services import TicketService
from helpdesk.worker import OutboxWorker, backoff_delay
from tests.support.clock import Clock
from tests.support.fakes import FakeDiscourse, FakeSlack, Scripted
from tests.support.forum import deliver as deliver_forum
from tests.support.forum import forum_ticket, post_payload
from tests.support.reading import fresh
from tests.support.reading import outbox_items as items
from tests.support.slack import EVENTS, message_event, send, slack_ticket
from tests.support.threads import run_together


class TestRepliesGoBack:
    def test_slack_acknowledgement_and_staff_reply_are_posted_in_the_thread(
        self, client: FlaskClient, db_session: Session, make_person: Callable[..., Person],
        make_worker: Callable[..., OutboxWorker], fake_slack: FakeSlack,
    ) -> None:
        ticket = slack_ticket(client, db_session)
        staff = make_person("alice", "staff")
        TicketService(db_session).reply(staff, ticket.id, "Try `butler query-collections`.")
        TicketService(db_session).reply(staff, ticket.id, "internal: user seems new", Visibility.INTERNAL)
        stats = make_worker().run_once()
        assert stats.delivered == 2 and stats.dead == 0
        ack, reply = fake_slack.calls("chat.postMessage")
        assert ack.headers["Authorization"] == "Bearer xoxb-test-token"
        assert ack.json["channel"] == "C111" and ack.json["thread_ts"] == "1596183880.004200"
        assert f"ticket #{ticket.id}" in ack.json["text"]
        assert reply.json["text"] == "Try `butler query-collections`." and reply.json["thread_ts"] == "1596183880.004200"
        assert reply.json["metadata"]["event_type"] == "helpdesk_reply"
        delivered = items(db_session)
        assert [i.status for i in delivered] == [OutboxStatus.DELIVERED] * 2  # the internal note went nowhere
        assert [i.remote_id for i in delivered] == [m["ts"] for m in fake_slack.messages]
        message = db_session.scalars(select(Message).where(Message.visibility == Visibility.PUBLIC)).one()
        assert message.external_id == fake_slack.messages[1]["ts"]

    def test_reply_through_the_api_reaches_the_forum_topic(
        self, client: FlaskClient, db_session: Session, staff_token: str,
        make_worker: Callable[..., OutboxWorker], fake_discourse: FakeDiscourse,
    ) -> None:
        ticket = forum_ticket(client, db_session)
        response = client.post(f"/api/v1/tickets/{ticket.id}/replies", json={"body": "See the DP0 docs."},
                               headers={"Authorization": f"Bearer {staff_token}"})
        assert response.status_code == 201, response.get_json()
        assert make_worker().run_once().delivered == 2
        ack, reply = fake_discourse.created()
        assert ack.headers["Api-Username"] == "dp0-support-bot" and ack.headers["Api-Key"] == "test-api-key"
        assert reply.form["topic_id"] == "11" and reply.form["raw"].startswith("See the DP0 docs.")
        assert "<!-- helpdesk:outbox-" in reply.form["raw"]
        assert [i.remote_id for i in items(db_session)] == [str(p["id"]) for p in fake_discourse.posts]

    def test_our_own_forum_post_coming_back_by_webhook_is_ignored(
        self, client: FlaskClient, db_session: Session, make_worker: Callable[..., OutboxWorker],
        fake_discourse: FakeDiscourse,
    ) -> None:
        forum_ticket(client, db_session)
        make_worker().run_once()
        ours = fake_discourse.posts[0]
        echo = post_payload(id=ours["id"], post_number=2, username="dp0-support-bot", raw=ours["raw"])
        assert "ignored" in deliver_forum(client, echo).get_json()
        fresh(db_session)
        assert db_session.scalars(select(Message)).all() == []

    def test_slash_command_ticket_adopts_the_direct_message_thread(
        self, client: FlaskClient, db_session: Session, make_person: Callable[..., Person],
        make_worker: Callable[..., OutboxWorker], fake_slack: FakeSlack,
    ) -> None:
        from tests.channels.test_slack_intake import COMMANDS, TestSlashCommand

        send(client, COMMANDS, TestSlashCommand().command("Where is the DP0.2 schema browser?"), form=True)
        make_worker().run_once()
        fresh(db_session)
        ticket = db_session.scalars(select(Ticket)).one()
        (ack,) = fake_slack.messages
        assert ack["channel"] == "D2CERLKJA" and ack["thread_ts"] is None
        assert ticket.thread_key == f"D2CERLKJA:{ack['ts']}" and ticket.external["thread_ts"] == ack["ts"]
        TicketService(db_session).reply(make_person("alice", "staff"), ticket.id, "It is at /docs/.")
        make_worker().run_once()
        assert fake_slack.messages[1]["thread_ts"] == ack["ts"] and fake_slack.messages[1]["channel"] == "D2CERLKJA"
        answer = message_event("Thanks, found it", user="U2CERLKJA", channel="D2CERLKJA", channel_type="im",
                               event_id="Ev77", ts="1800000000.000100", thread_ts=ack["ts"])
        assert send(client, EVENTS, answer).status_code == 200
        fresh(db_session)
        ticket = db_session.scalars(select(Ticket)).one()
        assert ticket.status.value == "in_progress"
        assert [m.body for m in ticket.messages][-1] == "Thanks, found it"

    def test_web_tickets_send_nothing(self, db_session: Session, make_person: Callable[..., Person],
                                      make_worker: Callable[..., OutboxWorker]) -> None:
        from helpdesk.tickets.models import Source

        requester, staff = make_person("carol"), make_person("alice", "staff")
        filed = TicketService(db_session).file(requester, "Web question", "body", Source.WEB)
        TicketService(db_session).reply(staff, filed.ticket.id, "answered on the web")
        assert items(db_session) == []
        assert make_worker().run_once().delivered == 0


class TestOutages:
    def test_503_is_retried_after_about_a_second_then_delivered(
        self, client: FlaskClient, db_session: Session, make_worker: Callable[..., OutboxWorker],
        fake_slack: FakeSlack, clock: Clock,
    ) -> None:
        slack_ticket(client, db_session)
        fake_slack.script("chat.postMessage", Scripted(503, b"<html>Service Unavailable</html>",
                                                       {"Content-Type": "text/html"}))
        worker = make_worker()
        assert worker.run_once().retried == 1
        (item,) = items(db_session)
        assert item.status is OutboxStatus.PENDING and item.attempts == 1 and "503" in item.last_error
        assert (item.next_attempt_at - clock.now).total_seconds() == pytest.approx(1.0, abs=0.01)
        assert worker.run_once().delivered == 0  # not due yet
        clock.advance(1.0)
        assert worker.run_once().delivered == 1
        (item,) = items(db_session)
        assert item.status is OutboxStatus.DELIVERED and item.attempts == 2
        # The retry first looked for an earlier post, found none, and posted once.
        assert len(fake_slack.calls("conversations.replies")) == 1
        assert len(fake_slack.posted()) == 2 and len(fake_slack.messages) == 1

    def test_429_waits_for_retry_after(self, client: FlaskClient, db_session: Session,
                                       make_worker: Callable[..., OutboxWorker], fake_slack: FakeSlack,
                                       clock: Clock) -> None:
        slack_ticket(client, db_session)
        fake_slack.script("chat.postMessage",
                          Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"}))
        worker = make_worker()
        worker.run_once()
        (item,) = items(db_session)
        assert (item.next_attempt_at - clock.now).total_seconds() == pytest.approx(7.0)
        clock.advance(6.5)
        assert worker.run_once().delivered == 0
        clock.advance(0.5)
        assert worker.run_once().delivered == 1

    def test_forum_503_then_429_then_success(self, client: FlaskClient, db_session: Session,
                                             make_worker: Callable[..., OutboxWorker],
                                             fake_discourse: FakeDiscourse, clock: Clock) -> None:
        forum_ticket(client, db_session)
        fake_discourse.script("/posts", Scripted(503, {"errors": ["down for maintenance"]}),
                              Scripted(429, {"errors": ["slow down"], "extras": {"wait_seconds": 0}},
                                       {"Retry-After": "0"}))
        worker = make_worker()
        assert worker.run_once().retried == 1
        clock.advance(1.0)
        # pydiscourse waits out one 429 itself (wait_seconds + 1 s), then posts.
        assert worker.run_once().delivered == 1
        assert len(fake_discourse.created()) == 3 and len(fake_discourse.posts) == 1

    def test_backoff_doubles_with_jitter_and_is_capped(self, settings: Settings) -> None:
        capped = settings.model_copy(update={"worker_backoff_base_seconds": 1.0, "worker_backoff_cap_seconds": 10})
        assert [backoff_delay(capped, n, lambda: 0.5) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 10]
        assert backoff_delay(capped, 1, lambda: 0.0) == pytest.approx(0.8)
        assert backoff_delay(capped, 1, lambda: 1.0) == pytest.approx(1.2)

    def test_dead_after_max_attempts_then_staff_retry_delivers(
        self, client: FlaskClient, db_session: Session, make_worker: Callable[..., OutboxWorker],
        fake_slack: FakeSlack, clock: Clock, login: Callable[..., Person],
    ) -> None:
        slack_ticket(client, db_session)
        fake_slack.script("chat.postMessage", *[Scripted(503, {"ok": False, "error": "fatal_error"})] * 3)
        worker = make_worker(worker_max_attempts=3)
        for _ in range(3):
            worker.run_once()
            clock.advance(60)
        (item,) = items(db_session)
        assert item.status is OutboxStatus.DEAD and item.attempts == 3
        login("alice", "staff")
        assert 'href="/staff/outbox"' in client.get("/staff/").get_data(as_text=True)
        page = client.get("/staff/outbox")
        assert page.status_code == 200 and f"outbox-{item.id}" in page.get_data(as_text=True)
        from tests.conftest import csrf_token_from

        response = client.post(f"/staff/outbox/{item.id}/retry",
                               data={"csrf_token": csrf_token_from(page.get_data(as_text=True))})
        assert response.status_code == 302
        (item,) = items(db_session)
        assert item.status is OutboxStatus.PENDING and item.attempts == 0
        assert worker.run_once().delivered == 1
        assert len(fake_slack.posted()) == 4 and len(fake_slack.messages) == 1

    def test_permanent_errors_are_dead_at_once(self, client: FlaskClient, db_session: Session,
                                               make_worker: Callable[..., OutboxWorker],
                                               fake_slack: FakeSlack) -> None:
        slack_ticket(client, db_session)
        fake_slack.script("chat.postMessage", Scripted(200, {"ok": False, "error": "channel_not_found"}))
        assert make_worker().run_once().dead == 1
        (item,) = items(db_session)
        assert item.status is OutboxStatus.DEAD and "channel_not_found" in item.last_error

    def test_only_staff_retry_and_only_dead_items(self, client: FlaskClient, db_session: Session,
                                                  make_person: Callable[..., Person]) -> None:
        from helpdesk.exceptions import InvalidTransitionError, PermissionDeniedError

        slack_ticket(client, db_session)
        (item,) = items(db_session)
        with pytest.raises(PermissionDeniedError):
            OutboxService(db_session).retry(make_person("bob"), item.id)
        with pytest.raises(InvalidTransitionError):
            OutboxService(db_session).retry(make_person("alice", "staff"), item.id)


class TestCrashSafety:
    def test_posted_but_not_recorded_is_found_not_posted_again(
        self, client: FlaskClient, db_session: Session, make_worker: Callable[..., OutboxWorker],
        fake_slack: FakeSlack, clock: Clock,
    ) -> None:
        slack_ticket(client, db_session)
        # The post reaches Slack but the answer never comes back in time.
        fake_slack.script("chat.postMessage", Scripted(stall=3, then_normal=True))
        worker = make_worker(channel_timeout_seconds=1)
        assert worker.run_once().retried == 1
        clock.advance(5)
        assert worker.run_once().delivered == 1
        assert len(fake_slack.posted()) == 1
        (item,) = items(db_session)
        assert item.remote_id == fake_slack.messages[0]["ts"]

    def test_forum_post_found_by_its_marker(self, client: FlaskClient, db_session: Session,
                                            make_worker: Callable[..., OutboxWorker],
                                            fake_discourse: FakeDiscourse, clock: Clock) -> None:
        forum_ticket(client, db_session)
        fake_discourse.script("/posts", Scripted(stall=3, then_normal=True))
        worker = make_worker(channel_timeout_seconds=1)
        assert worker.run_once().retried == 1
        clock.advance(5)
        assert worker.run_once().delivered == 1
        assert len(fake_discourse.created()) == 1
        (item,) = items(db_session)
        assert item.remote_id == str(fake_discourse.posts[0]["id"])

    def test_four_workers_at_once_deliver_each_item_once(
        self, client: FlaskClient, db_session: Session, make_worker: Callable[..., OutboxWorker],
        fake_slack: FakeSlack,
    ) -> None:
        for i in range(20):
            send(client, EVENTS, message_event(f"question {i}", event_id=f"EvW{i}", ts=f"1700000200.{i:06d}"))
        workers = [make_worker(worker_batch_size=2) for _ in range(4)]
        run_together(OutboxWorker.run_once, [(w,) for w in workers])
        keys = [m["metadata"]["event_payload"]["key"] for m in fake_slack.messages]
        assert len(keys) == 20 and len(set(keys)) == 20
        assert {i.status for i in items(db_session)} == {OutboxStatus.DELIVERED}
        assert {i.attempts for i in items(db_session)} == {1}

    def test_a_claimed_item_is_not_claimed_twice(self, client: FlaskClient, db_session: Session,
                                                 make_worker: Callable[..., OutboxWorker], clock: Clock) -> None:
        slack_ticket(client, db_session)
        first, second = make_worker(), make_worker()
        assert len(first.claim()) == 1
        assert second.claim() == []
        clock.advance(121)  # the lease ran out: the item is free again
        assert len(second.claim()) == 1

