"""Triage on every intake path: the same decision whether a question comes by Slack, the forum, the
forum sync, the web form, the API or the demo loader; unsure ones wait for a person; corrections count.

Slack and forum questions are sorted by the worker right after the request that stored them
(HELPDESK_TRIAGE_IN_WORKER, the default: the acknowledgement Slack waits for pays no triage), so those tests
run the worker once before looking; the web form and the API sort as they file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person
from helpdesk.audit import AuditEvent
from helpdesk.channels.discourse import sync_missed_posts
from helpdesk.config import Settings
from helpdesk.factory import Factory, build_channel
from helpdesk.tickets.models import OutboxItem, OutboxKind, Priority, Status, Ticket
from helpdesk.worker import OutboxWorker
from tests.channels.conftest import channel_overrides
from tests.conftest import csrf_token_from
from tests.support.fakes import FakeDiscourse, FakeSlack
from tests.support.forum import CATEGORY, deliver, post_payload
from tests.support.reading import fresh
from tests.support.slack import EVENTS, message_event, send

CATALOG_QUESTION = ("TAP query times out", "My ADQL query on dp02_dc2_catalogs.Object through TAP times out after 30 s")
BUTLER_QUESTION = ("butler.get calexp fails", 'butler.get("calexp", dataId) says collection 2.2i/runs/DP0.2 is missing')
VAGUE_QUESTION = ("help", "please help me")


@pytest.fixture
def settings(make_settings: Callable[..., Settings], fake_slack: FakeSlack, fake_discourse: FakeDiscourse) -> Settings:
    return make_settings(**channel_overrides(fake_slack.api_url, fake_discourse.url), triage_enabled=True)


def only_ticket(session: Session) -> Ticket:
    fresh(session)
    return session.scalars(select(Ticket)).one()


@pytest.fixture
def run_worker(app: Flask, settings: Settings) -> Callable[[], None]:
    """``helpdesk worker --once`` in the test's process: sorts what the channels stored, posts the acks."""
    return lambda: OutboxWorker(app.extensions["helpdesk"].session_factory, settings).run_once() and None


def assert_sorted(ticket: Ticket, queue: str) -> None:
    assert ticket.queue is not None and ticket.queue.slug == queue
    assert ticket.status is Status.TRIAGED
    assert ticket.triage["queue"] == queue and not ticket.triage["needs_person"]
    assert ticket.triage["reasons"] and ticket.triage["confidence"] >= 0.40
    assert len(ticket.triage["guesses"]) == 2


def test_slack_question_lands_in_its_queue_with_reasons(client: FlaskClient, db_session: Session,
                                                        run_worker: Callable[[], None]) -> None:
    title, body = CATALOG_QUESTION
    assert send(client, EVENTS, message_event(f"{title}\n{body}")).status_code == 200
    # Stored and acknowledged unsorted; the worker's item sorts it.
    stored = only_ticket(db_session)
    assert stored.queue is None and stored.triage is None and stored.status is Status.NEW
    assert db_session.scalars(select(OutboxItem.kind).where(OutboxItem.ticket_id == stored.id)).all().count(
        OutboxKind.TRIAGE.value) == 1
    run_worker()
    ticket = only_ticket(db_session)
    assert_sorted(ticket, "catalogs")
    assert any("tap" in reason.lower() for reason in ticket.triage["reasons"])
    triaged = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "ticket.triaged")).one()
    assert triaged.data["triage"]["queue"] == "catalogs"
    # The clock runs from when they asked, as when triage sorts at filing.
    hours = ticket.queue.first_response_hours
    assert (ticket.first_response_due_at - ticket.created_at).total_seconds() == hours * 3600
    run_worker()  # nothing left to do, nothing changes
    assert only_ticket(db_session).triage == ticket.triage


@pytest.mark.parametrize("in_worker", [False])
def test_with_triage_in_the_request_a_slack_question_is_sorted_as_it_is_filed(
    make_settings: Callable[..., Settings], fake_slack: FakeSlack, fake_discourse: FakeDiscourse, in_worker: bool,
) -> None:
    from helpdesk import create_app
    from helpdesk.tickets.queues import load_queue_config, sync_queues

    app = create_app(make_settings(**channel_overrides(fake_slack.api_url, fake_discourse.url), triage_enabled=True,
                                   triage_in_worker=in_worker))
    try:
        session = app.extensions["helpdesk"].read_session_factory()
        sync_queues(session, load_queue_config())
        title, body = CATALOG_QUESTION
        assert send(app.test_client(), EVENTS, message_event(f"{title}\n{body}")).status_code == 200
        assert_sorted(only_ticket(session), "catalogs")
        filed = session.scalars(select(AuditEvent).where(AuditEvent.action == "ticket.filed")).one()
        assert filed.data["triage"]["queue"] == "catalogs"
        assert not session.scalars(select(OutboxItem).where(OutboxItem.kind == OutboxKind.TRIAGE.value)).all()
        session.close()
    finally:
        app.extensions["helpdesk"].engine.dispose()


