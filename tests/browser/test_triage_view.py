"""A staff member in a real headless Chromium corrects triage: a vague question waits in the triage view with
its two guesses, and sorting it elsewhere is recorded; a clear one is sorted before anyone looks."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from helpdesk.accounts.models import Role
from helpdesk.accounts.services import AccountService
from helpdesk.audit import AuditEvent
from helpdesk.tickets.models import Source, Ticket
from helpdesk.triage import decide
from tests.support.browser import sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def make_settings(make_settings):  # type: ignore[no-untyped-def]
    """The live server sorts tickets as production does."""
    return lambda **overrides: make_settings(**{"triage_enabled": True, **overrides})


def test_staff_correct_a_queue_in_the_triage_view(live_server, page) -> None:  # type: ignore[no-untyped-def]
    session = live_server.app.extensions["helpdesk"].session_factory()
    accounts = AccountService(session)
    accounts.create_staff("sam", Role.STAFF)
    delegate = accounts.sign_in_github("delegate-dana")
    from helpdesk.factory import Factory

    tickets = Factory(session, live_server.app.extensions["helpdesk"].settings).create_ticket_service()
    vague = tickets.file(delegate, "help", "please help me", Source.WEB).ticket
    clear = tickets.file(delegate, "TAP query times out", "My ADQL query on the Object table times out", Source.WEB)
    assert vague.queue is None and clear.ticket.queue.slug == "catalogs"
    best = decide("help", "please help me").guesses[0].queue
    chosen = "accounts" if best != "accounts" else "general"
    session.close()

    sign_in(page, live_server.url, "sam", "/staff/")
    page.get_by_role("link", name="Triage").click()
    card = page.locator(f"#ticket-{vague.id}")
    assert "Best guesses" in card.inner_text()
    assert card.get_by_role("button", name=f"Sort into {best}").is_visible()
    assert page.locator(f"#ticket-{clear.ticket.id}").count() == 0  # sorted already
    card.get_by_label("Another queue").select_option(chosen)
    card.get_by_role("button", name=re.compile(r"^Sort$")).click()
    assert page.get_by_role("status").inner_text().startswith(f"Ticket #{vague.id} is now in")
    assert page.locator(f"#ticket-{vague.id}").count() == 0

    page.goto(f"{live_server.url}/staff/tickets/{vague.id}")
    assert "Confidence" in page.locator(".triage-panel").inner_text()

    session = live_server.app.extensions["helpdesk"].session_factory()
    assert session.get(Ticket, vague.id).queue.slug == chosen
    correction = session.scalars(select(AuditEvent).where(AuditEvent.action == "triage.corrected")).one()
    assert correction.data["changes"]["queue"] == [best, chosen]
    session.close()
