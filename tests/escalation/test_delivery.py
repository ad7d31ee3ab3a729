"""Escalation through the outbox against fake Jira and GitHub servers: one issue, whatever fails on the way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.audit import AuditEvent
from helpdesk.tickets.escalation import EscalationService
from helpdesk.tickets.models import Escalation, EscalationState, OutboxKind, OutboxStatus
from helpdesk.worker import OutboxWorker
from tests.escalation.conftest import escalate
from tests.support.clock import Clock
from tests.support.fake_trackers import FakeGitHubIssues, FakeJira
from tests.support.fakes import FakeServer, FakeSlack, Scripted
from tests.support.reading import fresh, outbox_items
from tests.support.slack import slack_ticket

BOTH = pytest.mark.parametrize("tracker", ["jira", "github"])


def only_escalation(db_session: Session) -> Escalation:
    fresh(db_session)
    return db_session.scalars(select(Escalation)).one()


def escalation_items(db_session: Session) -> list[Any]:
    return [i for i in outbox_items(db_session) if i.kind == OutboxKind.ESCALATION.value]


def create_endpoint(tracker: str) -> str:
    return "create" if tracker == "jira" else "issues"


def replies_in_thread(fake_slack: FakeSlack) -> list[str]:
    """What the desk posted in the ticket's Slack thread, after the acknowledgement."""
    return [m["text"] for m in fake_slack.messages if m.get("thread_ts") == "1596183880.004200"][1:]


class Killed(BaseException):
    """Stands for the worker's process dying (SIGKILL, power): nothing after it runs, no handler catches it."""


