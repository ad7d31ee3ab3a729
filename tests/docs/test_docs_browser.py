"""A newcomer's path through the documentation in a real headless Chromium: search, read, ask."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

pytestmark = pytest.mark.browser

TABLE = "DiaObject"


def test_search_open_result_and_ask_about_the_page(live_server, page) -> None:
    from playwright.sync_api import expect

    page.goto(f"{live_server.url}/docs/")
    expect(page).to_have_url(f"{live_server.url}/docs/")  # the home page at its clean address, not docs/index.html
    expect(page.locator("h1")).to_contain_text("DP0 Support Desk")

    # The theme's search box: open it from the header, type the table name, submit.
    page.locator("button.search-button__button:visible").first.click()
    search_input = page.locator("#pst-search-dialog input[name=q]")
    expect(search_input).to_be_visible()
    search_input.fill(TABLE)
    search_input.press("Enter")
    expect(page).to_have_url(re.compile(r"/search\.html\?q=DiaObject"))

    # Sphinx's client-side search lists the table's reference page; let it finish (it fetches a summary of
    # every hit), then open the page.
    expect(page.locator("#search-results")).to_contain_text("Search finished", timeout=30_000)
    result = page.locator("#search-results a", has_text=f"{TABLE} (DP0.2)").first
    expect(result).to_be_visible()
    result.click()
    expect(page).to_have_url(re.compile(r"/docs/docs/reference/catalogs/dp02/diaobject\.html"))
    expect(page.locator("h1")).to_contain_text(f"{TABLE} (DP0.2)")
    page_path = "/docs/docs/reference/catalogs/dp02/diaobject.html"

    # "Ask about this page" leads (through the development sign-in) to the prefilled ticket form.
    page.get_by_role("link", name="Ask about this page").first.click()
    expect(page).to_have_url(re.compile(r"/auth/login"))
    page.fill("input[name=login]", "newcomer")
    page.locator("form button[type=submit]").first.click()

    expect(page).to_have_url(re.compile(r"/tickets/new\?"))
    assert unquote(page.url).count(page_path) == 1
    expect(page.locator("input[name=subject]")).to_have_value(f"Question about: {TABLE} (DP0.2)")
    expect(page.locator("input[name=page]")).to_have_value(page_path)