def test_forum_webhook_and_forum_sync_sort_the_same_way(client: FlaskClient, db_session: Session,
                                                        settings: Settings, fake_discourse: FakeDiscourse,
                                                        run_worker: Callable[[], None]) -> None:
    title, body = BUTLER_QUESTION
    assert deliver(client, post_payload(raw=body, topic_title=title)).status_code == 200
    run_worker()
    assert_sorted(only_ticket(db_session), "butler")
    fake_discourse.add_post(topic_id=77, post_number=1, raw=CATALOG_QUESTION[1], username="vera", user_id=9,
                            name="Vera", category_id=CATEGORY, topic_title=CATALOG_QUESTION[0], topic_slug="t")
    result = sync_missed_posts(build_channel(settings, "discourse"),
                               Factory(db_session, settings).create_ticket_service().receive, pages=1)
    assert result.filed == 1
    run_worker()
    fresh(db_session)
    synced = db_session.scalars(select(Ticket).where(Ticket.thread_key == "77")).one()
    assert_sorted(synced, "catalogs")


def test_web_form_and_api_sort_the_same_way(client: FlaskClient, db_session: Session,
                                            login: Callable[..., Person], staff_token: str) -> None:
    title, body = CATALOG_QUESTION
    created = client.post("/api/v1/tickets", json={"subject": title, "body": body},
                          headers={"Authorization": f"Bearer {staff_token}"})
    assert created.status_code == 201
    assert created.get_json()["queue"] == "catalogs" and created.get_json()["status"] == "triaged"
    login()
    page = client.get("/tickets/new")
    response = client.post("/tickets/new", data={"subject": title, "body": body,
                                                  "csrf_token": csrf_token_from(page.get_data(as_text=True))})
    assert response.status_code == 302
    fresh(db_session)
    tickets = db_session.scalars(select(Ticket).order_by(Ticket.id)).all()
    assert [t.queue.slug for t in tickets] == ["catalogs", "catalogs"]
    assert tickets[0].triage == tickets[1].triage  # the same decision, whichever door


def test_an_unsure_ticket_waits_in_the_triage_view_with_two_guesses_and_a_correction_is_recorded(
    client: FlaskClient, db_session: Session, login: Callable[..., Person], run_worker: Callable[[], None],
) -> None:
    title, body = VAGUE_QUESTION
    assert send(client, EVENTS, message_event(f"{title}\n{body}")).status_code == 200
    run_worker()
    ticket = only_ticket(db_session)
    assert ticket.queue is None and ticket.status is Status.NEW and ticket.triage["needs_person"]
    guesses = [g["queue"] for g in ticket.triage["guesses"]]
    assert len(guesses) == 2

    login("alice", "staff")
    html = client.get("/staff/triage").get_data(as_text=True)
    assert f'id="ticket-{ticket.id}"' in html and all(f"Sort into {guess}" in html for guess in guesses)
    chosen = next(slug for slug in ("accounts", "general", "butler") if slug != guesses[0])
    response = client.post(f"/staff/triage/{ticket.id}",
                           data={"queue": chosen, "csrf_token": csrf_token_from(html)})
    assert response.status_code == 302
    assert only_ticket(db_session).queue.slug == chosen
    correction = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "triage.corrected")).one()
    assert correction.data["changes"]["queue"] == [guesses[0], chosen]
    assert f'id="ticket-{ticket.id}"' not in client.get("/staff/triage").get_data(as_text=True)


def test_urgent_words_raise_the_priority_with_a_reason(client: FlaskClient, db_session: Session,
                                                       run_worker: Callable[[], None]) -> None:
    text = "Notebook server will not start\nJupyterLab spawner stays pending then fails, all notebooks down"
    assert send(client, EVENTS, message_event(text)).status_code == 200
    run_worker()
    ticket = only_ticket(db_session)
    assert ticket.priority in (Priority.HIGH, Priority.URGENT) and ticket.triage["priority_reasons"]


def test_the_command_line_decides_as_intake_does(client: FlaskClient, db_session: Session,
                                                 settings: Settings, run_worker: Callable[[], None]) -> None:
    title, body = BUTLER_QUESTION
    assert send(client, EVENTS, message_event(f"{title}\n{body}")).status_code == 200
    run_worker()
    ticket = only_ticket(db_session)
    line = json.dumps({"id": "q1", "title": ticket.subject, "body": ticket.body})
    result = subprocess.run([sys.executable, "-m", "helpdesk", "triage", "classify"], input=line + "\n",
                            capture_output=True, text=True, timeout=120,
                            env={"HELPDESK_ENV": "testing", "HELPDESK_DATABASE_URL": settings.database_url,
                                 "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.splitlines()[0])
    assert (answer["queue"], answer["priority"]) == (ticket.triage["queue"], ticket.triage["priority"])
    assert answer["confidence"] == pytest.approx(ticket.triage["confidence"], abs=0.001)


def test_a_sorted_ticket_gets_its_clock_and_an_owner_with_room_at_once(
    client: FlaskClient, db_session: Session, make_person: Callable[..., Person], settings: Settings,
    run_worker: Callable[[], None],
) -> None:
    from helpdesk.tickets.assignment import AssignmentService

    make_person("cleo", "staff")
    AssignmentService(db_session).add_member(None, "catalogs", "cleo")
    title, body = CATALOG_QUESTION
    assert send(client, EVENTS, message_event(f"{title}\n{body}")).status_code == 200
    run_worker()
    ticket = only_ticket(db_session)
    assert ticket.queue.slug == "catalogs" and ticket.assignee is not None and ticket.assignee.handle == "cleo"
    hours = ticket.queue.first_response_hours
    assert (ticket.first_response_due_at - ticket.created_at).total_seconds() == hours * 3600
    assigned = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "ticket.assigned")).one()
    assert assigned.data["auto"] is True and assigned.actor_id is None
