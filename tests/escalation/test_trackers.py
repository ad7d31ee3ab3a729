"""The tracker clients on the wire: authentication, error mapping, and finding an issue by its exact marker."""

from __future__ import annotations

import time

import pytest

from helpdesk.channels.base import DeliveryError, PermanentDeliveryError, RateLimitedError, UnknownChannelError
from helpdesk.channels.trackers import GitHubTracker, JiraTracker, build_tracker
from helpdesk.config import Settings
from helpdesk.tickets.escalation import IssueDraft
from helpdesk.tickets.models import EscalationState
from tests.support.fake_trackers import GITHUB_REPO, GITHUB_TOKEN, JIRA_TOKEN, JIRA_USER, FakeGitHubIssues, FakeJira
from tests.support.fakes import Scripted

pytestmark = pytest.mark.usefixtures("_no_proxies")


def draft(escalation_id: int) -> IssueDraft:
    return IssueDraft(title="Butler   hangs\non dp02", description="It hangs.", marker=f"helpdesk-escalation-{escalation_id}")


def test_jira_cloud_basic_auth_and_server_bearer_token() -> None:
    cloud = FakeJira().start()
    server = FakeJira(server=True, pat="jira-pat-123").start()
    try:
        issue = JiraTracker(cloud.url, "DM", JIRA_TOKEN, user=JIRA_USER, timeout=5).create(draft(1))
        assert (issue.key, issue.state, issue.status) == ("DM-1", EscalationState.OPEN, "To Do")
        assert cloud.issues["DM-1"]["fields"]["summary"] == "Butler hangs on dp02"  # one line
        assert cloud.created()[0].headers["Authorization"].startswith("Basic ")
        on_server = JiraTracker(server.url, "DM", "jira-pat-123", timeout=5)
        on_server.create(draft(1))
        assert server.created()[0].headers["Authorization"] == "Bearer jira-pat-123"
        assert on_server.find("helpdesk-escalation-1") is not None
        assert [r.path for r in server.calls("search")] == ["/rest/api/2/search/jql", "/rest/api/2/search"]
        server.transition("DM-1", "Done", "Won't Do")
        assert on_server.fetch("DM-1").state is EscalationState.CLOSED
    finally:
        cloud.stop()
        server.stop()


def test_errors_map_to_the_outbox_kinds() -> None:
    fake = FakeJira().start()
    try:
        with pytest.raises(PermanentDeliveryError, match="401"):
            JiraTracker(fake.url, "DM", "wrong", user=JIRA_USER, timeout=5).create(draft(1))
        tracker = JiraTracker(fake.url, "NOPE", JIRA_TOKEN, user=JIRA_USER, timeout=5)
        with pytest.raises(PermanentDeliveryError, match="valid project is required"):
            tracker.create(draft(1))
        fake.script("create", Scripted(503, {"errorMessages": ["down"]}))
        with pytest.raises(DeliveryError) as outage:
            JiraTracker(fake.url, "DM", JIRA_TOKEN, user=JIRA_USER, timeout=5).create(draft(1))
        assert not isinstance(outage.value, PermanentDeliveryError)
        fake.script("create", Scripted(200, b"<html>proxy error</html>", {"Content-Type": "text/html"}))
        with pytest.raises(DeliveryError, match="not JSON"):
            JiraTracker(fake.url, "DM", JIRA_TOKEN, user=JIRA_USER, timeout=5).create(draft(1))
    finally:
        fake.stop()
    with pytest.raises(DeliveryError, match="unreachable"):
        JiraTracker(fake.url, "DM", JIRA_TOKEN, user=JIRA_USER, timeout=2).create(draft(1))


def test_github_rate_limit_by_403_and_reset_time() -> None:
    fake = FakeGitHubIssues().start()
    try:
        tracker = GitHubTracker(fake.url, GITHUB_REPO, GITHUB_TOKEN, timeout=5)
        reset = int(time.time()) + 60
        fake.script("issues", Scripted(403, {"message": "API rate limit exceeded"},
                                       {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}))
        with pytest.raises(RateLimitedError) as limited:
            tracker.create(draft(1))
        assert 50 <= (limited.value.retry_after or 0) <= 61
        fake.script("issues", Scripted(403, {"message": "Resource not accessible by integration"}))
        with pytest.raises(PermanentDeliveryError, match="not accessible"):
            tracker.create(draft(1))
    finally:
        fake.stop()


def test_github_finds_only_the_exact_marker() -> None:
    fake = FakeGitHubIssues(push_access=False).start()  # labels dropped: found by the marker line
    try:
        tracker = GitHubTracker(fake.url, GITHUB_REPO, GITHUB_TOKEN, timeout=5)
        tracker.create(draft(31))
        assert tracker.find("helpdesk-escalation-3") is None  # "…-31" is another escalation
        found = tracker.find("helpdesk-escalation-31")
        assert found is not None and found.key == "1"
    finally:
        fake.stop()


def test_building_a_tracker_names_the_settings_it_lacks(make_settings: type[Settings]) -> None:
    settings = make_settings(escalation_tracker="jira", jira_url="https://jira.test")  # type: ignore[operator]
    with pytest.raises(UnknownChannelError, match="HELPDESK_JIRA_PROJECT, HELPDESK_JIRA_TOKEN"):
        build_tracker(settings, "jira")
    with pytest.raises(UnknownChannelError, match="HELPDESK_GITHUB_ESCALATION_REPO"):
        build_tracker(settings, "github")
