"""Fixtures: settings → app → client (as in Flask's tutorial), on SQLite and, when
HELPDESK_TEST_DATABASE_URL is set, on PostgreSQL too; plus a live server and a real Chromium."""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from helpdesk import create_app
from helpdesk.accounts.models import Person, Role
from helpdesk.accounts.services import AccountService
from helpdesk.config import Settings
from helpdesk.programs.services import ProgramService, load_program_config
from helpdesk.tickets.queues import load_queue_config, sync_queues
from tests.support.database import SERVER_URL as POSTGRES_URL
from tests.support.database import create_sqlite_schema, empty_postgres, postgres_url

ROOT = Path(__file__).resolve().parent.parent
DOCS_BUILD = ROOT / "var" / "docs" / "html"
TEST_SECRET = "test-secret-key-" + "x" * 32

DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without HELPDESK_TEST_DATABASE_URL the PostgreSQL variants are skipped; in CI they must run."""
    if POSTGRES_URL:
        return
    if os.environ.get("CI") == "true":
        raise pytest.UsageError("CI=true but HELPDESK_TEST_DATABASE_URL is not set; .ci/run sets it.")
    skip = pytest.mark.skip(reason="set HELPDESK_TEST_DATABASE_URL to run the PostgreSQL variant")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fresh_queue_cache() -> Iterator[None]:
    """Every test starts from an empty database; the per-process queue cache must not outlive it."""
    from helpdesk.tickets.queue_cache import QUEUE_CACHE

    QUEUE_CACHE.clear()
    yield
    QUEUE_CACHE.clear()


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database with the current schema: SQLite, then PostgreSQL when configured."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'helpdesk.sqlite3'}"
        create_sqlite_schema(url)
        return url
    url = postgres_url()
    empty_postgres(url)
    return url


@pytest.fixture
def make_settings(database_url: str, tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "env": "testing",
            "database_url": database_url,
            "secret_key": TEST_SECRET,
            "auth": "dev",
            "docs_dir": DOCS_BUILD,
            "index_dir": tmp_path / "index",
            "attachment_dir": tmp_path / "attachments",
            "rate_limit_enabled": False,
            "log_level": "WARNING",
            # Tests of other behaviour file tickets that stay unsorted; tests/triage_intake/ turns triage on.
            "triage_enabled": False,
            # Likewise the incident check each filing queues for the worker; tests/incidents/ queue their own.
            "incident_checks": False,
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings)
    with app.app_context():
        session = app.extensions["helpdesk"].session_factory()
        sync_queues(session, load_queue_config())
        ProgramService(session).sync(load_program_config())
        session.close()
    yield app
    app.extensions["helpdesk"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def db_session(app: Flask) -> Iterator[Session]:
    # Deferred transactions: the test's own reads must not hold SQLite's write lock against the app.
    session = app.extensions["helpdesk"].read_session_factory()
    yield session
    session.close()


@pytest.fixture
def make_person(db_session: Session) -> Callable[..., Person]:
    """Create a person signed in through GitHub with the given role."""

    def make(login: str = "delegate", role: str = "user") -> Person:
        service = AccountService(db_session)
        if role == "user":
            return service.sign_in_github(login)
        person, _ = service.create_staff(login, Role(role))
        return person

    return make


@pytest.fixture
def staff_token(db_session: Session) -> str:
    _, token = AccountService(db_session).create_staff("alice", Role.ADMIN, with_token=True)
    assert token
    return token


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "no CSRF token in the page"
    return match.group(1)


@pytest.fixture
def login(client: FlaskClient, make_person: Callable[..., Person]) -> Callable[..., Person]:
    """Sign the test client in through the dev form, as a person with the given role."""

    def do_login(name: str = "delegate", role: str = "user") -> Person:
        person = make_person(name, role)
        page = client.get("/auth/login")
        response = client.post(
            "/auth/login", data={"login": name, "csrf_token": csrf_token_from(page.get_data(as_text=True))}
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        return person

    return do_login


# -- a live server and a real browser ---------------------------------------------------------------


@dataclass
class LiveServer:
    url: str
    app: Flask


@pytest.fixture(scope="session")
def built_docs() -> Path:
    """The documentation as `make test` built it before pytest; built here when run on its own."""
    if not (DOCS_BUILD / "docs" / "index.html").exists():
        from sphinx.cmd.build import build_main

        assert build_main(["-q", "-b", "html", str(ROOT), str(DOCS_BUILD)]) == 0
    return DOCS_BUILD


@pytest.fixture
def live_server(make_settings: Callable[..., Settings], built_docs: Path) -> Iterator[LiveServer]:
    """The helpdesk served by a real HTTP server in a thread, with the built documentation at /docs/."""
    app = create_app(make_settings())
    session = app.extensions["helpdesk"].session_factory()
    sync_queues(session, load_queue_config())
    ProgramService(session).sync(load_program_config())
    session.close()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    # Request threads are joined at close: a request still running when the test ends (a page's heartbeat, a
    # navigation cut short) would otherwise hand its connection back to a pool already disposed, and PostgreSQL's
    # driver warns when that connection is collected later, in whichever test runs then.
    server.daemon_threads = False
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", app)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        app.extensions["helpdesk"].engine.dispose()


def chromium_path() -> str | None:
    return os.environ.get("HELPDESK_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    executable = chromium_path()
    if executable is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is missing in CI; .ci/run installs Debian's chromium package.")
        pytest.skip("no Chromium found (apt-get install chromium); browser tests skipped")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context()  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
