"""Incidents: grouping reports of one failure, raising them to urgent, answering once, linking and closing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person
from helpdesk.exceptions import ConflictError, InvalidInputError, PermissionDeniedError
from helpdesk.tickets.incidents import IncidentPolicy, IncidentService, incident_of, link_to_incident
from helpdesk.tickets.models import (
    IncidentStatus,
    Message,
    OutboxItem,
    Priority,
    Status,
    Ticket,
    Visibility,
)
from helpdesk.worker import OutboxWorker
from tests.conftest import csrf_token_from
from tests.incidents.conftest import TAP_DOWN, UNRELATED, Clock, audit_actions, enqueue_incident_checks
from tests.support.reading import fresh


def _report(file: Callable[..., Ticket], n: int, who: str | None = None) -> Ticket:
    subject, body = TAP_DOWN[n]
    return file(subject, body, who or f"person{n}")


def _link(session: Session, ticket: Ticket, clock: Clock, **policy: object):  # type: ignore[no-untyped-def]
    incident = link_to_incident(session, ticket.id, IncidentPolicy(**policy), clock=clock)  # type: ignore[arg-type]
    session.commit()
    return incident


def _public_replies(session: Session, ticket_id: int) -> list[str]:
    fresh(session)
    return list(session.scalars(select(Message.body).where(
        Message.ticket_id == ticket_id, Message.visibility == Visibility.PUBLIC).order_by(Message.id)))


class TestGrouping:
    def test_three_reports_from_different_people_form_an_incident_and_become_urgent(
        self, db_session: Session, file: Callable[..., Ticket], clock: Clock,
    ) -> None:
        first, second = _report(file, 0), _report(file, 1)
        first.triage = {"priority": "normal", "priority_reasons": ["no urgency signal"]}
        db_session.commit()
        assert _link(db_session, first, clock) is None and _link(db_session, second, clock) is None
        third = _report(file, 2)
        incident = _link(db_session, third, clock)
        assert incident is not None and incident.status is IncidentStatus.OPEN
        assert sorted(link.ticket_id for link in incident.links) == [first.id, second.id, third.id]
        assert incident.title == TAP_DOWN[0][0]  # the first report names it
        fresh(db_session)
        for ticket in (first, second, third):
            ticket = db_session.get(Ticket, ticket.id)
            assert ticket.priority is Priority.URGENT
            assert "ticket.updated" in audit_actions(db_session, ticket.id)
        reasons = db_session.get(Ticket, first.id).triage["priority_reasons"]
        assert reasons[0] == "no urgency signal" and f"incident #{incident.id} has 3 reports" in reasons[1]
        actions = audit_actions(db_session, third.id)
        assert actions.index("incident.created") < actions.index("incident.linked") < actions.index("ticket.updated")

    def test_a_later_report_joins_the_open_incident_and_an_unrelated_question_does_not(
        self, db_session: Session, file: Callable[..., Ticket], clock: Clock,
    ) -> None:
        tickets = [_report(file, n) for n in range(3)]
        incident = _link(db_session, tickets[2], clock)
        assert incident is not None
        other = file(*UNRELATED, "person9")
        assert _link(db_session, other, clock) is None
        clock.advance(hours=3)  # past the window of the first reports: the incident itself still gathers
        fourth = _report(file, 3)
        assert _link(db_session, fourth, clock).id == incident.id
        fresh(db_session)
        assert db_session.get(Ticket, fourth.id).priority is Priority.URGENT
        assert db_session.get(Ticket, other.id).priority is Priority.NORMAL

    @pytest.mark.parametrize("case", ["too-few", "one-person", "outside-window"])
    def test_no_incident_without_enough_different_requesters_within_the_window(
        self, case: str, db_session: Session, file: Callable[..., Ticket], clock: Clock,
    ) -> None:
        if case == "too-few":
            _report(file, 0)
            last = _report(file, 1)
        elif case == "one-person":
            for n in range(3):
                last = _report(file, n, who="same")
        else:
            _report(file, 0)
            clock.advance(minutes=61)
            _report(file, 1)
            clock.advance(minutes=61)
            last = _report(file, 2)
        assert _link(db_session, last, clock) is None
        assert incident_of(db_session, last.id) is None

    def test_the_settings_change_the_rule(self, db_session: Session, file: Callable[..., Ticket],
                                          clock: Clock) -> None:
        _report(file, 0)
        second = _report(file, 1)
        assert _link(db_session, second, clock, min_reports=2) is not None

    def test_the_worker_groups_a_ticket_from_its_incident_check(
        self, app: Flask, db_session: Session, file: Callable[..., Ticket], clock: Clock,
    ) -> None:
        tickets = [_report(file, n) for n in range(3)]
        enqueue_incident_checks(db_session, [t.id for t in tickets])
        worker = OutboxWorker(app.extensions["helpdesk"].session_factory, app.extensions["helpdesk"].settings,
                              clock=lambda: clock() + timedelta(seconds=5))
        stats = worker.run_once()
        assert stats.delivered == 3 and stats.dead == 0
        fresh(db_session)
        incident = incident_of(db_session, tickets[0].id)
        assert incident is not None and len(incident.links) == 3
        assert {i.status.value for i in db_session.scalars(select(OutboxItem))} == {"delivered"}


@pytest.fixture
def grouped(db_session: Session, file: Callable[..., Ticket], clock: Clock):  # type: ignore[no-untyped-def]
    tickets = [_report(file, n) for n in range(3)]
    incident = _link(db_session, tickets[2], clock)
    assert incident is not None
    return incident, tickets


class TestAnswer:
    def test_one_answer_is_a_public_reply_on_every_linked_ticket_once_per_key(
        self, grouped, incidents: IncidentService, make_person: Callable[..., Person], db_session: Session,
    ) -> None:
        incident, tickets = grouped
        staff = make_person("alice", "staff")
        result = incidents.answer(staff, incident.id, "TAP is back; please run your query again.", "key-0001")
        assert result.sent == 3 and not result.replayed
        again = incidents.answer(staff, incident.id, "TAP is back; please run your query again.", "key-0001")
        assert again.sent == 0 and again.replayed and again.answer.id == result.answer.id
        for ticket in tickets:
            assert _public_replies(db_session, ticket.id) == ["TAP is back; please run your query again."]
            assert db_session.get(Ticket, ticket.id).status is Status.WAITING_ON_USER
        with pytest.raises(ConflictError):
            incidents.answer(staff, incident.id, "Another text", "key-0001")
        assert incidents.answer(staff, incident.id, "A second update.", "key-0002").sent == 3

    def test_an_interrupted_answer_resumes_without_sending_twice(
        self, grouped, incidents: IncidentService, make_person: Callable[..., Person], db_session: Session,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        incident, tickets = grouped
        staff = make_person("alice", "staff")
        real, calls = incidents.tickets.reply, []

        def failing_on_the_second(actor, ticket_id, body):  # type: ignore[no-untyped-def]
            calls.append(ticket_id)
            if len(calls) == 2:
                raise ConnectionError("the process died here")
            return real(actor, ticket_id, body)

        monkeypatch.setattr(incidents.tickets, "reply", failing_on_the_second)
        with pytest.raises(ConnectionError):
            incidents.answer(staff, incident.id, "Fixed.", "key-0003")
        db_session.rollback()
        monkeypatch.setattr(incidents.tickets, "reply", real)
        assert incidents.answer(staff, incident.id, "Fixed.", "key-0003").sent == 2
        assert [len(_public_replies(db_session, t.id)) for t in tickets] == [1, 1, 1]

    def test_bad_input_and_people_who_are_not_staff_are_refused(
        self, grouped, incidents: IncidentService, make_person: Callable[..., Person],
    ) -> None:
        incident, _ = grouped
        staff, requester = make_person("alice", "staff"), make_person("bob")
        with pytest.raises(InvalidInputError):
            incidents.answer(staff, incident.id, "Fixed.", "short")
        with pytest.raises(InvalidInputError):
            incidents.answer(staff, incident.id, "   ", "key-0004")
        with pytest.raises(PermissionDeniedError):
            incidents.answer(requester, incident.id, "Fixed.", "key-0005")


class TestByHand:
    def test_link_unlink_and_close_with_resolving_are_audited(
        self, grouped, incidents: IncidentService, make_person: Callable[..., Person], db_session: Session,
        file: Callable[..., Ticket],
    ) -> None:
        incident, tickets = grouped
        staff = make_person("alice", "staff")
        other = file(*UNRELATED, "person9")
        incidents.link(staff, incident.id, other.id)
        assert db_session.get(Ticket, other.id).priority is Priority.URGENT  # joined an incident of 3 reports
        with pytest.raises(ConflictError):
            incidents.link(staff, incident.id, other.id)
        incidents.unlink(staff, incident.id, other.id)
        assert incident_of(db_session, other.id) is None
        assert audit_actions(db_session, other.id)[-3:] == ["incident.linked", "ticket.updated",
                                                            "incident.unlinked"]
        incidents.close(staff, incident.id, resolve_tickets=True)
        fresh(db_session)
        assert [db_session.get(Ticket, t.id).status for t in tickets] == [Status.RESOLVED] * 3
        assert db_session.get(Ticket, other.id).status is Status.NEW
        with pytest.raises(ConflictError):
            incidents.link(staff, incident.id, other.id)

    def test_a_closed_incident_gathers_no_more_reports(
        self, grouped, incidents: IncidentService, make_person: Callable[..., Person], db_session: Session,
        file: Callable[..., Ticket], clock: Clock,
    ) -> None:
        incident, _ = grouped
        incidents.close(make_person("alice", "staff"), incident.id)
        fourth = _report(file, 3)
        joined = _link(db_session, fourth, clock)
        assert joined is None or joined.id != incident.id

    def test_start_an_incident_from_one_ticket(
        self, incidents: IncidentService, make_person: Callable[..., Person], file: Callable[..., Ticket],
        db_session: Session,
    ) -> None:
        ticket = _report(file, 0)
        incident = incidents.create(make_person("alice", "staff"), ticket.id, "TAP outage")
        assert incident.title == "TAP outage" and [link.ticket_id for link in incident.links] == [ticket.id]
        assert db_session.get(Ticket, ticket.id).priority is Priority.NORMAL  # one report is no outage yet


class TestConsole:
    def test_staff_see_incidents_and_answer_once_from_the_console(
        self, grouped, client: FlaskClient, login: Callable[..., Person], db_session: Session,
    ) -> None:
        incident, tickets = grouped
        login("alice", "staff")
        listing = client.get("/staff/incidents")
        assert listing.status_code == 200 and TAP_DOWN[0][0] in listing.get_data(as_text=True)
        ticket_page = client.get(f"/staff/tickets/{tickets[0].id}").get_data(as_text=True)
        assert f"/staff/incidents/{incident.id}" in ticket_page
        page = client.get(f"/staff/incidents/{incident.id}").get_data(as_text=True)
        key = page.split('name="key" value="')[1].split('"')[0]
        form = {"csrf_token": csrf_token_from(page), "body": "TAP is back.", "key": key}
        for _ in range(2):  # a double-click
            assert client.post(f"/staff/incidents/{incident.id}/answer", data=form).status_code == 302
        fresh(db_session)
        assert db_session.scalar(select(func.count()).select_from(Message)) == 3
        bad = client.post(f"/staff/incidents/{incident.id}/answer", data={**form, "key": "x"})
        assert bad.status_code == 422
        assert client.get("/staff/incidents/999999").status_code == 404

    def test_people_who_are_not_staff_get_403(self, grouped, client: FlaskClient,
                                               login: Callable[..., Person]) -> None:
        incident, _ = grouped
        login("bob")
        assert client.get("/staff/incidents").status_code == 403
        assert client.get(f"/staff/incidents/{incident.id}").status_code == 403
