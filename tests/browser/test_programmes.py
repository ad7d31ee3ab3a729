"""In a real headless Chromium: apply, be waitlisted, be promoted when an administrator raises the cap; an
administrator declines with a reason (confirmed first) and the applicant reads why."""

from __future__ import annotations

import re

import pytest

from helpdesk.accounts.models import Role
from helpdesk.accounts.services import AccountService
from helpdesk.programs.services import ApplicationForm, ProgramService
from tests.support.browser import sign_in

pytestmark = pytest.mark.browser


def test_waitlisted_then_promoted_and_a_decline_with_its_reason(live_server, page, browser) -> None:  # type: ignore[no-untyped-def]
    session = live_server.app.extensions["helpdesk"].session_factory()
    accounts = AccountService(session)
    root, _ = accounts.create_staff("root", Role.ADMIN)
    ann = accounts.sign_in_github("ann")
    service = ProgramService(session)
    service.set_cap(root, "dp0", 31)  # 30 reserved: one open seat
    ann_application = service.apply(ann, "dp0", ApplicationForm(name="Ann", email="ann@example.edu",
                                                                  institution="Example U", data_rights=True))[0]
    session.close()
    base = live_server.url

    # Bob applies and is waitlisted.
    sign_in(page, base, "bob", "/signup")
    page.get_by_label("Full name").fill("Bob Builder")
    page.get_by_label("Work e-mail").fill("bob@example.edu")
    page.get_by_label("Institution", exact=True).fill("Example U")
    page.get_by_label(re.compile("I hold Rubin Observatory data rights")).check()
    page.get_by_role("button", name="Apply").click()
    assert "Waitlisted: number 1 in line." in page.locator("[data-status]").inner_text()

    # An administrator raises the cap in the browser.
    admin_context = browser.new_context()
    admin = admin_context.new_page()
    admin.set_default_timeout(15_000)
    sign_in(admin, base, "root", "/staff/programmes/dp0")
    assert admin.locator('[data-meter="waitlisted"]').inner_text() == "1"
    admin.get_by_label(re.compile(r"^Cap")).fill("32")
    admin.get_by_role("button", name="Save").click()
    assert "cap 32" in admin.get_by_role("status").inner_text()
    assert admin.locator('[data-meter="waitlisted"]').inner_text() == "0"

    page.reload()
    status = page.locator("[data-status]").inner_text()
    assert status.startswith("Being checked: a seat is held for you.") and "not an acceptance yet" in status

    # The administrator declines Ann, with a reason, after a confirmation page.
    admin.goto(f"{base}/staff/roster?program=dp0")
    admin.locator(f'tr[data-application="{ann_application.id}"]').get_by_role("button", name="Decline…").click()
    assert admin.get_by_role("heading", level=1).inner_text() == "Decline Ann?"
    admin.get_by_label(re.compile("^Reason")).fill("Example U is not on the data-rights holders list")
    admin.get_by_role("button", name="Decline", exact=True).click()
    assert admin.get_by_role("status").inner_text() == "Ann: declined."
    assert "Example U is not on the data-rights holders list" in admin.locator("table").last.inner_text()
    admin_context.close()

    ann_context = browser.new_context()
    ann_page = ann_context.new_page()
    sign_in(ann_page, base, "ann", "/signup")
    assert ann_page.locator("[data-status]").inner_text().startswith("Declined.")
    assert ann_page.locator("[data-reason]").inner_text() == "Example U is not on the data-rights holders list"
    assert ann_page.get_by_role("heading", name="What you can do next").is_visible()
    ann_page.set_viewport_size({"width": 390, "height": 800})
    assert ann_page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    ann_context.close()


@pytest.mark.parametrize("path", ["/staff/programmes/dp0", "/staff/roster?program=dp0",
                                  "/staff/programmes/dp0/applications", "/staff/programmes/dp0/audit"])
def test_admin_pages_fit_390_pixels(live_server, page, path: str) -> None:  # type: ignore[no-untyped-def]
    session = live_server.app.extensions["helpdesk"].session_factory()
    AccountService(session).create_staff("root", Role.ADMIN)
    person = AccountService(session).sign_in_github("wide-institution-applicant")
    ProgramService(session).apply(person, "dp0", ApplicationForm(
        name="A very long name " * 3, email="someone@an-extremely-long-institution-domain.example.edu",
        institution="Institute " * 8, data_rights=True))
    session.close()
    page.set_viewport_size({"width": 390, "height": 800})
    sign_in(page, live_server.url, "root", path)
    wide = page.evaluate("""[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right
        > window.innerWidth + 1 && !e.closest('.scroll')).map(e => e.tagName + '.' + e.className + '#' + e.id)""")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (path, wide[:5])
