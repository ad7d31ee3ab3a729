"""HTTP hardening: security headers, caching of personal data, /metrics access, /healthz on a read-only
database, the per-person limit on API writes, and two small defects (the form's <title>, /docs/'s address)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from helpdesk import create_app
from helpdesk.accounts.models import Role
from helpdesk.accounts.services import AccountService
from helpdesk.config import Settings
from tests.conftest import csrf_token_from

TEMPLATES = Path(__file__).resolve().parents[2] / "helpdesk" / "templates"
PRODUCTION = {"env": "production", "auth": "github", "github_client_id": "id", "github_client_secret": "secret"}


def directives(policy: str) -> dict[str, list[str]]:
    parts = (part.split() for part in policy.split(";") if part.strip())
    return {name: values for name, *values in parts}


# -- 1. headers --------------------------------------------------------------------------------------


def test_templates_have_no_inline_script_handler_or_style() -> None:
    """What the policy forbids must not be in the templates: it would be blocked in every browser."""
    offenders = []
    for template in sorted(TEMPLATES.rglob("*.html")):
        text = template.read_text(encoding="utf-8")
        for pattern in (r"<script(?![^>]*\ssrc=)[^>]*>", r"\son[a-z]+\s*=", r"\sstyle\s*=", r"<style\b",
                        r"javascript:"):
            offenders += [f"{template.relative_to(TEMPLATES)}: {m.group(0)}" for m in re.finditer(pattern, text)]
    assert offenders == []


def test_every_page_has_a_strict_policy(client: FlaskClient, login: Callable[..., object]) -> None:
    login("sam", "staff")
    for path in ("/", "/tickets/new", "/tickets/mine", "/staff/", "/signup", "/nowhere"):
        response = client.get(path)
        assert response.mimetype == "text/html", path
        policy = directives(response.headers["Content-Security-Policy"])
        assert policy["default-src"] == ["'none'"], path
        assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"], path
        assert policy["frame-ancestors"] == ["'none'"] and policy["base-uri"] == ["'none'"], path
        assert policy["form-action"] == ["'self'"] and policy["object-src"] == ["'none'"], path


def test_hsts_and_host_prefixed_cookie_in_production(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings(**PRODUCTION))
    response = app.test_client().get("/auth/login", base_url="https://helpdesk.example.org")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    cookie = response.headers["Set-Cookie"]  # GitHub sign-in keeps its OAuth state in the session
    assert cookie.startswith("__Host-session="), cookie
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "path"} <= attributes and "domain" not in attributes
    assert "Path=/;" in cookie or cookie.endswith("Path=/")
    app.extensions["helpdesk"].engine.dispose()


def test_no_hsts_and_plain_cookie_outside_production(client: FlaskClient) -> None:
    response = client.get("/auth/login")  # the sign-in form's CSRF token is kept in the session
    assert "Strict-Transport-Security" not in response.headers
    assert response.headers["Set-Cookie"].startswith("session=")


def test_personal_answers_are_not_stored(client: FlaskClient, login: Callable[..., object],
                                         staff_token: str) -> None:
    bearer = {"Authorization": f"Bearer {staff_token}"}
    assert client.get("/api/v1/tickets", headers=bearer).headers["Cache-Control"] == "no-store"
    created = client.post("/api/v1/tickets", json={"subject": "s", "body": "b"}, headers=bearer)
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    assert client.get("/api/v1/nothing", headers=bearer).headers["Cache-Control"] == "no-store"
    login("sam", "staff")
    form = client.get("/signup")
    assert form.headers["Cache-Control"] == "no-store"
    answered = client.post("/signup", data={"csrf_token": csrf_token_from(form.get_data(as_text=True)),
                                            "name": "Dana", "email": "not-an-email", "institution": "X"})
    assert answered.status_code in (200, 400) and answered.headers["Cache-Control"] == "no-store"
    for path in ("/", "/tickets/mine", "/staff/", "/staff/roster"):
        assert client.get(path).headers["Cache-Control"] == "no-store", path


def test_static_files_and_docs_stay_cacheable(client: FlaskClient, built_docs: Path) -> None:
    static = client.get("/static/helpdesk.css")
    assert static.status_code == 200 and "no-store" not in static.headers.get("Cache-Control", "")
    static.close()
    for path in ("/docs/", "/docs/docs/reference/index.html", "/docs/_static/dp0.css"):
        with client.get(path) as response:
            assert response.status_code == 200, path
            assert "max-age=300" in response.headers["Cache-Control"], path


def test_docs_policy_allows_exactly_the_pages_own_inline_scripts(client: FlaskClient, built_docs: Path) -> None:
    with client.get("/docs/search.html") as response:
        html = response.get_data()
        policy = directives(response.headers["Content-Security-Policy"])
    import base64
    import hashlib

    inline = re.findall(rb"<script(?![^>]*\ssrc=)[^>]*>(.*?)</script>", html, re.S)
    assert len(inline) >= 2  # the theme's colour mode, the page name for search (at least)
    expected = {f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'" for body in inline}
    assert set(policy["script-src"]) == {"'self'"} | expected
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]
    assert policy["object-src"] == ["'none'"]


# -- 2. /metrics -------------------------------------------------------------------------------------


def test_metrics_served_to_loopback_only_by_default(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 200  # the test client comes from 127.0.0.1
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    refused = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "forbidden"
    assert "helpdesk_http_requests" not in refused.get_data(as_text=True)


def test_metrics_token_and_allow_list(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings(metrics_token="scrape-" + "s" * 24, metrics_allow="10.1.0.0/16,::1"))
    client = app.test_client()
    outside = {"REMOTE_ADDR": "203.0.113.7"}
    missing = client.get("/metrics", environ_base=outside)
    assert missing.status_code == 401 and missing.get_json()["error"]["code"] == "unauthenticated"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = client.get("/metrics", environ_base=outside, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = client.get("/metrics", environ_base=outside, headers={"Authorization": "Bearer scrape-" + "s" * 24})
    assert right.status_code == 200 and "helpdesk_http_requests" in right.get_data(as_text=True)
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.200.3"}).status_code == 200
    # 127.0.0.1 is no longer in the list once the operator sets it.
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 401
    app.extensions["helpdesk"].engine.dispose()


def test_production_without_metrics_settings_serves_loopback_only(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings(**PRODUCTION))
    client = app.test_client()
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.1"}).status_code == 403
    app.extensions["helpdesk"].engine.dispose()


def test_metrics_allow_rejects_what_is_not_an_address(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        make_settings(metrics_allow="127.0.0.1,localhost")


# -- 3. /healthz -------------------------------------------------------------------------------------


def _read_only_app(make_settings: Callable[..., Settings], database_url: str) -> Flask:
    """The app on its database, which refuses writes: SQLite opened read-only, PostgreSQL read-only sessions."""
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite:///")
        return create_app(make_settings(database_url=f"sqlite:///file:{path}?mode=ro&uri=true"))
    app = create_app(make_settings())
    engine = app.extensions["helpdesk"].engine

    @event.listens_for(engine, "connect")
    def _read_only(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET default_transaction_read_only = on")
        dbapi_connection.commit()

    return app


def test_healthz_reports_a_read_only_database(make_settings: Callable[..., Settings], database_url: str) -> None:
    app = _read_only_app(make_settings, database_url)
    client = app.test_client()
    assert client.get("/").status_code == 200  # reads still work...
    response = client.get("/healthz")  # ...but the database would refuse every write
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "database": "read-only"}
    app.extensions["helpdesk"].engine.dispose()


def test_healthz_is_ok_while_another_writer_holds_sqlite(client: FlaskClient, app: Flask) -> None:
    engine = app.extensions["helpdesk"].engine
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's write lock")
    with engine.connect() as writer:  # BEGIN IMMEDIATE: holds the write lock until the block ends
        writer.exec_driver_sql("SELECT 1")
        response = client.get("/healthz")
    assert (response.status_code, response.get_json()["database"]) == (200, "ok")


# -- 4. API write limit ------------------------------------------------------------------------------


@pytest.fixture
def limited(make_settings: Callable[..., Settings]) -> Flask:
    app = create_app(make_settings(rate_limit_enabled=True, rate_limit_api_writes="2 per minute"))
    yield app
    app.extensions["helpdesk"].engine.dispose()


def _token(app: Flask, login: str) -> str:
    session: Session = app.extensions["helpdesk"].session_factory()
    try:
        _, token = AccountService(session).create_staff(login, Role.STAFF, with_token=True)
        session.commit()
    finally:
        session.close()
    assert token
    return token


def test_api_writes_are_limited_per_person(limited: Flask) -> None:
    client = limited.test_client()
    alice = {"Authorization": f"Bearer {_token(limited, 'alice')}"}
    bob = {"Authorization": f"Bearer {_token(limited, 'bob')}"}
    ticket = {"subject": "Limit", "body": "Count me."}
    first = client.post("/api/v1/tickets", json=ticket, headers=alice)
    assert first.status_code == 201
    assert first.headers["X-RateLimit-Limit"] == "2" and first.headers["X-RateLimit-Remaining"] == "1"
    # PATCH shares the budget with POST.
    assert client.patch(f"/api/v1/tickets/{first.get_json()['id']}", json={"priority": "high"},
                        headers=alice).status_code == 200
    refused = client.post("/api/v1/tickets", json=ticket, headers=alice)
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    # Reads are not counted, and another person (from the same address) has a budget of their own.
    assert client.get("/api/v1/tickets", headers=alice).status_code == 200
    assert client.post("/api/v1/tickets", json=ticket, headers=bob).status_code == 201


def test_api_writes_by_a_signed_in_person_are_counted_for_them(limited: Flask) -> None:
    session: Session = limited.extensions["helpdesk"].session_factory()
    AccountService(session).sign_in_github("dana")
    session.commit()
    session.close()
    client = limited.test_client()
    page = client.get("/auth/login").get_data(as_text=True)
    client.post("/auth/login", data={"login": "dana", "csrf_token": csrf_token_from(page)})
    token = csrf_token_from(client.get("/tickets/new").get_data(as_text=True))
    headers = {"X-CSRFToken": token}
    statuses = [client.post("/api/v1/tickets", json={"subject": "s", "body": "b"}, headers=headers).status_code
                for _ in range(3)]
    assert statuses == [201, 201, 429]


# -- 5. small defects --------------------------------------------------------------------------------


def test_ticket_form_title_is_plain_text_whatever_the_subject(client: FlaskClient,
                                                              login: Callable[..., object]) -> None:
    login()
    response = client.get("/tickets/new?subject=%3Cscript%3Ealert(1)%3C/script%3E")
    html = response.get_data(as_text=True)
    soup = BeautifulSoup(html, "html.parser")
    assert soup.title.get_text() == "Ask a question · DP0 Support Desk"
    assert "<script>alert(1)" not in html and soup.find("input", id="subject")["value"] == "<script>alert(1)</script>"
    # suggest.js is loaded once, from the page body.
    assert [s["src"] for s in soup.find_all("script")] == ["/static/suggest.js"]


def test_docs_home_is_served_at_docs(client: FlaskClient, built_docs: Path) -> None:
    with client.get("/docs/") as response:
        assert response.status_code == 200
        soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    # Its relative links were written for docs/index.html: the <base> makes them resolve from there.
    assert soup.head.find("base")["href"] == "/docs/docs/index.html"
    assert soup.find("h1") is not None
    for old in ("/docs/docs/index.html", "/docs/index.html", "/docs/docs/"):
        with client.get(old) as response:
            assert (response.status_code, response.headers["Location"]) == (302, "/docs/"), old
    with client.get("/docs/docs/index.html?highlight=butler") as response:
        assert response.headers["Location"] == "/docs/?highlight=butler"
