"""Fixtures for the channel tests: the helpdesk wired to a fake Slack and a fake forum on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from helpdesk.config import Settings
from helpdesk.worker import OutboxWorker
from tests.support.clock import Clock
from tests.support.fakes import FakeDiscourse, FakeSlack
from tests.support.forum import CATEGORY
from tests.support.payloads import DATA, load
from tests.support.signing import DISCOURSE_SECRET, SLACK_SECRET
from tests.support.slack import SUPPORT_CHANNEL

__all__ = ["CATEGORY", "DATA", "SUPPORT_CHANNEL", "channel_overrides", "load"]


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """slack-sdk and requests read proxy variables; the fakes are on loopback (CONTRACTS pitfall 7)."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_worker(app: Flask, settings: Settings, clock: Clock) -> Callable[..., OutboxWorker]:
    """An outbox worker on the test clock; keyword arguments override settings for that worker only."""
    def make(**overrides: Any) -> OutboxWorker:
        worker_settings = settings.model_copy(update=overrides) if overrides else settings
        return OutboxWorker(app.extensions["helpdesk"].session_factory, worker_settings, clock=clock,
                            rng=lambda: 0.5)
    return make


@pytest.fixture
def fake_discourse() -> Iterator[FakeDiscourse]:
    fake = FakeDiscourse().start()
    yield fake
    fake.stop()


def channel_overrides(slack_url: str, discourse_url: str) -> dict[str, object]:
    return {
        "slack_signing_secret": SLACK_SECRET,
        "slack_bot_token": "xoxb-test-token",
        "slack_api_url": slack_url,
        "slack_channel_ids": SUPPORT_CHANNEL,
        "slack_profile_lookup": False,  # on in test_profiles.py
        "discourse_url": discourse_url,
        "discourse_api_key": "test-api-key",
        "discourse_api_username": "dp0-support-bot",
        "discourse_webhook_secret": DISCOURSE_SECRET,
        "discourse_category_ids": str(CATEGORY),
        "channel_timeout_seconds": 5,
        "worker_backoff_base_seconds": 1.0,
        "public_url": "https://help.test",
    }


@pytest.fixture
def settings(
    make_settings: Callable[..., Settings], fake_slack: FakeSlack, fake_discourse: FakeDiscourse
) -> Settings:
    return make_settings(**channel_overrides(fake_slack.api_url, fake_discourse.url))
