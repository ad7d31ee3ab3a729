"""Escalating from the API and the staff page: who may, what a desk without a tracker says, what the page shows."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person
from helpdesk.audit import AuditEvent
from helpdesk.config import Settings, UnsafeSettingsError
from helpdesk.tickets.models import Escalation, OutboxItem
from helpdesk.worker import OutboxWorker
from tests.conftest import csrf_token_from
from tests.escalation.conftest import escalate
from tests.support.fake_trackers import FakeJira
from tests.support.reading import count, fresh
from tests.support.slack import slack_ticket


def test_staff_escalate_once_and_a_repeat_returns_the_same_escalation(
    client: FlaskClient, db_session: Session, staff_token: str,
) -> None:
    ticket = slack_ticket(client, db_session)
    first = escalate(client, staff_token, ticket.id)
    assert first.status_code == 201
    assert first.get_json()["summary"] == ticket.subject and first.get_json()["created_by"]["login"] == "alice"
    again = escalate(client, staff_token, ticket.id, summary="Another title")
    assert again.status_code == 200 and again.get_json()["id"] == first.get_json()["id"]
    assert count(db_session, Escalation) == 1
    fresh(db_session)
    assert len([i for i in db_session.scalars(select(OutboxItem)) if i.kind == "escalation"]) == 1
    (event,) = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "ticket.escalated")).all()
    assert event.ticket_id == ticket.id and event.data["tracker"] == "jira"


def test_a_requester_gets_403_even_on_their_own_ticket(
    client: FlaskClient, db_session: Session, login: Callable[..., Person],
) -> None:
    login("delegate")
    page = client.get("/tickets/new").get_data(as_text=True)
    headers = {"X-CSRFToken": csrf_token_from(page)}
    filed = client.post("/api/v1/tickets", json={"subject": "Butler fails", "body": "It fails."}, headers=headers)
    assert filed.status_code == 201
    refused = client.post(f"/api/v1/tickets/{filed.get_json()['id']}/escalations", json={}, headers=headers)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"
    assert client.post(f"/staff/tickets/{filed.get_json()['id']}/escalate",
                       data={"csrf_token": csrf_token_from(page), "summary": "s", "description": "d"}).status_code == 403
    assert count(db_session, Escalation) == 0


@pytest.mark.parametrize(("overrides", "names"), [
    ({"escalation_tracker": "none"}, ["HELPDESK_ESCALATION_TRACKER"]),
    ({"escalation_tracker": "github", "github_escalation_token": None}, ["HELPDESK_GITHUB_ESCALATION_TOKEN"]),
    ({"jira_url": None, "jira_token": None}, ["HELPDESK_JIRA_URL", "HELPDESK_JIRA_TOKEN"]),
])
def test_without_a_ready_tracker_escalation_is_a_clear_409_and_stores_nothing(
    client: FlaskClient, db_session: Session, staff_token: str, settings: Settings, overrides: dict[str, object],
    names: list[str],
) -> None:
    ticket = slack_ticket(client, db_session)
    client.application.extensions["helpdesk"].settings = settings.model_copy(update=overrides)
    response = escalate(client, staff_token, ticket.id)
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "escalation_not_configured"
    assert all(name in error["message"] for name in names), error["message"]
    assert count(db_session, Escalation) == 0
    assert [i.kind for i in db_session.scalars(select(OutboxItem))] == ["ack"]


def test_production_refuses_a_tracker_without_its_settings(make_settings: Callable[..., Settings]) -> None:
    base = {"env": "production", "auth": "github", "github_client_id": "id", "github_client_secret": "secret"}
    make_settings(**base).check_safe_for_production()  # no tracker: fine
    with pytest.raises(UnsafeSettingsError, match="HELPDESK_ESCALATION_TRACKER=jira needs HELPDESK_JIRA_URL, "
                                                  "HELPDESK_JIRA_PROJECT, HELPDESK_JIRA_TOKEN"):
        make_settings(**base, escalation_tracker="jira").check_safe_for_production()
    with pytest.raises(UnsafeSettingsError, match="needs HELPDESK_GITHUB_ESCALATION_TOKEN"):
        make_settings(**base, escalation_tracker="github",
                      github_escalation_repo="lsst-dm/dp0-bugs").check_safe_for_production()
    make_settings(**base, escalation_tracker="github", github_escalation_repo="lsst-dm/dp0-bugs",
                  github_escalation_token="ghp_x").check_safe_for_production()


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"summary": "   "}, 422, "summary"),
    ({"summary": "x" * 251}, 422, "summary"),
    ({"description": ""}, 422, "description"),
    ({"summary": 5}, 422, "summary"),
    ({"colour": "red"}, 422, "colour"),
])
def test_bad_bodies_are_422_naming_the_field(
    client: FlaskClient, db_session: Session, staff_token: str, body: dict[str, object], status: int, field: str,
) -> None:
    ticket = slack_ticket(client, db_session)
    response = escalate(client, staff_token, ticket.id, **body)
    assert response.status_code == status
    assert field in str(response.get_json()["error"]), response.get_json()
    assert count(db_session, Escalation) == 0


def test_no_such_ticket_is_404_and_a_form_body_415(client: FlaskClient, staff_token: str) -> None:
    headers = {"Authorization": f"Bearer {staff_token}"}
    assert client.post("/api/v1/tickets/999/escalations", json={}, headers=headers).status_code == 404
    assert client.post("/api/v1/tickets/999/escalations", data="summary=x", headers=headers).status_code == 415


def test_the_ticket_page_escalates_and_shows_the_link_and_the_state(
    client: FlaskClient, db_session: Session, login: Callable[..., Person], make_worker: Callable[..., OutboxWorker],
    fake_jira: FakeJira,
) -> None:
    ticket = slack_ticket(client, db_session)
    login("tiertwo", "staff")
    page = client.get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)
    assert "Not escalated." in page and "Escalate to Jira" in page
    assert "<script" not in page.split('id="escalation-heading"')[1].split("</section>")[0]  # CSP: no inline script
    response = client.post(f"/staff/tickets/{ticket.id}/escalate", data={
        "csrf_token": csrf_token_from(page), "summary": "TAP async jobs stuck in QUEUED",
        "description": "Confirmed: every async job since 09:00 stays QUEUED."})
    assert response.status_code == 302
    page = client.get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)
    assert "Escalated to Jira" in page and "Issue being filed in Jira" in page and ">pending<" in page
    assert "Escalate to Jira</button>" not in page  # one pending escalation at a time

    make_worker().run_once()
    page = client.get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)
    assert f'href="{fake_jira.url}/browse/DM-1"' in page and "Jira issue DM-1" in page
    assert ">open<" in page and "(To Do)" in page and "TAP async jobs stuck in QUEUED" in page
    # The requester's message on the page too: the reply is on the ticket as well as in Slack.
    assert "We have reported this to the engineering team as Jira issue DM-1" in page


def test_the_page_says_why_there_is_no_button_when_no_tracker_is_configured(
    client: FlaskClient, db_session: Session, login: Callable[..., Person], settings: Settings,
) -> None:
    ticket = slack_ticket(client, db_session)
    client.application.extensions["helpdesk"].settings = settings.model_copy(update={"escalation_tracker": "none"})
    login("tiertwo", "staff")
    page = client.get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)
    assert "No engineering tracker is configured" in page and "data-escalate" not in page
    refused = client.post(f"/staff/tickets/{ticket.id}/escalate", data={
        "csrf_token": csrf_token_from(page), "summary": "s", "description": "d"})
    assert refused.status_code == 409 and "No engineering tracker is configured" in refused.get_data(as_text=True)
