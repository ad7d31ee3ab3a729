"""A person in a real headless Chromium: sign in, file a ticket on the web form, and staff find it."""

from __future__ import annotations

import re

import pytest

from helpdesk.accounts.models import Role
from helpdesk.accounts.services import AccountService
from tests.support.browser import sign_in

pytestmark = pytest.mark.browser


def test_delegate_files_a_ticket_and_staff_see_it(live_server, page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    session = live_server.app.extensions["helpdesk"].session_factory()
    AccountService(session).create_staff("sam", Role.STAFF)
    session.close()
    base = live_server.url

    sign_in(page, base, "delegate-dana", "/tickets/new")
    page.get_by_label("Subject").fill("Butler cannot find calexp")
    page.get_by_label("Your question").fill("butler.get('calexp', visit=123) raises LookupError.")
    page.get_by_role("button", name="File the ticket").click()
    page.wait_for_url(re.compile(r".*/tickets/\d+$"))
    assert page.get_by_role("status").inner_text().startswith("Ticket #1 filed")
    assert "LookupError" in page.content()
    page.get_by_role("button", name=re.compile("Sign out")).click()

    sign_in(page, base, "sam", "/staff/")
    row = page.get_by_role("row", name=re.compile("Butler cannot find calexp"))
    assert "delegate-dana" in row.inner_text()
    assert page.locator('[data-queue="unsorted"]').inner_text() == "1"
    row.get_by_role("link").click()
    page.get_by_label("Queue").select_option("butler")
    page.get_by_role("button", name="Save changes").click()
    assert page.get_by_role("status").inner_text() == "Ticket updated."
    page.get_by_label("Your reply").fill("Use the 2.2i/runs/DP0.2 collection.")
    page.get_by_role("button", name="Send").click()
    # The reply posts and the page reloads: wait for the new page, not the one being left (content() of a page
    # in the middle of navigating is empty).
    page.wait_for_load_state()
    expect(page.get_by_text("waiting on user").first).to_be_visible()
