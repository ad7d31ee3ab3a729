"""New Slack users' names and verified emails, looked up by the worker; the same verified email joins people."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Identity, Person, Provider
from helpdesk.accounts.services import AccountService
from helpdesk.audit import AuditEvent
from helpdesk.config import Settings
from helpdesk.tickets.models import OutboxItem, OutboxStatus, Ticket
from helpdesk.worker import OutboxWorker
from tests.support.fakes import FakeSlack, Scripted
from tests.support.reading import fresh
from tests.support.slack import EVENTS, message_event, send


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"slack_profile_lookup": True})


@pytest.fixture
def worker(app: Flask, settings: Settings) -> OutboxWorker:
    return OutboxWorker(app.extensions["helpdesk"].session_factory, settings)


def profile_items(session: Session) -> list[OutboxItem]:
    fresh(session)
    return list(session.scalars(select(OutboxItem).where(OutboxItem.kind == "profile")))


def test_new_slack_user_gets_name_and_email(client: FlaskClient, db_session: Session, worker: OutboxWorker,
                                           fake_slack: FakeSlack) -> None:
    fake_slack.add_user("W111", "Vera Rubin", "Vera@Example.org")
    send(client, EVENTS, message_event("first question"))
    send(client, EVENTS, message_event("second question", event_id="Ev2", ts="1596183999.000100"))
    (item,) = profile_items(db_session)  # one lookup per new person, not per message
    assert item.payload == {"user": "W111"} and item.ticket_id is None
    assert worker.run_once().dead == 0
    (call,) = fake_slack.calls("users.info")
    assert call.form["user"] == "W111" or call.query.get("user") == "W111"
    fresh(db_session)
    person = db_session.scalars(select(Identity).where(Identity.provider == Provider.SLACK)).one().person
    assert (person.display_name, person.email, person.email_verified) == ("Vera Rubin", "vera@example.org", True)
    assert profile_items(db_session)[0].status is OutboxStatus.DELIVERED


def test_verified_email_joins_the_slack_user_to_a_known_person(
    client: FlaskClient, db_session: Session, worker: OutboxWorker, fake_slack: FakeSlack,
) -> None:
    known = AccountService(db_session).sign_in_github("vrubin", email="vera@example.org")
    known.email_verified = True
    db_session.commit()
    fake_slack.add_user("W111", "Vera Rubin", "vera@example.org")
    send(client, EVENTS, message_event("a question from Slack"))
    worker.run_once()
    fresh(db_session)
    survivor = db_session.get(Person, known.id)
    assert {i.provider for i in survivor.identities} == {Provider.GITHUB, Provider.SLACK}
    assert db_session.scalars(select(Ticket)).one().requester_id == known.id
    merge = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "person.merged")).one()
    assert merge.actor_id is None and merge.data["counts"]["ticket.requester_id"] == 1


def test_unknown_or_bot_users_and_outages(client: FlaskClient, db_session: Session, worker: OutboxWorker,
                                         fake_slack: FakeSlack, make_settings: Callable[..., Settings]) -> None:
    fake_slack.script("users.info", Scripted(503, {"ok": False, "error": "service_unavailable"}))
    send(client, EVENTS, message_event("question"))
    assert worker.run_once().retried == 1
    (item,) = profile_items(db_session)
    assert item.status is OutboxStatus.PENDING and item.attempts == 1
    # users.info answering user_not_found is final: nothing to learn.
    item.next_attempt_at = item.created_at
    db_session.commit()
    assert worker.run_once().dead == 1
