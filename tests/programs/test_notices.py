"""Every change to an application tells the person through the outbox: an email, and a Slack direct message
when they linked Slack; the worker delivers both, once."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Identity, Person, Provider
from helpdesk.config import Settings
from helpdesk.factory import Factory
from helpdesk.programs.services import ProgramService
from helpdesk.tickets.models import OutboxItem, OutboxKind, OutboxStatus
from helpdesk.worker import OutboxWorker
from tests.channels import conftest as channels
from tests.programs.conftest import form
from tests.support import smtp as mail
from tests.support.clock import Clock
from tests.support.fakes import FakeSlack
from tests.support.reading import fresh
from tests.support.smtp import SmtpServer

# Fixtures shared by name: the channel tests' fake Slack (and no proxies for loopback), a local SMTP server.
_no_proxies, fake_slack, smtp = channels._no_proxies, channels.fake_slack, mail.smtp


@pytest.fixture
def settings(make_settings: Callable[..., Settings], fake_slack: FakeSlack, smtp: SmtpServer) -> Settings:
    return make_settings(slack_bot_token="xoxb-test-token", slack_api_url=fake_slack.api_url,
                         slack_signing_secret="s" * 32, channel_timeout_seconds=5, **smtp.settings())


def test_applicants_hear_of_every_change_by_email_and_slack(
    app: Flask, settings: Settings, db_session: Session, make_person: Callable[..., Person], admin: Person,
    fake_slack: FakeSlack, smtp: SmtpServer,
) -> None:
    clock = Clock()
    vera = make_person("vera")
    db_session.add(Identity(person_id=vera.id, provider=Provider.SLACK, external_id="U0VERA"))
    db_session.commit()
    bob = make_person("bob")  # no Slack: email only
    service = Factory(db_session, settings, clock).create_program_service()
    assert isinstance(service, ProgramService) and service.email and service.slack
    service.set_cap(admin, "dp0", 31)  # one open seat
    application = service.apply(vera, "dp0", form("Vera"))[0]
    service.apply(bob, "dp0", form("Bob"))
    service.decide(admin, application.id, "decline", "Not on the data-rights holders list")  # bob moves up
    kinds = list(db_session.execute(select(OutboxItem.channel, OutboxItem.payload["to"].as_string())
                                    .where(OutboxItem.kind == OutboxKind.PROGRAMME_NOTICE.value)
                                    .order_by(OutboxItem.id)))
    assert [tuple(k) for k in kinds] == [("email", "vera@example.edu"), ("slack", "U0VERA"),
                                         ("email", "bob@example.edu"),
                                         ("email", "vera@example.edu"), ("slack", "U0VERA"),
                                         ("email", "bob@example.edu")]

    worker = OutboxWorker(app.extensions["helpdesk"].session_factory, settings, clock=clock, rng=lambda: 0.5)
    stats = worker.run_once()
    assert (stats.delivered, stats.dead) == (6, 0), stats.errors
    dms = [call.json for call in fake_slack.calls("chat.postMessage")]
    assert [dm["channel"] for dm in dms] == ["U0VERA", "U0VERA"]
    assert "being checked" in dms[0]["text"] and "Not on the data-rights holders list" in dms[1]["text"]
    subjects = [(m["To"], m["Subject"]) for m in smtp.messages]
    assert subjects == [("vera@example.edu", "Data Preview 0 delegates: your application is being checked"),
                        ("bob@example.edu", "Data Preview 0 delegates: your application is waitlisted"),
                        ("vera@example.edu", "Data Preview 0 delegates: your application is declined"),
                        ("bob@example.edu", "Data Preview 0 delegates: your application is being checked")]
    decline = smtp.messages[2].get_content()
    assert "Not on the data-rights holders list" in decline and "ask the accounts team" in decline
    assert worker.run_once().delivered == 0  # delivered once
    fresh(db_session)
    assert set(db_session.scalars(select(OutboxItem.status).where(
        OutboxItem.kind == OutboxKind.PROGRAMME_NOTICE.value))) == {OutboxStatus.DELIVERED}


def test_without_email_or_slack_nothing_is_queued(db_session: Session, make_person: Callable[..., Person]) -> None:
    ProgramService(db_session).apply(make_person("solo"), "dp0", form("Solo"))
    assert db_session.scalar(select(OutboxItem.id).where(OutboxItem.kind == OutboxKind.PROGRAMME_NOTICE.value)) is None
