"""Pages and operations endpoints through the test client: sign-in, the web form, the console,
CSRF, escaping, rate limits, /healthz, /metrics and /docs/."""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from helpdesk import create_app
from helpdesk.accounts.models import Person
from helpdesk.tickets.models import Ticket
from tests.conftest import csrf_token_from


def test_home_page_routes_people(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    assert 'href="/docs/"' in html and 'href="/tickets/new"' in html


def test_anonymous_visitor_is_sent_to_sign_in_and_back(client: FlaskClient) -> None:
    response = client.get("/staff/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login?next=/staff/"


def test_signed_in_non_staff_gets_403(client: FlaskClient, login: Callable[..., Person]) -> None:
    login("delegate")
    assert client.get("/staff/").status_code == 403
    assert client.get("/staff/tickets/1").status_code == 403


def test_dev_login_returns_to_next_but_never_off_site(client: FlaskClient, make_person) -> None:  # type: ignore[no-untyped-def]
    make_person("sam", "staff")
    token = csrf_token_from(client.get("/auth/login?next=/staff/").get_data(as_text=True))
    response = client.post("/auth/login", data={"login": "sam", "csrf_token": token, "next": "/staff/"})
    assert response.headers["Location"] == "/staff/"
    client.post("/auth/logout", data={"csrf_token": token})
    token = csrf_token_from(client.get("/auth/login").get_data(as_text=True))
    response = client.post("/auth/login", data={"login": "sam", "csrf_token": token, "next": "//evil.example/x"})
    assert response.headers["Location"] == "/"


def test_dev_login_rejects_impossible_logins(client: FlaskClient) -> None:
    token = csrf_token_from(client.get("/auth/login").get_data(as_text=True))
    response = client.post("/auth/login", data={"login": "-bad name-", "csrf_token": token})
    assert response.status_code == 400
    assert "single hyphens" in response.get_data(as_text=True)


def test_dev_login_refused_when_auth_is_github(make_settings) -> None:  # type: ignore[no-untyped-def]
    app = create_app(make_settings(auth="github", github_client_id="id", github_client_secret="s"))
    client = app.test_client()
    client.get("/")
    assert client.post("/auth/login", data={"login": "x"}).status_code in (400, 404)
    response = client.get("/auth/login")
    assert response.status_code == 302 and "client_id=id" in response.headers["Location"]
    app.extensions["helpdesk"].engine.dispose()


def test_form_without_csrf_token_is_refused(client: FlaskClient, login, db_session: Session) -> None:  # type: ignore[no-untyped-def]
    login("delegate")
    response = client.post("/tickets/new", data={"subject": "s", "body": "b"})
    assert response.status_code == 400
    assert db_session.scalar(select(func.count()).select_from(Ticket)) == 0


def test_web_form_files_a_ticket_about_a_page(client: FlaskClient, login, db_session: Session) -> None:  # type: ignore[no-untyped-def]
    login("delegate")
    form = client.get("/tickets/new?subject=Question+about%3A+Object&page=/docs/docs/object.html")
    html = form.get_data(as_text=True)
    assert 'value="Question about: Object"' in html and "/docs/docs/object.html" in html
    response = client.post("/tickets/new", data={
        "subject": "Question about: Object", "body": "Which column?", "page": "/docs/docs/object.html",
        "csrf_token": csrf_token_from(html)})
    assert response.status_code == 302
    ticket = db_session.scalars(select(Ticket)).one()
    assert (ticket.source.value, ticket.external) == ("web", {"page": "/docs/docs/object.html"})
    assert response.headers["Location"] == f"/tickets/{ticket.id}"
    assert "Which column?" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_empty_form_shows_errors_and_files_nothing(client: FlaskClient, login, db_session: Session) -> None:  # type: ignore[no-untyped-def]
    login("delegate")
    token = csrf_token_from(client.get("/tickets/new").get_data(as_text=True))
    response = client.post("/tickets/new", data={"subject": "", "body": "", "csrf_token": token})
    assert response.status_code == 400
    assert "This field is required" in response.get_data(as_text=True)
    assert db_session.scalar(select(func.count()).select_from(Ticket)) == 0


def test_user_content_is_escaped(client: FlaskClient, login, db_session: Session) -> None:  # type: ignore[no-untyped-def]
    login("delegate")
    token = csrf_token_from(client.get("/tickets/new").get_data(as_text=True))
    evil = '<script>alert(1)</script> [x](javascript:alert(2)) <img src=x onerror=alert(3)>'
    client.post("/tickets/new", data={"subject": "<b>bold</b>", "body": evil, "csrf_token": token})
    html = client.get("/tickets/1").get_data(as_text=True)
    assert "<script>alert(1)" not in html and 'href="javascript' not in html and "<img" not in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html


def test_staff_console_lists_and_works_a_ticket(client: FlaskClient, login, db_session: Session) -> None:  # type: ignore[no-untyped-def]
    login("delegate")
    token = csrf_token_from(client.get("/tickets/new").get_data(as_text=True))
    client.post("/tickets/new", data={"subject": "Cannot log in", "body": "b", "csrf_token": token})
    client.post("/auth/logout", data={"csrf_token": token})
    login("sam", "staff")
    console = client.get("/staff/?queue=unsorted").get_data(as_text=True)
    assert "Cannot log in" in console and 'data-queue="unsorted">1<' in console
    detail = client.get("/staff/tickets/1").get_data(as_text=True)
    token = csrf_token_from(detail)
    response = client.post("/staff/tickets/1/update", data={
        "csrf_token": token, "queue": "accounts", "status": "in_progress", "priority": "high", "assignee": "sam"})
    assert response.status_code == 302
    response = client.post("/staff/tickets/1/reply", data={"csrf_token": token, "body": "Fixed", "visibility": "public"})
    assert response.status_code == 302
    ticket = db_session.get(Ticket, 1)
    db_session.refresh(ticket)
    assert (ticket.queue.slug, ticket.status.value, ticket.priority.value) == ("accounts", "waiting_on_user", "high")
    bad = client.post("/staff/tickets/1/update", data={
        "csrf_token": token, "queue": "accounts", "status": "new", "priority": "high", "assignee": ""},
        follow_redirects=True)
    assert "cannot go from waiting_on_user to new" in bad.get_data(as_text=True)


def test_public_endpoints_are_rate_limited(make_settings, make_person) -> None:  # type: ignore[no-untyped-def]
    app = create_app(make_settings(rate_limit_enabled=True, rate_limit_public="3 per minute"))
    client = app.test_client()
    statuses = []
    for _ in range(4):
        token = csrf_token_from(client.get("/auth/login").get_data(as_text=True))  # sign-in renews the session
        statuses.append(client.post("/auth/login", data={"login": "x", "csrf_token": token}).status_code)
    assert statuses == [302, 302, 302, 429]
    app.extensions["helpdesk"].engine.dispose()


def test_healthz_reports_the_database(client: FlaskClient, make_settings) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/healthz").get_json() == {"status": "ok", "database": "ok"}
    broken = create_app(make_settings(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none"))
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unreachable"


def test_metrics_count_requests_tickets_and_outbox(client: FlaskClient, staff_token: str) -> None:
    client.post("/api/v1/tickets", json={"subject": "s", "body": "b"}, headers={"Authorization": f"Bearer {staff_token}"})
    text = client.get("/metrics").get_data(as_text=True)
    assert 'helpdesk_tickets_filed{source="api"} 1.0' in text
    assert 'helpdesk_outbox_depth{status="pending"} 0.0' in text
    assert 'helpdesk_http_requests_total{endpoint="/api/v1/tickets",method="POST",status="201"} 1.0' in text


def test_responses_carry_request_id_and_safety_headers(client: FlaskClient) -> None:
    response = client.get("/", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert len(client.get("/", headers={"X-Request-ID": "bad id; <x>"}).headers["X-Request-ID"]) == 32


def test_docs_are_served(client: FlaskClient, built_docs) -> None:  # type: ignore[no-untyped-def]
    with client.get("/docs/") as response:
        assert response.status_code == 200
        assert "DP0" in response.get_data(as_text=True)
    with client.get("/docs/docs/index.html") as response:  # the home page's built address: one clean URL
        assert (response.status_code, response.headers["Location"]) == (302, "/docs/")
    with client.get("/docs/../pyproject.toml") as response:
        assert response.status_code == 404
