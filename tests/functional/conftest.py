"""Fixtures of the functional tests: GitHub sign-in against a local fake GitHub."""

from __future__ import annotations

import pytest

from helpdesk import create_app
from tests.support.fake_github import fake_github


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    with fake_github() as fake:
        yield fake


@pytest.fixture
def github_app(make_settings, github):  # type: ignore[no-untyped-def]
    app = create_app(make_settings(
        auth="github", github_client_id="client-123", github_client_secret="shh",
        github_authorize_url=f"{github.url}/login/oauth/authorize",
        github_token_url=f"{github.url}/login/oauth/access_token", github_api_url=f"{github.url}/",
    ))
    yield app
    app.extensions["helpdesk"].engine.dispose()
