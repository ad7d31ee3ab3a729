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


# A common laptop screen: the theme's two sidebars leave the article column about 690 pixels wide.
LAPTOPS = [{"width": 1366, "height": 768}, {"width": 1280, "height": 800}]


@pytest.mark.parametrize("viewport", LAPTOPS, ids=lambda v: f"{v['width']}x{v['height']}")
def test_wide_column_table_shows_the_description_without_sideways_scrolling(live_server, page, viewport) -> None:
    page.set_viewport_size(viewport)
    page.goto(f"{live_server.url}/docs/docs/reference/catalogs/dp02/object.html")
    sizes = page.evaluate(
        """() => {
            const table = document.querySelector('table.dp0-columns');
            const box = table.parentElement;
            const head = [...table.querySelectorAll('thead th')].pop().getBoundingClientRect();
            const cell = table.querySelector('tbody tr td:last-child').getBoundingClientRect();
            const view = box.getBoundingClientRect();
            return {header: head.textContent, scroll: box.scrollWidth, client: box.clientWidth,
                    page: document.documentElement.scrollWidth, width: innerWidth,
                    left: cell.left, right: cell.right, cellWidth: cell.width, boxRight: view.right};
        }"""
    )
    assert sizes["scroll"] <= sizes["client"] + 1, sizes  # no sideways scrolling inside the table's box
    assert sizes["page"] <= sizes["width"], sizes  # nor of the page
    assert sizes["right"] <= sizes["boxRight"] + 1, sizes  # the description column ends inside the view
    assert sizes["cellWidth"] >= 200, sizes  # and is wide enough to read, not squeezed to a sliver
    # Scrolled down to it (only vertically), the first description is wholly on screen.
    description = page.locator("table.dp0-columns tbody tr").first.locator("td").last
    description.scroll_into_view_if_needed()
    expect_visible_in_viewport(description)


@pytest.mark.parametrize("viewport", LAPTOPS, ids=lambda v: f"{v['width']}x{v['height']}")
def test_relationship_diagram_fits_the_column_at_a_readable_size(live_server, page, viewport) -> None:
    page.set_viewport_size(viewport)
    page.goto(f"{live_server.url}/docs/docs/reference/catalogs/index.html")
    sizes = page.evaluate(
        """() => {
            const figure = document.querySelector('.dp0-er-diagram');
            const svg = figure.querySelector('svg');
            const box = svg.getBoundingClientRect();
            const viewBoxWidth = svg.viewBox.baseVal.width;
            const texts = [...svg.querySelectorAll('text')].map(t => t.getBoundingClientRect());
            return {scroll: figure.scrollWidth, client: figure.clientWidth, left: box.left, right: box.right,
                    figLeft: figure.getBoundingClientRect().left, figRight: figure.getBoundingClientRect().right,
                    scale: box.width / viewBoxWidth,
                    outside: texts.filter(r => r.left < box.left - 1 || r.right > box.right + 1).length};
        }"""
    )
    assert sizes["scroll"] <= sizes["client"] + 1, sizes  # nothing hidden to the right
    assert sizes["figLeft"] - 1 <= sizes["left"] and sizes["right"] <= sizes["figRight"] + 1, sizes
    assert sizes["outside"] == 0, sizes  # no label drawn outside the picture
    assert sizes["scale"] >= 0.8, sizes  # 12-pixel labels stay at least about 10 pixels high


def expect_visible_in_viewport(locator) -> None:
    from playwright.sync_api import expect

    expect(locator).to_be_in_viewport(ratio=1)
