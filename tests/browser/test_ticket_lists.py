"""In a real headless Chromium: a staff member searches and filters the ticket list, bulk-assigns ticked tickets,
works the list from the keyboard (j/k/x/o, the ? overlay, r on the ticket page), and the list fits 390 px."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from helpdesk.accounts.models import Role
from helpdesk.accounts.services import AccountService
from helpdesk.audit import AuditEvent
from helpdesk.tickets.models import Source, Ticket
from helpdesk.tickets.services import TicketService
from tests.support.browser import sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def filed(live_server):  # type: ignore[no-untyped-def]
    session = live_server.app.extensions["helpdesk"].session_factory()
    accounts = AccountService(session)
    sam, _ = accounts.create_staff("sam", Role.STAFF)
    dana = accounts.sign_in_github("delegate-dana")
    tickets = TicketService(session)
    made = {
        "tap": tickets.file(dana, "TAP query times out", "ADQL on the Object table", Source.WEB).ticket.id,
        "butler": tickets.file(dana, "Butler calexp missing", "butler.get fails", Source.WEB).ticket.id,
        "portal": tickets.file(dana, "Portal login loops", "Sign-in never ends", Source.WEB).ticket.id,
    }
    tickets.reply(dana, made["portal"], "The TAP tab is empty too")
    tickets.update(sam, made["butler"], {"priority": "urgent"})
    session.close()
    return made


def listed(page) -> list[int]:  # type: ignore[no-untyped-def]
    return [int(n) for n in page.locator("tr[data-ticket]").evaluate_all("rows => rows.map(r => r.dataset.ticket)")]


def test_search_filter_and_bulk_assign(live_server, page, filed) -> None:  # type: ignore[no-untyped-def]
    base = live_server.url
    sign_in(page, base, "sam", "/staff/tickets")
    assert listed(page) == [filed["portal"], filed["butler"], filed["tap"]]

    page.get_by_label("Search subject and messages").fill("tap")
    page.get_by_role("button", name="Apply", exact=True).click()
    page.wait_for_url(re.compile(r".*q=tap.*"))
    assert listed(page) == [filed["portal"], filed["tap"]]  # the portal ticket's later message mentions TAP
    assert page.locator("[data-list-count]").inner_text() == "2 tickets"

    page.get_by_label("Search subject and messages").fill("")
    page.get_by_role("search", name="Search and filter tickets").get_by_label("Priority").select_option("urgent")
    page.get_by_role("button", name="Apply", exact=True).click()
    page.wait_for_url(re.compile(r".*priority=urgent.*"))
    assert listed(page) == [filed["butler"]]

    page.get_by_role("link", name="Clear").click()
    page.get_by_label(f"Select ticket {filed['tap']}").check()
    page.get_by_label(f"Select ticket {filed['butler']}").check()
    bulk = page.get_by_role("form", name="Change the ticked tickets")
    assert bulk.get_by_label("Action").input_value() == "assign"
    assert bulk.get_by_label("Queue").is_hidden()  # only the chosen action's field is shown
    assert bulk.get_by_label("Yes, merge or close the selected tickets").is_hidden()
    bulk.get_by_label("Assignee").select_option("me")
    page.get_by_role("button", name="Apply to ticked tickets").click()
    assert "Assign: 2 tickets changed." in page.locator(".flash").inner_text()

    page.get_by_role("link", name="My open tickets").click()
    assert sorted(listed(page)) == sorted([filed["tap"], filed["butler"]])
    session = live_server.app.extensions["helpdesk"].session_factory()
    assert {t.id for t in session.scalars(select(Ticket).where(Ticket.assignee_id.is_not(None)))} == {
        filed["tap"], filed["butler"]}
    updates = session.scalars(select(AuditEvent).where(AuditEvent.action == "ticket.updated")).all()
    assert sorted(e.ticket_id for e in updates if "assignee" in e.data["changes"]) == sorted(
        [filed["tap"], filed["butler"]])
    session.close()


def test_keyboard_moves_ticks_opens_and_helps(live_server, page, filed) -> None:  # type: ignore[no-untyped-def]
    base = live_server.url
    sign_in(page, base, "sam", "/staff/tickets")
    rows = page.locator("tr[data-ticket]")

    page.keyboard.press("j")
    assert "kb-current" in rows.nth(0).get_attribute("class")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    assert "kb-current" in rows.nth(1).get_attribute("class")
    assert page.evaluate("document.activeElement.closest('tr').dataset.ticket") == str(filed["butler"])
    page.keyboard.press("x")
    assert page.get_by_label(f"Select ticket {filed['butler']}").is_checked()

    page.keyboard.press("?")
    help_overlay = page.get_by_role("dialog", name="Keyboard shortcuts")
    assert help_overlay.is_visible()
    assert "next ticket" in help_overlay.inner_text() and "tick or untick" in help_overlay.inner_text()
    page.keyboard.press("Escape")
    assert not help_overlay.is_visible()

    page.keyboard.press("o")
    page.wait_for_url(f"{base}/staff/tickets/{filed['butler']}")
    page.keyboard.press("r")
    assert page.evaluate("document.activeElement.name") == "body"  # the reply box
    page.keyboard.type("j k")  # typing in the box is typing, not shortcuts
    assert page.url == f"{base}/staff/tickets/{filed['butler']}"


def test_skip_link_and_narrow_screen(live_server, page, filed) -> None:  # type: ignore[no-untyped-def]
    base = live_server.url
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, base, "sam", "/staff/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content" and skip.is_visible()
    for path in ("/staff/", "/staff/tickets"):
        page.goto(f"{base}{path}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
