"""The ticket workspace in a real headless Chromium: reply and resolve in one step and see the reply delivered
(by the real worker, to a fake Slack), insert a canned reply, and a delegate marking a ticket solved."""

from __future__ import annotations

import re

import pytest

from helpdesk.accounts.models import Role
from helpdesk.accounts.services import AccountService
from helpdesk.factory import Factory
from helpdesk.tickets.models import Source
from helpdesk.worker import OutboxWorker
from tests.channels.conftest import channel_overrides
from tests.support.browser import sign_in
from tests.support.fakes import FakeSlack

pytestmark = pytest.mark.browser


def _setup(live_server, source: Source = Source.WEB, **external):  # type: ignore[no-untyped-def]
    session = live_server.app.extensions["helpdesk"].session_factory()
    AccountService(session).create_staff("sam", Role.STAFF)
    dana = AccountService(session).sign_in_github("dana")
    dana.display_name = "Dana Delegate"
    session.commit()
    thread = {"thread_key": "C0SUPPORT:1700000000.000100"} if source is Source.SLACK else {}
    ticket = Factory(session, live_server.app.extensions["helpdesk"].settings).create_ticket_service().file(
        dana, "Butler cannot find calexp", "butler.get raises LookupError", source, external=external,
        **thread).ticket
    session.close()
    return ticket.id


def test_reply_and_resolve_in_one_step_then_see_it_delivered(live_server, page, make_settings,  # type: ignore[no-untyped-def]
                                                             monkeypatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    ticket_id = _setup(live_server, Source.SLACK, channel="C0SUPPORT", thread_ts="1700000000.000100",
                       team_domain="rubin-dp0")
    base = live_server.url
    sign_in(page, base, "sam", f"/staff/tickets/{ticket_id}")
    page.get_by_label("Your reply").fill("Use the 2.2i/runs/DP0.2 collection.")
    page.get_by_label("Then set the status").select_option("resolved")
    page.get_by_role("button", name="Send", exact=True).click()
    page.wait_for_url(f"{base}/staff/tickets/{ticket_id}")
    assert page.locator("p.flash").inner_text() == "Reply sent; the ticket is now resolved."
    assert page.locator(".badge.status-resolved").first.is_visible()
    delivery = page.locator("[data-delivery]")
    assert delivery.inner_text().startswith("… Queued for the Slack thread")

    slack = FakeSlack().start()
    try:
        settings = make_settings(**channel_overrides(slack.api_url, "http://127.0.0.1:9"))
        stats = OutboxWorker(live_server.app.extensions["helpdesk"].session_factory, settings).run_once()
        assert stats.delivered == 1, stats.errors
        (posted,) = slack.posted()
    finally:
        slack.stop()
    assert posted["thread_ts"] == "1700000000.000100" and "DP0.2" in posted["text"]
    page.reload()
    delivered = page.locator('[data-delivery="delivered"]')
    assert delivered.inner_text().startswith("✓ Delivered to the Slack thread")
    link = delivered.get_by_role("link", name="open").get_attribute("href")
    assert re.fullmatch(r"https://rubin-dp0\.slack\.com/archives/C0SUPPORT/p\d{16}\?thread_ts=1700000000\.000100"
                        r"&cid=C0SUPPORT", link or "")
    events = page.locator("li.event").all_inner_texts()
    assert any("status waiting on user → resolved" in e for e in events)


def test_use_a_canned_reply(live_server, page) -> None:  # type: ignore[no-untyped-def]
    ticket_id = _setup(live_server)
    base = live_server.url
    sign_in(page, base, "sam", "/staff/macros")
    page.get_by_label("Title").fill("Collection hint")
    page.get_by_label("Text").fill("Hello {requester_name}, this is {agent_name} about #{ticket_id}.")
    page.get_by_role("button", name="Save the macro").click()
    assert "saved" in page.locator("p.flash").inner_text()

    page.goto(f"{base}/staff/tickets/{ticket_id}")
    page.get_by_label("Your reply").fill("Start.")
    page.get_by_label("Canned reply").select_option(label="Collection hint")
    page.get_by_role("button", name="Insert into the reply").click()
    assert page.url == f"{base}/staff/tickets/{ticket_id}"  # inserted in place, the page did not reload
    assert page.get_by_label("Your reply").input_value() == f"Start. Hello Dana Delegate, this is sam about #{ticket_id}."
    page.get_by_role("button", name="Send", exact=True).click()
    page.wait_for_url(f"{base}/staff/tickets/{ticket_id}")
    assert page.locator(f"article.message.outbound:has-text('Hello Dana Delegate, this is sam about #{ticket_id}.')"
                        ).count() == 1


def test_a_colleague_sees_who_is_replying(live_server, page, browser) -> None:  # type: ignore[no-untyped-def]
    ticket_id = _setup(live_server)
    session = live_server.app.extensions["helpdesk"].session_factory()
    AccountService(session).create_staff("ana", Role.STAFF)
    session.close()
    base = live_server.url
    sign_in(page, base, "ana", f"/staff/tickets/{ticket_id}")
    with page.expect_response(lambda r: r.url.endswith("/presence") and "replying" in (r.request.post_data or "")):
        page.get_by_label("Your reply").type("Typing an answer")  # ana starts replying: the desk is told at once
    other = browser.new_context().new_page()
    try:
        sign_in(other, base, "sam", f"/staff/tickets/{ticket_id}")
        assert other.locator("#presence").inner_text() == "ana is replying to this ticket."
        assert other.locator("#presence").get_attribute("aria-live") == "polite"
        # ana closes the page: her presence goes at once, not a minute later.
        with page.expect_response(lambda r: r.url.endswith("/presence")):
            page.evaluate("() => window.dispatchEvent(new Event('pagehide'))")  # ana leaves
        other.reload()
        assert other.locator("#presence").inner_text() == ""
    finally:
        other.context.close()


def test_delegate_marks_the_ticket_solved(live_server, page) -> None:  # type: ignore[no-untyped-def]
    ticket_id = _setup(live_server)
    base = live_server.url
    sign_in(page, base, "dana", "/tickets/")
    row = page.get_by_role("row", name=re.compile("Butler cannot find calexp"))
    assert "new" in row.inner_text() and "no reply yet" in row.inner_text()
    row.get_by_role("link").click()
    page.get_by_role("button", name="Mark as solved").click()
    page.wait_for_url(f"{base}/tickets/{ticket_id}")
    assert page.get_by_role("status").inner_text().startswith("Marked as solved")
    assert page.locator(".badge.status-resolved").is_visible()
    page.get_by_label("4").check()
    page.get_by_label("Anything to add? (optional)").fill("Quick answer")
    page.get_by_role("button", name="Send the rating").click()
    assert page.locator("[data-rating]").inner_text() == "You rated this ticket 4 of 5. Thank you."
    page.goto(f"{base}/tickets/")
    assert "resolved" in page.get_by_role("row", name=re.compile("Butler cannot find calexp")).inner_text()


def test_the_pages_fit_a_phone(live_server, page) -> None:  # type: ignore[no-untyped-def]
    ticket_id = _setup(live_server)
    base = live_server.url
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, base, "sam", f"/staff/tickets/{ticket_id}")
    for path in (f"/staff/tickets/{ticket_id}?kb=butler", "/staff/macros"):
        page.goto(f"{base}{path}")
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390, path
