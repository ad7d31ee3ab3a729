"""In a real headless Chromium a staff member answers an incident once (with a double-click); the Slack requester
gets the answer in their thread and the forum requester in their topic, each exactly once, through the worker."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from helpdesk.accounts.models import Role
from helpdesk.accounts.services import AccountService
from helpdesk.tickets.incidents import incident_of
from helpdesk.tickets.models import Source, Ticket
from helpdesk.tickets.services import TicketService
from helpdesk.worker import OutboxWorker
from tests.channels import conftest as channel_fixtures
from tests.incidents.conftest import TAP_DOWN, enqueue_incident_checks
from tests.support.browser import sign_in
from tests.support.fakes import FakeDiscourse, FakeSlack
from tests.support.forum import deliver, post_payload
from tests.support.slack import EVENTS, message_event, send

pytestmark = pytest.mark.browser

# The channel tests' fixtures: the helpdesk wired to a fake Slack and a fake forum.
_no_proxies, fake_slack, fake_discourse = (channel_fixtures._no_proxies, channel_fixtures.fake_slack,
                                           channel_fixtures.fake_discourse)
ANSWER = "The TAP service is back since 11:20 UTC; please run your query again."


@pytest.fixture
def make_settings(make_settings, fake_slack: FakeSlack, fake_discourse: FakeDiscourse):  # type: ignore[no-untyped-def]
    """The live server talks to the fake Slack and forum."""
    overrides = channel_fixtures.channel_overrides(fake_slack.api_url, fake_discourse.url)
    return lambda **more: make_settings(**{**overrides, **more})


def test_staff_answer_an_incident_once_and_each_requester_hears_in_their_channel(  # type: ignore[no-untyped-def]
    live_server, page, fake_slack: FakeSlack, fake_discourse: FakeDiscourse,
) -> None:
    app = live_server.app
    client = app.test_client()
    # Three people report the TAP outage: in Slack, on the forum and on the web.
    assert send(client, EVENTS, message_event(" ".join(TAP_DOWN[0]), event_id="Ev1", ts="1700000001.000100",
                                              user="W111")).status_code == 200
    forum_post = post_payload(id=410, topic_id=41, topic_title=TAP_DOWN[1][0], raw=TAP_DOWN[1][1],
                              cooked=f"<p>{TAP_DOWN[1][1]}</p>", user_id=7, username="maria", name="maria",
                              admin=False, staff=False, moderator=False)
    assert deliver(client, forum_post).status_code == 200
    session = app.extensions["helpdesk"].session_factory()
    accounts = AccountService(session)
    accounts.create_staff("sam", Role.STAFF)
    TicketService(session).file(accounts.sign_in_github("delegate-dana"), *TAP_DOWN[2], Source.WEB)
    tickets = list(session.scalars(select(Ticket).order_by(Ticket.id)))
    enqueue_incident_checks(session, [t.id for t in tickets])
    session.close()
    worker = OutboxWorker(app.extensions["helpdesk"].session_factory, app.extensions["helpdesk"].settings)
    worker.run_once()  # the acknowledgements, and the incident check that groups the three
    session = app.extensions["helpdesk"].session_factory()
    incident_id = incident_of(session, tickets[0].id).id
    session.close()  # SQLite: no transaction of the test's stays open while the server writes
    slack_before, forum_before = len(fake_slack.messages), len(fake_discourse.created())

    sign_in(page, live_server.url, "sam", "/staff/")
    page.get_by_role("link", name="Incidents").click()
    page.get_by_role("link", name=f"#{incident_id}", exact=True).click()
    assert page.locator("[data-linked-ticket]").count() == 3
    page.get_by_label("Answer everyone").fill(ANSWER)
    form = page.locator("#incident-answer")
    fields = {name: form.locator(f"input[name={name}]").get_attribute("value") for name in ("csrf_token", "key")}
    page.get_by_role("button", name="Send to all 3").dblclick()
    page.wait_for_load_state("networkidle")
    # Whichever of a double-click's requests the browser lets through, the same form arriving twice sends once.
    again = page.request.post(f"{live_server.url}/staff/incidents/{incident_id}/answer",
                              form={**fields, "body": ANSWER}, max_redirects=0)
    assert again.status == 302
    page.reload()
    assert page.locator("[data-incident-answer]").count() == 1  # two clicks, one answer

    worker.run_once()
    slack_answers = [m for m in fake_slack.messages[slack_before:] if m["text"] == ANSWER]
    assert [(m["channel"], m["thread_ts"]) for m in slack_answers] == [("C111", "1700000001.000100")]
    forum_answers = [r for r in fake_discourse.created()[forum_before:] if ANSWER in r.form["raw"]]
    assert [r.form["topic_id"] for r in forum_answers] == ["41"]

    page.goto(f"{live_server.url}/staff/tickets/{tickets[0].id}")
    assert f"incident #{incident_id}" in page.locator(".incident-panel").inner_text()
    assert "urgent priority" in page.locator("main").inner_text()
