"""The Content-Security-Policy in a real Chromium: the helpdesk's pages and the documentation work under it,
and the browser reports no violation (no inline script, handler or style is left that it would block)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpdesk.accounts.models import Role
from helpdesk.accounts.services import AccountService
from helpdesk.search.documents import iter_kb
from helpdesk.search.services import SearchService

pytestmark = pytest.mark.browser

KB = Path(__file__).resolve().parents[2] / "tests" / "data" / "kb"


def watch_violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Every CSP violation the page reports, from the console and from `securitypolicyviolation` events."""
    seen: list[str] = []
    page.on("console", lambda message: seen.append(message.text) if "Content Security Policy" in message.text
            else None)
    page.expose_function("reportViolation", lambda text: seen.append(text))
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => "
        "window.reportViolation(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' in ' + "
        "e.documentURI));"
    )
    return seen


def sign_in(page, base: str, login: str, then: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}{then}")
    page.get_by_label("GitHub login").fill(login)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}{then}")


def test_helpdesk_pages_work_under_the_policy(live_server, page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    settings = live_server.app.extensions["helpdesk"].settings
    SearchService(settings.index_dir).rebuild(iter_kb(KB))
    session = live_server.app.extensions["helpdesk"].session_factory()
    AccountService(session).create_staff("sam", Role.STAFF)
    session.close()
    violations = watch_violations(page)
    base = live_server.url

    response = page.goto(f"{base}/")
    assert "script-src 'self'" in response.headers["content-security-policy"]

    # The ticket form's suggestions come from suggest.js, a file the policy allows.
    sign_in(page, base, "sam", "/tickets/new")
    page.get_by_label("Subject").fill("tap query timeout")
    expect(page.locator("#suggestions")).to_be_visible()
    page.get_by_label("Your question").fill("It stops after ten minutes.")
    page.get_by_role("button", name="File the ticket").click()
    page.wait_for_url(re.compile(r".*/tickets/\d+$"))

    # The staff console: queue bars sized by the stylesheet, the filter form, and the keyboard shortcuts
    # (shortcuts.js, a file the policy allows: its help overlay opens on "?").
    page.goto(f"{base}/staff/")
    bar = page.locator("ul.bars .bar").first
    assert bar.evaluate("e => e.getBoundingClientRect().width") > 50
    filters = page.get_by_role("search", name="Search and filter tickets")
    filters.get_by_label("Status").select_option("closed")
    filters.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r".*status=closed"))
    expect(page.get_by_text("No tickets match.")).to_be_visible()
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()

    page.goto(f"{base}/staff/roster")
    expect(page.locator("svg.seatmeter").first).to_be_visible()
    assert violations == [], '\n'.join(violations)


def test_documentation_works_under_its_policy(live_server, page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    violations = watch_violations(page)
    base = live_server.url
    response = page.goto(f"{base}/docs/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self' 'sha256-" in policy and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    expect(page).to_have_url(f"{base}/docs/")

    # The theme's stylesheet applied (relative links resolve through <base>) and its scripts run:
    # the colour-mode menu (a Bootstrap dropdown) switches the page to the dark theme.
    expect(page.locator(".bd-header")).to_be_visible()
    assert page.locator("body").evaluate("e => getComputedStyle(e).fontFamily") != "Times New Roman"
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    page.locator("button.theme-switch-button:visible").first.click()
    page.locator("button.theme-change-button[data-mode=dark]:visible").first.click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")

    # A link on the landing page leads where it says.
    link = page.locator("article.bd-article a.reference.internal").first
    target = link.get_attribute("href")
    link.click()
    expect(page).to_have_url(re.compile(r"/docs/docs/" + re.escape(target.split("#")[0]) + "(#.*)?$"))
    expect(page.locator("article h1")).to_be_visible()

    # Back home through the header's brand link: one clean address for the home page.
    page.locator("a.navbar-brand").first.click()
    expect(page).to_have_url(f"{base}/docs/")

    # Search, from the landing page, with Sphinx's client-side search script.
    page.locator("button.search-button__button:visible").first.click()
    page.locator("#pst-search-dialog input[name=q]").fill("DiaObject")
    page.locator("#pst-search-dialog input[name=q]").press("Enter")
    expect(page).to_have_url(re.compile(r"/docs/search\.html\?q=DiaObject"))
    expect(page.locator("#search-results")).to_contain_text("Search finished", timeout=30_000)
    expect(page.locator("#search-results a").first).to_be_visible()
    assert violations == [], '\n'.join(violations)
