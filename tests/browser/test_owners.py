"""In a real headless Chromium: a staff member is refused a ticket beyond the queue's limit per person, then an
administrator overrides the limit on the ticket page, and the override is in the audit trail."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, update

from helpdesk.accounts.models import Role
from helpdesk.accounts.services import AccountService
from helpdesk.audit import AuditEvent
from helpdesk.tickets.assignment import AssignmentService
from helpdesk.tickets.models import Queue, Source, Ticket
from helpdesk.tickets.services import TicketService
from tests.support.browser import sign_in

pytestmark = pytest.mark.browser


def test_staff_refused_then_admin_overrides_the_limit(live_server, page) -> None:  # type: ignore[no-untyped-def]
    session = live_server.app.extensions["helpdesk"].session_factory()
    accounts = AccountService(session)
    sam, _ = accounts.create_staff("sam", Role.STAFF)
    accounts.create_staff("root", Role.ADMIN)
    requester = accounts.sign_in_github("delegate-dana")
    session.execute(update(Queue).where(Queue.slug == "butler").values(wip_limit_per_assignee=1))
    session.commit()
    AssignmentService(session).add_member(None, "butler", "sam")
    tickets = TicketService(session)
    held = tickets.file(requester, "calexp missing", "butler.get('calexp') fails", Source.WEB).ticket
    tickets.update(sam, held.id, {"queue": "butler", "assignee": "sam"})
    second = tickets.file(requester, "deepCoadd cutout", "How do I cut out a deepCoadd?", Source.WEB).ticket
    tickets.update(sam, second.id, {"queue": "butler"})
    second_id = second.id
    session.close()
    base = live_server.url

    sign_in(page, base, "sam", "/staff/")
    butler = page.locator('[data-clocks="butler"]')
    assert "no room left" in butler.inner_text()
    page.get_by_role("row", name=re.compile("deepCoadd cutout")).get_by_role("link").click()
    assert "on time" in page.locator("[data-ticket-clock]").inner_text()
    page.get_by_role("button", name="Assign to me").click()
    refusal = page.get_by_role("status").filter(has_text="limit")
    assert "sam already has 1 open tickets in Butler and images" in refusal.inner_text()
    assert page.locator("[data-owner]").inner_text() == "nobody"
    assert page.get_by_label(re.compile("Override the queue's limit")).count() == 0  # staff cannot override
    page.get_by_role("button", name=re.compile("Sign out")).click()

    sign_in(page, base, "root", f"/staff/tickets/{second_id}")
    page.get_by_label("Assignee").select_option("sam")
    page.get_by_role("button", name="Save changes").click()
    assert "ask an administrator to override" in page.get_by_role("status").inner_text()  # refused without it
    page.get_by_label("Assignee").select_option("sam")
    page.get_by_label(re.compile("Override the queue's limit")).check()
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(f"{base}/staff/tickets/{second_id}")
    assert page.get_by_role("status").inner_text() == "Ticket updated."
    assert page.locator("[data-owner]").inner_text() == "sam"

    session = live_server.app.extensions["helpdesk"].session_factory()
    assert session.get(Ticket, second_id).assignee.handle == "sam"
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "ticket.assignment_overridden")).one()
    assert event.data == {"assignee": "sam", "queue": "butler", "open": 1, "limit": 1}
    session.close()