@BOTH
def test_escalation_files_one_issue_links_it_and_tells_the_requester_in_slack(
    client: FlaskClient, db_session: Session, staff_token: str, make_worker: Callable[..., OutboxWorker],
    fake_slack: FakeSlack, fake_tracker: FakeServer, tracker: str,
) -> None:
    ticket = slack_ticket(client, db_session)
    response = escalate(client, staff_token, ticket.id, summary="Butler registry query times out",
                        description="`butler query-datasets` hangs for dp02 since this morning.")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["state"] == "pending" and body["key"] is None and body["tracker"] == tracker
    assert [i.status for i in escalation_items(db_session)] == [OutboxStatus.PENDING]
    assert not fake_tracker.requests, "nothing talks to the tracker before the worker"

    stats = make_worker().run_once()
    assert stats.dead == 0, stats.errors
    (created,) = fake_tracker.created()
    escalation = only_escalation(db_session)
    marker = f"helpdesk-escalation-{escalation.id}"
    if tracker == "jira":
        fields = created.json["fields"]
        assert fields["project"] == {"key": "DM"} and fields["issuetype"] == {"name": "Bug"}
        assert fields["summary"] == "Butler registry query times out"
        assert marker in fields["labels"] and f"helpdesk-ticket-{ticket.id}" in fields["labels"]
        text = fields["description"]
        assert (escalation.remote_key, escalation.url) == ("DM-1", f"{fake_tracker.url}/browse/DM-1")
        assert escalation.remote_status == "To Do"
    else:
        assert created.headers["Authorization"] == "Bearer ghp_escalation_test_token"
        assert created.json["title"] == "Butler registry query times out"
        assert marker in created.json["labels"]
        text = created.json["body"]
        assert (escalation.remote_key, escalation.url) == ("1", "https://github.test/lsst-dm/dp0-bugs/issues/1")
        assert escalation.remote_status == "open"
    assert "`butler query-datasets` hangs" in text and marker in text
    assert f"https://help.test/staff/tickets/{ticket.id}" in text
    requester = ticket.requester
    assert requester.display_name not in text and (requester.email or "@") not in text  # the tracker may be public
    assert escalation.state is EscalationState.OPEN and escalation.last_synced_at is not None
    assert [i.status for i in escalation_items(db_session)] == [OutboxStatus.DELIVERED]

    # The requester hears of it in their own thread, with the link, exactly once.
    (told,) = replies_in_thread(fake_slack)
    assert "reported this to the engineering team" in told and escalation.url in told
    make_worker().run_once()
    assert len(fake_tracker.created()) == 1 and len(replies_in_thread(fake_slack)) == 1
    actions = [e.action for e in db_session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert "ticket.escalated" in actions and "escalation.filed" in actions


@BOTH
def test_a_503_is_retried_and_files_one_issue(
    client: FlaskClient, db_session: Session, staff_token: str, make_worker: Callable[..., OutboxWorker],
    fake_tracker: FakeServer, tracker: str, clock: Clock,
) -> None:
    ticket = slack_ticket(client, db_session)
    assert escalate(client, staff_token, ticket.id).status_code == 201
    fake_tracker.script(create_endpoint(tracker), Scripted(503, {"message": "Service Unavailable"}))
    stats = make_worker().run_once()
    assert stats.retried == 1 and not fake_tracker.issues  # type: ignore[attr-defined]
    (item,) = escalation_items(db_session)
    assert item.status is OutboxStatus.PENDING and "503" in (item.last_error or "")
    assert only_escalation(db_session).state is EscalationState.PENDING

    clock.advance(5)
    assert make_worker().run_once().delivered >= 1
    assert len(fake_tracker.issues) == 1  # type: ignore[attr-defined]
    assert len(fake_tracker.created()) == 2  # type: ignore[attr-defined]  # the 503, then the one that made it
    (item,) = escalation_items(db_session)
    assert item.status is OutboxStatus.DELIVERED and item.attempts == 2
    assert only_escalation(db_session).state is EscalationState.OPEN


@pytest.mark.parametrize(("tracker", "variant"), [("jira", "cloud"), ("jira", "server"), ("github", "labels"),
                                                  ("github", "labels dropped")])
def test_a_crash_after_the_tracker_filed_it_files_no_second_issue(
    client: FlaskClient, db_session: Session, staff_token: str, make_worker: Callable[..., OutboxWorker],
    fake_slack: FakeSlack, fake_jira: FakeJira, fake_github_issues: FakeGitHubIssues, fake_tracker: FakeServer,
    tracker: str, variant: str, clock: Clock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_jira.server_mode = variant == "server"  # Server/DC has only the older search
    fake_github_issues.push_access = variant != "labels dropped"  # a token without push access loses its labels
    ticket = slack_ticket(client, db_session)
    assert escalate(client, staff_token, ticket.id).status_code == 201

    def die(*args: Any, **kwargs: Any) -> None:
        raise Killed
    # The tracker files the issue; the worker dies before it records anything.
    monkeypatch.setattr(EscalationService, "_record_filed", die)
    with pytest.raises(Killed):
        make_worker().run_once()
    monkeypatch.undo()
    assert len(fake_tracker.issues) == 1  # type: ignore[attr-defined]
    (item,) = escalation_items(db_session)
    assert item.status is OutboxStatus.PENDING and item.attempts == 1 and item.locked_until is not None
    assert only_escalation(db_session).remote_key is None

    clock.advance(make_worker().settings.worker_lease_seconds + 1)  # the dead worker's lease runs out
    make_worker().run_once()
    assert len(fake_tracker.issues) == 1 and len(fake_tracker.created()) == 1  # type: ignore[attr-defined]
    (item,) = escalation_items(db_session)
    assert item.status is OutboxStatus.DELIVERED and item.attempts == 2
    escalation = only_escalation(db_session)
    assert escalation.remote_key == ("DM-1" if tracker == "jira" else "1")
    assert len(replies_in_thread(fake_slack)) == 1
    if tracker == "jira":
        searched = fake_jira.calls("search")
        assert searched[-1].path == ("/rest/api/2/search" if variant == "server" else "/rest/api/2/search/jql")
        assert searched[-1].query["jql"].startswith(f'labels = "helpdesk-escalation-{escalation.id}"')
    elif variant == "labels dropped":
        assert fake_github_issues.calls("search"), "found by the marker line when the label was dropped"


def test_a_lost_answer_is_found_by_its_marker_not_filed_again(
    client: FlaskClient, db_session: Session, staff_token: str, make_worker: Callable[..., OutboxWorker],
    fake_jira: FakeJira, clock: Clock,
) -> None:
    ticket = slack_ticket(client, db_session)
    assert escalate(client, staff_token, ticket.id).status_code == 201
    # Jira files the issue but its answer never arrives within the timeout.
    fake_jira.script("create", Scripted(stall=3, then_normal=True))
    make_worker(channel_timeout_seconds=0.5).run_once()
    (item,) = escalation_items(db_session)
    assert item.status is OutboxStatus.PENDING and "Read timed out" in (item.last_error or "")
    assert len(fake_jira.issues) == 1
    clock.advance(5)
    make_worker().run_once()
    assert len(fake_jira.issues) == 1 and len(fake_jira.created()) == 1
    assert only_escalation(db_session).remote_key == "DM-1"


def test_a_refusal_is_dead_at_once_and_staff_may_escalate_again(
    client: FlaskClient, db_session: Session, staff_token: str, make_worker: Callable[..., OutboxWorker],
    fake_jira: FakeJira,
) -> None:
    fake_jira.issue_types = ("Task",)  # the project has no "Bug" type: Jira answers 400
    ticket = slack_ticket(client, db_session)
    first = escalate(client, staff_token, ticket.id).get_json()
    stats = make_worker().run_once()
    assert stats.dead == 1 and not fake_jira.issues
    (item,) = escalation_items(db_session)
    assert item.status is OutboxStatus.DEAD and "issuetype" in (item.last_error or "")
    assert only_escalation(db_session).state is EscalationState.FAILED

    fake_jira.issue_types = ("Bug",)
    again = escalate(client, staff_token, ticket.id)
    assert again.status_code == 201 and again.get_json()["id"] != first["id"]
    make_worker().run_once()
    assert list(fake_jira.issues) == ["DM-1"]


@BOTH
def test_a_rate_limit_waits_as_long_as_the_tracker_says(
    client: FlaskClient, db_session: Session, staff_token: str, make_worker: Callable[..., OutboxWorker],
    fake_tracker: FakeServer, tracker: str, clock: Clock,
) -> None:
    ticket = slack_ticket(client, db_session)
    assert escalate(client, staff_token, ticket.id).status_code == 201
    fake_tracker.script(create_endpoint(tracker), Scripted(429, {"message": "slow down"}, {"Retry-After": "42"}))
    assert make_worker().run_once().retried == 1
    (item,) = escalation_items(db_session)
    assert (item.next_attempt_at - clock.now).total_seconds() == pytest.approx(42)
