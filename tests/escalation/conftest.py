"""Fixtures for escalation: the desk wired to fake Slack, a fake forum, a fake Jira and a fake GitHub on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from helpdesk.config import Settings

# The channel tests' fixtures: the fake Slack and forum, no proxies for loopback, the test clock and worker.
from tests.channels.conftest import (  # noqa: F401
    _no_proxies,
    channel_overrides,
    clock,
    fake_discourse,
    fake_slack,
    make_worker,
)
from tests.support.fake_trackers import GITHUB_TOKEN, JIRA_TOKEN, JIRA_USER, FakeGitHubIssues, FakeJira
from tests.support.fakes import FakeDiscourse, FakeServer, FakeSlack


@pytest.fixture
def fake_jira() -> Iterator[FakeJira]:
    fake = FakeJira().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_github_issues() -> Iterator[FakeGitHubIssues]:
    fake = FakeGitHubIssues().start()
    yield fake
    fake.stop()


@pytest.fixture
def tracker() -> str:
    """The configured tracker; tests parametrize it to run against both."""
    return "jira"


def tracker_overrides(tracker: str, jira_url: str, github_url: str) -> dict[str, object]:
    return {
        "escalation_tracker": tracker,
        "jira_url": jira_url, "jira_project": "DM", "jira_user": JIRA_USER, "jira_token": JIRA_TOKEN,
        "github_escalation_repo": "lsst-dm/dp0-bugs", "github_escalation_token": GITHUB_TOKEN,
        "github_escalation_api_url": f"{github_url}/",
    }


@pytest.fixture
def settings(  # noqa: F811 - the fixtures imported above, by name
    make_settings: Callable[..., Settings], fake_slack: FakeSlack, fake_discourse: FakeDiscourse,  # noqa: F811
    fake_jira: FakeJira, fake_github_issues: FakeGitHubIssues, tracker: str,
) -> Settings:
    return make_settings(**channel_overrides(fake_slack.api_url, fake_discourse.url),
                         **tracker_overrides(tracker, fake_jira.url, fake_github_issues.url))


@pytest.fixture
def fake_tracker(tracker: str, fake_jira: FakeJira, fake_github_issues: FakeGitHubIssues) -> FakeServer:
    """The fake of the configured tracker."""
    return fake_jira if tracker == "jira" else fake_github_issues


def escalate(client: FlaskClient, token: str, ticket_id: int, **body: Any) -> Any:
    """POST /api/v1/tickets/<id>/escalations as the staff token's owner."""
    return client.post(f"/api/v1/tickets/{ticket_id}/escalations", json=body,
                       headers={"Authorization": f"Bearer {token}"})
