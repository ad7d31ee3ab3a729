"""Deflection in a real headless Chromium: a requester says an offered article answered them, and a search
that finds nothing (on the web form, on the documentation's search page) offers to ask the support desk."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from helpdesk.config import Settings
from helpdesk.search.documents import iter_kb
from helpdesk.search.services import SearchService
from tests.support.browser import sign_in

pytestmark = pytest.mark.browser

KB = Path(__file__).resolve().parents[2] / "tests" / "data" / "kb"


@pytest.fixture
def make_settings(make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    """The floor set here (the engine's own line is tuned elsewhere): the TAP article clears it for the TAP question."""
    def make(**overrides: object) -> Settings:
        return make_settings(**{"suggestion_score_floor": 5.0, **overrides})
    return make


@pytest.fixture
def indexed(live_server) -> None:  # type: ignore[no-untyped-def]
    SearchService(live_server.app.extensions["helpdesk"].settings.index_dir).rebuild(iter_kb(KB))


def violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    seen: list[str] = []
    page.on("console", lambda m: seen.append(m.text) if "Content Security Policy" in m.text else None)
    return seen


def test_a_requester_says_the_offered_article_answered_them(live_server, page, indexed) -> None:  # type: ignore[no-untyped-def]
    blocked = violations(page)
    sign_in(page, live_server.url, "dana", "/tickets/new")
    page.get_by_label("Subject").fill("My TAP query times out")
    suggestions = page.locator("#suggestions")
    suggestions.get_by_role("link", name="TAP query times out").wait_for()
    page.get_by_label("Your question").fill("It runs for ten minutes and then the TAP service gives up.")
    page.get_by_role("button", name="File the ticket").click()
    page.wait_for_url(re.compile(r".*/tickets/\d+$"))
    offered = page.get_by_role("region", name="These articles may answer your question")
    assert offered.get_by_role("link", name="TAP query times out").get_attribute("href").endswith(
        "/docs/kb/tap-timeouts.html")
    offered.get_by_role("button", name="This answered my question").click()
    page.wait_for_url(re.compile(r".*/tickets/\d+$"))
    assert page.get_by_role("status").first.inner_text().startswith("Glad it helped!")
    assert "You said an article answered this question" in page.locator("[data-self-served]").inner_text()
    assert page.get_by_role("button", name="This answered my question").count() == 0
    assert blocked == []


def test_the_web_form_offers_to_ask_when_nothing_matches(live_server, page, indexed) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, live_server.url, "dana", "/tickets/new")
    page.get_by_label("Subject").fill("Quantum pizza & <zebra>")
    ask = page.locator("#no-suggestions").get_by_role("link", name="Ask the support desk")
    ask.wait_for()
    assert page.locator("#suggestions").is_hidden()
    href = urlsplit(ask.get_attribute("href"))
    assert href.path == "/tickets/new" and parse_qs(href.query) == {"subject": ["Quantum pizza & <zebra>"]}
    ask.click()  # on the form already: it moves on to the question instead of leaving the page
    assert page.evaluate("document.activeElement.id") == "body"
    assert page.get_by_label("Subject").input_value() == "Quantum pizza & <zebra>"


def test_the_documentation_search_offers_to_ask_when_nothing_matches(live_server, page) -> None:  # type: ignore[no-untyped-def]
    blocked = violations(page)
    query = 'zqxjv "<b>&wvvkq'  # nonsense words and markup characters
    page.goto(f"{live_server.url}/docs/search.html?q={query.replace('&', '%26').replace(' ', '+')}")
    ask = page.locator("#dp0-ask-desk").get_by_role("link", name="Ask the support desk")
    ask.wait_for()
    href = urlsplit(ask.get_attribute("href"))
    assert href.path == "/tickets/new" and parse_qs(href.query) == {"subject": [query]}
    assert page.locator("#dp0-ask-desk b").count() == 0  # the words are text, never markup
    ask.click()
    page.wait_for_url(re.compile(r".*/auth/login.*"))  # the form asks who is asking first
    assert blocked == []


def test_a_documentation_search_that_finds_pages_does_not_offer(live_server, page) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_server.url}/docs/search.html?q=butler")
    page.locator("#search-results ul.search li").first.wait_for()
    page.locator("#search-results .search-summary").filter(has_text=re.compile(r"\w")).wait_for()
    page.wait_for_timeout(200)  # the offer would be added at once, in the same round of mutations
    assert page.locator("#dp0-ask-desk").count() == 0
