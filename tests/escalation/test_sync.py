"""``helpdesk escalations sync``: the tracker's state on the ticket, and the requester told once it is done."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.cli import cli
from helpdesk.cli.context import CliContext
from helpdesk.config import Settings
from helpdesk.factory import Factory
from helpdesk.tickets.escalation import RemoteIssue
from helpdesk.tickets.models import Escalation, EscalationState, Message
from helpdesk.worker import OutboxWorker
from tests.escalation.conftest import escalate
from tests.support.fake_trackers import FakeGitHubIssues, FakeJira
from tests.support.fakes import FakeSlack, Scripted
from tests.support.reading import fresh
from tests.support.slack import slack_ticket


def sync(settings: Settings) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["escalations", "sync"], obj=CliContext(settings))
    return result.exit_code, result.output


def thread_texts(fake_slack: FakeSlack) -> list[str]:
    return [m["text"] for m in fake_slack.messages if m.get("thread_ts") == "1596183880.004200"]


def escalated_and_filed(client: FlaskClient, db_session: Session, staff_token: str,
                        make_worker: Callable[..., OutboxWorker]) -> Escalation:
    ticket = slack_ticket(client, db_session)
    assert escalate(client, staff_token, ticket.id).status_code == 201
    make_worker().run_once()
    fresh(db_session)
    escalation = db_session.scalars(select(Escalation)).one()
    assert escalation.state is EscalationState.OPEN
    return escalation


def test_jira_done_is_resolved_on_the_ticket_and_the_requester_is_told_once(
    client: FlaskClient, db_session: Session, staff_token: str, settings: Settings,
    make_worker: Callable[..., OutboxWorker], fake_jira: FakeJira, fake_slack: FakeSlack,
) -> None:
    escalated_and_filed(client, db_session, staff_token, make_worker)
    fake_jira.transition("DM-1", "In Progress")
    code, output = sync(settings)
    assert code == 0 and "1 checked, 0 changed state" in output
    fresh(db_session)
    assert db_session.scalars(select(Escalation)).one().remote_status == "In Progress"

    fake_jira.transition("DM-1", "Done", "Done")
    code, output = sync(settings)
    assert code == 0 and "1 changed state, 1 requesters told" in output, output
    fresh(db_session)
    escalation = db_session.scalars(select(Escalation)).one()
    assert escalation.state is EscalationState.RESOLVED and escalation.remote_status == "Done: Done"
    assert escalation.resolved_at is not None
    make_worker().run_once()  # the reply goes out through the outbox
    told = thread_texts(fake_slack)[-1]
    assert "marked Jira issue DM-1" in told and "as fixed" in told and f"{fake_jira.url}/browse/DM-1" in told

    before = len(fake_slack.messages)
    code, output = sync(settings)  # resolved escalations are not read again, and nobody is told twice
    assert code == 0 and "0 checked" in output
    make_worker().run_once()
    assert len(fake_slack.messages) == before


@pytest.mark.parametrize("tracker", ["github"])
def test_github_closed_as_not_planned_is_closed_and_said_so(
    client: FlaskClient, db_session: Session, staff_token: str, settings: Settings,
    make_worker: Callable[..., OutboxWorker], fake_github_issues: FakeGitHubIssues, fake_slack: FakeSlack,
) -> None:
    escalated_and_filed(client, db_session, staff_token, make_worker)
    fake_github_issues.close(1, "not_planned")
    code, output = sync(settings)
    assert code == 0 and "1 requesters told" in output
    fresh(db_session)
    escalation = db_session.scalars(select(Escalation)).one()
    assert escalation.state is EscalationState.CLOSED and escalation.remote_status == "closed: not_planned"
    make_worker().run_once()
    assert "closed GitHub issue #1" in thread_texts(fake_slack)[-1]


def test_an_unreadable_issue_changes_nothing_and_the_command_says_so(
    client: FlaskClient, db_session: Session, staff_token: str, settings: Settings,
    make_worker: Callable[..., OutboxWorker], fake_jira: FakeJira,
) -> None:
    escalated_and_filed(client, db_session, staff_token, make_worker)
    fake_jira.transition("DM-1", "Done", "Done")
    fake_jira.script("issue", Scripted(502, {"errorMessages": ["Bad gateway"]}))
    code, output = sync(settings)
    assert code == 1 and "1 could not be read" in output
    fresh(db_session)
    assert db_session.scalars(select(Escalation)).one().state is EscalationState.OPEN
    code, output = sync(settings)  # the next run reads it
    assert code == 0 and "1 changed state" in output


def test_two_syncs_that_both_saw_it_done_tell_the_requester_once(
    client: FlaskClient, db_session: Session, staff_token: str, app: Flask, settings: Settings,
    make_worker: Callable[..., OutboxWorker], fake_jira: FakeJira,
) -> None:
    escalation = escalated_and_filed(client, db_session, staff_token, make_worker)
    done = RemoteIssue("DM-1", f"{fake_jira.url}/browse/DM-1", EscalationState.RESOLVED, "Done")
    told = []
    for _ in range(2):  # each with its own session, as two `helpdesk escalations sync` runs would be
        session = app.extensions["helpdesk"].session_factory()
        try:
            told.append(Factory(session, settings).create_escalation_service().apply(escalation.id, done))
        finally:
            session.close()
    assert told == [(True, True), (False, False)]
    fresh(db_session)
    public = [m for m in db_session.scalars(select(Message)) if "as fixed" in m.body]
    assert len(public) == 1
