"""Knowledge-base search through the API, the CLI (same results) and the web form's suggestions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpdesk.search.documents import iter_kb
from helpdesk.search.services import SearchService

KB = Path(__file__).resolve().parent.parent / "data" / "kb"


@pytest.fixture
def indexed(settings) -> Path:  # type: ignore[no-untyped-def]
    SearchService(settings.index_dir).rebuild(iter_kb(KB))
    return settings.index_dir


def test_api_search_returns_ranked_hits(client, staff_token, indexed) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/kb/search?q=tap+timeout&limit=2", headers={"Authorization": f"Bearer {staff_token}"})
    assert response.status_code == 200
    hits = response.get_json()
    assert hits[0]["title"] == "TAP query times out"
    assert set(hits[0]) == {"title", "url", "kind", "score", "snippet"}
    assert len(hits) <= 2


def test_api_and_cli_give_the_same_results(client, staff_token, indexed, settings) -> None:  # type: ignore[no-untyped-def]
    api = client.get("/api/v1/kb/search?q=github+login", headers={"Authorization": f"Bearer {staff_token}"}).get_json()
    env = {**os.environ, "HELPDESK_INDEX_DIR": str(indexed), "HELPDESK_ENV": "testing",
           "HELPDESK_DATABASE_URL": settings.database_url}
    result = subprocess.run([sys.executable, "-m", "helpdesk", "kb", "search", "github login", "--json"],
                            capture_output=True, text=True, env=env, timeout=60, check=True)
    assert json.loads(result.stdout) == api


@pytest.mark.parametrize(("query", "status"), [("q=", 422), ("q=tap&limit=500", 422), ("q=tap&limit=x", 422)])
def test_api_search_bad_input(client, staff_token, indexed, query, status) -> None:  # type: ignore[no-untyped-def]
    response = client.get(f"/api/v1/kb/search?{query}", headers={"Authorization": f"Bearer {staff_token}"})
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == "invalid"


def test_api_search_without_index_is_503_with_advice(client, staff_token) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/kb/search?q=tap", headers={"Authorization": f"Bearer {staff_token}"})
    assert response.status_code == 503
    assert "helpdesk kb index" in response.get_json()["error"]["message"]


def test_api_search_needs_a_credential(client, indexed) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/v1/kb/search?q=tap").status_code == 401


def test_cli_index_builds_from_kb_and_docs(settings, built_docs, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "HELPDESK_INDEX_DIR": str(tmp_path / "ix"), "HELPDESK_DOCS_DIR": str(built_docs),
           "HELPDESK_ENV": "testing"}
    result = subprocess.run([sys.executable, "-m", "helpdesk", "kb", "index", "--kb-dir", str(KB)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "(3 knowledge-base articles)" in result.stdout
    hits = SearchService(tmp_path / "ix").query("Object")
    assert any(hit.kind == "docs" for hit in hits)


@pytest.mark.browser
def test_form_offers_answers_while_typing(live_server, page) -> None:  # type: ignore[no-untyped-def]
    SearchService(live_server.app.extensions["helpdesk"].settings.index_dir).rebuild(iter_kb(KB))
    page.goto(f"{live_server.url}/tickets/new")
    page.get_by_label("GitHub login").fill("dana")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Subject").press_sequentially("my tap query hits a timeout", delay=10)
    suggestion = page.locator("#suggestions li a").first
    suggestion.wait_for()
    assert suggestion.inner_text() == "TAP query times out"
    assert suggestion.get_attribute("href") == "/docs/kb/tap-timeouts.html"


OPERATOR_PAGE = """<html><head><title>Rotate secrets &#8212; DP0 Support Desk</title></head><body>
<article><h1>Rotate secrets</h1><p>Rotate the timeout secret of the TAP proxy.</p></article></body></html>"""


@pytest.fixture
def indexed_with_operator_page(settings, tmp_path) -> Path:  # type: ignore[no-untyped-def]
    from helpdesk.search.documents import iter_built_docs

    page = tmp_path / "site" / "docs" / "operator" / "rotate-secrets.html"
    page.parent.mkdir(parents=True)
    page.write_text(OPERATOR_PAGE)
    SearchService(settings.index_dir).rebuild([*iter_kb(KB), *iter_built_docs(tmp_path / "site")])
    return settings.index_dir


def test_delegates_are_not_offered_operator_pages(client, login, indexed_with_operator_page) -> None:  # type: ignore[no-untyped-def]
    login("dana")
    urls = [hit["url"] for hit in client.get("/api/v1/kb/search?q=tap+timeout+secret&limit=10").get_json()]
    assert "/docs/kb/tap-timeouts.html" in urls
    assert not any("/operator/" in url for url in urls)


def test_staff_still_find_operator_pages(client, staff_token, indexed_with_operator_page) -> None:  # type: ignore[no-untyped-def]
    hits = client.get("/api/v1/kb/search?q=rotate+secrets", headers={"Authorization": f"Bearer {staff_token}"})
    assert hits.get_json()[0]["url"] == "/docs/docs/operator/rotate-secrets.html"


def test_a_whole_question_through_the_api(client, staff_token, indexed) -> None:  # type: ignore[no-untyped-def]
    from helpdesk.search.services import QUERY_MAX

    question = ("My TAP query from the notebook keeps failing with a timeout, even for a small cone. " * 60)[:QUERY_MAX]
    ok = client.get("/api/v1/kb/search", query_string={"q": question}, headers={"Authorization": f"Bearer {staff_token}"})
    assert ok.status_code == 200
    assert ok.get_json()[0]["title"] == "TAP query times out"
    too_long = client.get("/api/v1/kb/search", query_string={"q": "x" * (QUERY_MAX + 1)},
                          headers={"Authorization": f"Bearer {staff_token}"})
    assert too_long.status_code == 422


def test_api_sends_did_you_mean_in_a_header_and_keeps_the_list(client, staff_token, indexed) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {staff_token}"}
    typo = client.get("/api/v1/kb/search?q=tap+timout", headers=headers)
    assert typo.status_code == 200 and isinstance(typo.get_json(), list)
    assert typo.headers["X-Search-Suggestion"] == "tap timeout"
    assert "X-Search-Suggestion" not in client.get("/api/v1/kb/search?q=tap+timeout", headers=headers).headers
