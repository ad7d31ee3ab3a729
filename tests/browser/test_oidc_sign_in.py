"""Sign-in with CILogon (OpenID Connect) in a real Chromium against the local fake provider, then linking
GitHub: signing in either way is then the same person."""

from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from helpdesk import create_app
from helpdesk.accounts.models import Person
from tests.support.fake_github import fake_github
from tests.support.fake_oidc import fake_oidc

pytestmark = pytest.mark.browser


@pytest.fixture
def desk(make_settings, built_docs, monkeypatch):  # type: ignore[no-untyped-def]
    """The desk with both sign-ins, served on a real port, with its fake GitHub and fake CILogon."""
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    with fake_oidc() as oidc, fake_github() as github:
        app = create_app(make_settings(
            auth="oidc,github", **oidc.settings(), github_client_id="client-123", github_client_secret="shh",
            github_authorize_url=f"{github.url}/login/oauth/authorize",
            github_token_url=f"{github.url}/login/oauth/access_token", github_api_url=f"{github.url}/"))
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield app, f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            thread.join(timeout=5)
            app.extensions["helpdesk"].engine.dispose()


def people(app) -> int:  # type: ignore[no-untyped-def]
    session = app.extensions["helpdesk"].session_factory()
    try:
        return session.scalar(select(func.count()).select_from(Person)) or 0
    finally:
        session.close()


def test_cilogon_then_github_is_one_person(desk, page) -> None:  # type: ignore[no-untyped-def]
    app, base = desk
    page.goto(f"{base}/tickets/new")
    assert "/auth/login" in page.url
    page.get_by_role("link", name="Sign in with CILogon").click()
    page.wait_for_url(f"{base}/tickets/new")
    assert page.get_by_role("button", name=re.compile("Sign out Vera Rubin")).is_visible()

    page.get_by_role("link", name="My sign-ins").click()
    assert "CILogon" in page.get_by_role("table").inner_text()
    page.get_by_role("button", name="Link GitHub").click()
    page.wait_for_url(f"{base}/auth/account")
    assert "Linked" in page.get_by_role("status").inner_text()
    table = page.get_by_role("table").inner_text()
    assert "GitHub" in table and "Octo-Cat" in table
    page.get_by_role("button", name=re.compile("Sign out")).click()

    page.goto(f"{base}/auth/login")
    page.get_by_role("link", name="Sign in with GitHub").click()
    page.wait_for_url(f"{base}/")
    page.get_by_role("link", name="My sign-ins").click()
    assert "Vera Rubin" in page.content() and "CILogon" in page.get_by_role("table").inner_text()
    assert people(app) == 1
