"""Per-person ticket limits on every channel: the web form, the API, Slack and the forum (issue #10).

Limits at limit-1, limit and limit+1; the Retry-After the API gives; Slack and forum questions past a limit
kept (held) and answered once in their thread; follow-ups never counting; staff exempt; and two filings
racing at the limit on PostgreSQL, where only one may pass.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person
from helpdesk.audit import AuditEvent
from helpdesk.config import Settings
from helpdesk.tickets.limits import HeldDelivery
from helpdesk.tickets.models import InboundDelivery, OutboxItem, Status, Ticket
from helpdesk.worker import OutboxWorker
from tests.channels.conftest import channel_overrides
from tests.conftest import csrf_token_from
from tests.support.fakes import FakeDiscourse, FakeSlack
from tests.support.forum import deliver, post_payload
from tests.support.reading import count, fresh
from tests.support.slack import EVENTS, message_event, send
from tests.support.threads import run_together


@pytest.fixture
def settings(make_settings: Callable[..., Settings], fake_slack: FakeSlack, fake_discourse: FakeDiscourse) -> Settings:
    return make_settings(**channel_overrides(fake_slack.api_url, fake_discourse.url), channel_acknowledge=False,
                         tickets_per_day=3, open_tickets_per_person=0)


def api_file(client: FlaskClient, token_or_none: str | None, n: int, **headers: str):  # type: ignore[no-untyped-def]
    auth = {"Authorization": f"Bearer {token_or_none}"} if token_or_none else {}
    return client.post("/api/v1/tickets", json={"subject": f"Question {n}", "body": "How do I query DP0.2?"},
                       headers={**auth, **headers})


def person_token(db_session: Session, login: str) -> tuple[Person, str]:
    """A plain user with an API token (issued the way staff tokens are, then the role taken back)."""
    from helpdesk.accounts.models import Role
    from helpdesk.accounts.services import AccountService

    service = AccountService(db_session)
    person, token = service.create_staff(login, Role.STAFF, with_token=True)
    person.role = Role.USER
    db_session.commit()
    assert token
    return person, token


class TestWeb:
    def file(self, client: FlaskClient, subject: str):  # type: ignore[no-untyped-def]
        page = client.get("/tickets/new")
        return client.post("/tickets/new", data={"subject": subject, "body": "What is the TAP limit?",
                                                "csrf_token": csrf_token_from(page.get_data(as_text=True))})

    def test_the_fourth_ticket_of_the_day_gets_a_kind_message_and_keeps_the_form(
        self, client: FlaskClient, login, db_session: Session  # type: ignore[no-untyped-def]
    ) -> None:
        login("delegate")
        for n in range(2):  # limit - 1
            assert self.file(client, f"Question {n}").status_code == 302
        assert self.file(client, "Question 2").status_code == 302  # the limit-th still files
        refused = self.file(client, "My fourth question")  # limit + 1
        assert refused.status_code == 429
        html = refused.get_data(as_text=True)
        assert "You can file again from" in html and 'role="alert"' in html
        assert 'value="My fourth question"' in html and "What is the TAP limit?" in html  # the form kept
        assert int(refused.headers["Retry-After"]) > 24 * 3600 - 120
        assert count(db_session, Ticket) == 3

    def test_replying_on_an_open_ticket_past_the_limit_still_works(
        self, client: FlaskClient, login, db_session: Session  # type: ignore[no-untyped-def]
    ) -> None:
        login("delegate")
        for n in range(3):
            self.file(client, f"Question {n}")
        fresh(db_session)
        ticket = db_session.scalars(select(Ticket)).first()
        page = client.get(f"/tickets/{ticket.id}")
        reply = client.post(f"/tickets/{ticket.id}", data={
            "body": "More detail", "csrf_token": csrf_token_from(page.get_data(as_text=True))})
        assert reply.status_code == 302


class TestApi:
    def test_limit_minus_one_limit_and_past_it(self, client: FlaskClient, db_session: Session,
                                               settings: Settings) -> None:
        _, token = person_token(db_session, "asker")
        assert [api_file(client, token, n).status_code for n in range(3)] == [201, 201, 201]
        refused = api_file(client, token, 3)
        assert refused.status_code == 429
        error = refused.get_json()["error"]
        assert error["code"] == "ticket_limit" and error["details"]["limit"] == "per_day"
        fresh(db_session)
        oldest = min(db_session.scalars(select(Ticket.created_at)))
        retry_after = int(refused.headers["Retry-After"])
        # The oldest of the three ages out of the 24 hours first: that is when the fourth may go in.
        from helpdesk.db import utcnow

        expected = (oldest + timedelta(hours=24) - utcnow()).total_seconds()
        assert abs(retry_after - expected) <= 5
        assert error["details"]["retry_after"] == retry_after
        assert count(db_session, Ticket) == 3

    def test_a_replay_of_a_filed_request_is_answered_not_refused(self, client: FlaskClient,
                                                                 db_session: Session) -> None:
        _, token = person_token(db_session, "asker")
        first = [api_file(client, token, n, **{"Idempotency-Key": f"k{n}"}) for n in range(3)]
        assert [r.status_code for r in first] == [201] * 3
        replay = api_file(client, token, 2, **{"Idempotency-Key": "k2"})
        assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
        assert api_file(client, token, 3, **{"Idempotency-Key": "k3"}).status_code == 429

    def test_a_day_later_they_may_file_again(self, client: FlaskClient, db_session: Session) -> None:
        _, token = person_token(db_session, "asker")
        for n in range(3):
            api_file(client, token, n)
        fresh(db_session)
        for ticket in db_session.scalars(select(Ticket)):
            ticket.created_at -= timedelta(hours=24, seconds=1)
        db_session.commit()
        assert api_file(client, token, 3).status_code == 201

    def test_staff_are_exempt(self, client: FlaskClient, staff_token: str, db_session: Session) -> None:
        assert [api_file(client, staff_token, n).status_code for n in range(5)] == [201] * 5

    def test_the_open_ticket_limit_lifts_when_one_is_resolved(self, make_settings, db_session: Session,
                                                              fake_slack, fake_discourse) -> None:  # type: ignore[no-untyped-def]
        from helpdesk import create_app

        app = create_app(make_settings(open_tickets_per_person=2))
        client = app.test_client()
        try:
            _, token = person_token(db_session, "asker")
            assert [api_file(client, token, n).status_code for n in range(2)] == [201, 201]
            refused = api_file(client, token, 2)
            assert refused.status_code == 429 and refused.get_json()["error"]["details"]["limit"] == "open"
            assert int(refused.headers["Retry-After"]) == 3600
            assert "as soon as one of" in refused.get_json()["error"]["message"]
            fresh(db_session)
            db_session.execute(update(Ticket).where(Ticket.id == db_session.scalars(select(Ticket.id)).first())
                               .values(status=Status.RESOLVED))
            db_session.commit()
            assert api_file(client, token, 3).status_code == 201
        finally:
            app.extensions["helpdesk"].engine.dispose()

    def test_openapi_declares_the_limit(self, client: FlaskClient) -> None:
        spec = client.get("/openapi.json").get_json()
        refused = spec["paths"]["/tickets"]["post"]["responses"]["429"]
        assert "ticket_limit" in refused["description"] and "Retry-After" in refused["headers"]


def slack_question(n: int, **event: object) -> dict:  # type: ignore[type-arg]
    return message_event(f"Question {n} about the Butler", event_id=f"Ev{n}", ts=f"1700000000.{n:06d}", **event)


class TestSlack:
    def test_past_the_limit_the_question_is_kept_and_answered_once(
        self, app: Flask, client: FlaskClient, db_session: Session, settings: Settings, fake_slack: FakeSlack,
    ) -> None:
        for n in range(3):
            assert send(client, EVENTS, slack_question(n)).status_code == 200
        assert count(db_session, Ticket) == 3
        past = slack_question(3)
        assert send(client, EVENTS, past).status_code == 200
        for retry in (1, 2):
            assert send(client, EVENTS, past, retry_num=retry).status_code == 200  # Slack's retries
        assert count(db_session, Ticket) == 3
        (held,) = db_session.scalars(select(HeldDelivery)).all()
        assert held.body == "Question 3 about the Butler" and held.reason == "per_day"
        assert held.thread_key == "C111:1700000000.000003"
        assert {d.external_id for d in db_session.scalars(
            select(InboundDelivery).where(InboundDelivery.ticket_id.is_(None)))} == {"event:Ev3", "msg:C111:1700000000.000003"}
        # A follow-up in the held thread joins what was kept: no second notice, nothing counted.
        follow = message_event("More detail", event_id="Ev9", ts="1700000009.000000",
                               thread_ts="1700000000.000003", parent_user_id="W111")
        assert send(client, EVENTS, follow).status_code == 200
        fresh(db_session)
        assert db_session.get(HeldDelivery, held.id).body.endswith("More detail")
        (notice,) = [o for o in db_session.scalars(select(OutboxItem)) if o.kind == "limit_notice"]
        OutboxWorker(app.extensions["helpdesk"].session_factory, settings, rng=lambda: 0.5).run_once()
        OutboxWorker(app.extensions["helpdesk"].session_factory, settings, rng=lambda: 0.5).run_once()
        (posted,) = fake_slack.posted()
        assert posted["channel"] == "C111" and posted["thread_ts"] == "1700000000.000003"
        assert "You can file again from" in posted["text"]
        audit = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "ticket.held")).one()
        assert audit.data["held_id"] == held.id

    def test_staff_asking_in_slack_are_exempt(self, client: FlaskClient, db_session: Session) -> None:
        send(client, EVENTS, slack_question(0))
        fresh(db_session)
        from helpdesk.accounts.models import Role

        person = db_session.scalars(select(Person)).one()
        person.role = Role.STAFF
        db_session.commit()
        for n in range(1, 6):
            assert send(client, EVENTS, slack_question(n)).status_code == 200
        assert count(db_session, Ticket) == 6 and count(db_session, HeldDelivery) == 0

    def test_a_reply_in_a_ticket_thread_never_counts(self, client: FlaskClient, db_session: Session) -> None:
        for n in range(3):
            send(client, EVENTS, slack_question(n))
        reply = message_event("Thanks, one more thing", event_id="EvR", ts="1700000050.000000",
                              thread_ts="1700000000.000001", parent_user_id="W111")
        assert send(client, EVENTS, reply).status_code == 200
        fresh(db_session)
        assert count(db_session, HeldDelivery) == 0
        ticket = db_session.scalars(select(Ticket).where(Ticket.thread_key == "C111:1700000000.000001")).one()
        assert [m.body for m in ticket.messages] == ["Thanks, one more thing"]


class TestForum:
    def test_past_the_limit_the_post_is_kept_and_answered_in_its_topic_once(
        self, app: Flask, client: FlaskClient, db_session: Session, settings: Settings,
        fake_discourse: FakeDiscourse,
    ) -> None:
        for n in range(3):
            answer = deliver(client, post_payload(id=100 + n, topic_id=200 + n, raw=f"Question {n}"))
            assert answer.get_json()["ticket"] is not None
        past = post_payload(id=103, topic_id=203, raw="Question 3 on TAP")
        answer = deliver(client, past)
        assert answer.status_code == 200 and answer.get_json()["ticket"] is None
        assert answer.get_json()["held"] is not None
        assert deliver(client, past).get_json()["duplicate"] is True
        assert count(db_session, Ticket) == 3 and count(db_session, HeldDelivery) == 1
        for _ in range(2):
            OutboxWorker(app.extensions["helpdesk"].session_factory, settings, rng=lambda: 0.5).run_once()
        (created,) = fake_discourse.created()
        sent = created.json or created.form
        assert str(sent["topic_id"]) == "203" and "You can file again from" in sent["raw"]


@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_two_filings_racing_at_the_limit_on_postgresql_only_one_passes(
    app: Flask, db_session: Session,
) -> None:
    _, token = person_token(db_session, "racer")
    clients = [app.test_client() for _ in range(8)]
    first = api_file(clients[0], token, 0)
    second = api_file(clients[0], token, 1)
    assert (first.status_code, second.status_code) == (201, 201)

    def file(client: FlaskClient, n: int) -> int:
        return api_file(client, token, n).status_code

    statuses = run_together(file, [(c, 10 + i) for i, c in enumerate(clients)])
    assert sorted(statuses) == [201] + [429] * 7
    assert count(db_session, Ticket) == 3
