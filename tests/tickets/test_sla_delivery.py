"""The worker posts a first-response warning into the staff Slack channel (a fake Slack), once, and the web
ticket it is about does not adopt that channel as its thread."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from helpdesk.tickets.models import OutboxItem, OutboxStatus, Source, Ticket
from helpdesk.tickets.services import TicketService
from helpdesk.tickets.sla_warnings import SlaService
from helpdesk.worker import OutboxWorker
from tests.channels.conftest import channel_overrides
from tests.support.fakes import FakeSlack
from tests.tickets.support import Clock


@pytest.fixture
def fake_slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    fake = FakeSlack().start()
    yield fake
    fake.stop()


@pytest.fixture
def settings(make_settings, fake_slack):  # type: ignore[no-untyped-def]
    return make_settings(**channel_overrides(fake_slack.api_url, "http://127.0.0.1:9"), sla_slack_channel="C0STAFF")


def test_warning_is_posted_to_the_staff_channel_once(app, settings, db_session, make_person, fake_slack) -> None:  # type: ignore[no-untyped-def]
    clock = Clock()
    tickets = TicketService(db_session, clock)
    staff = make_person("sam", "staff")
    ticket = tickets.file(make_person("delegate"), "Portal is down", "Error 503", Source.WEB).ticket
    tickets.update(staff, ticket.id, {"queue": "science-platform"})
    clock.advance(hours=7, minutes=30)
    assert len(SlaService.from_settings(db_session, settings, clock).sweep()) == 1
    worker = OutboxWorker(app.extensions["helpdesk"].session_factory, settings, clock=clock, rng=lambda: 0.5)
    assert worker.run_once().delivered == 1
    (posted,) = fake_slack.posted()
    assert posted["channel"] == "C0STAFF" and "thread_ts" not in posted
    assert f"Ticket #{ticket.id}" in posted["text"] and "30 min left" in posted["text"]
    item = db_session.scalars(select(OutboxItem)).one()
    db_session.refresh(item)
    assert item.status is OutboxStatus.DELIVERED
    db_session.expire_all()
    assert db_session.get(Ticket, ticket.id).thread_key is None  # not adopted as the web ticket's thread
    assert SlaService.from_settings(db_session, settings, clock).sweep() == []
    assert worker.run_once().delivered == 0 and len(fake_slack.posted()) == 1
