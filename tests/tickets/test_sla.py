"""The first-response clock: due from filing and the queue's target, paused while waiting on the requester,
met by the first public staff answer, and warned about once before a breach."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person
from helpdesk.audit import AuditEvent
from helpdesk.tickets.models import OutboxItem, OutboxKind, Queue, Source, Status, Ticket, Visibility
from helpdesk.tickets.services import TicketService
from helpdesk.tickets.sla import ClockState, SlaPolicy, clock_of, clock_state, duration, first_response_due
from helpdesk.tickets.sla_warnings import SlaService
from tests.tickets.support import Clock

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def at(hours: float | None) -> datetime | None:
    return None if hours is None else T0 + hours * HOUR


def state(*, due: float | None = 24, paused: float | None = None, met: float | None = None, now: float = 0,
          status: Status = Status.TRIAGED, target: int | None = 24, policy: SlaPolicy | None = None):  # type: ignore[no-untyped-def]
    return clock_state(due_at=at(due), paused_at=at(paused), first_response_at=at(met), status=status,
                       target_hours=target, now=at(now) or T0, policy=policy or SlaPolicy())


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"now": 0}, ClockState.ON_TIME),
    ({"now": 19.1}, ClockState.ON_TIME),            # 4.9 h left of 24: outside the 20 % window (4.8 h)
    ({"now": 19.2}, ClockState.DUE_SOON),           # exactly at the window's start
    ({"now": 23.9}, ClockState.DUE_SOON),
    ({"now": 24}, ClockState.BREACHED),             # the due time itself is too late
    ({"now": 30}, ClockState.BREACHED),
    ({"now": 30, "met": 2}, ClockState.MET),
    ({"now": 30, "paused": 10}, ClockState.PAUSED),
    ({"now": 30, "status": Status.IN_PROGRESS}, ClockState.BREACHED),
    ({"now": 23, "policy": SlaPolicy(warning_minutes=30)}, ClockState.ON_TIME),
    ({"now": 23.6, "policy": SlaPolicy(warning_minutes=30)}, ClockState.DUE_SOON),
    ({"now": 1, "policy": SlaPolicy(warning_percent=100)}, ClockState.DUE_SOON),
])
def test_clock_states(kwargs, expected) -> None:  # type: ignore[no-untyped-def]
    assert state(**kwargs).state is expected


def test_no_clock_when_unsorted_or_closed_unanswered() -> None:
    assert state(due=None) is None
    assert state(target=None) is None
    assert state(status=Status.CLOSED) is None
    assert state(status=Status.RESOLVED, met=3).state is ClockState.MET  # answered, then solved


def test_clock_words_say_the_state_and_time() -> None:
    assert state(now=20).text == "due soon (4 h 0 min left)"
    assert state(now=27.5).text == "breached (3 h 30 min ago)"
    assert state(now=0).text == "on time (1 d 0 h left)"
    assert state(now=5, paused=14).text == "paused, waiting on the requester (10 h 0 min left)"
    assert state(met=1).text == "met" and state(met=25).text == "met late" and state(met=25).late
    assert duration(timedelta(seconds=-5)) == "0 min"
    # Every state has a mark of its own, so none rests on colour alone.
    assert len({s.mark for s in ClockState}) == len(ClockState)


def test_first_response_due_adds_the_queue_target() -> None:
    class Q:
        first_response_hours = 8

    assert first_response_due(Q(), T0) == T0 + 8 * HOUR


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def service(db_session: Session, clock: Clock) -> TicketService:
    return TicketService(db_session, clock)


@pytest.fixture
def requester(make_person: Callable[..., Person]) -> Person:
    return make_person("delegate")


@pytest.fixture
def staff(make_person: Callable[..., Person]) -> Person:
    return make_person("sam", "staff")


def new_ticket(service: TicketService, requester: Person) -> Ticket:
    return service.file(requester, "Query times out", "My TAP query never ends.", Source.WEB).ticket


class TestClockThroughTheService:
    def test_getting_a_queue_starts_the_clock_from_filing(self, service, requester, staff, clock) -> None:  # type: ignore[no-untyped-def]
        ticket = new_ticket(service, requester)
        assert ticket.first_response_due_at is None  # unsorted: no clock
        clock.advance(hours=3)  # it waited unsorted; that counts
        ticket = service.update(staff, ticket.id, {"queue": "catalogs"})
        assert ticket.first_response_due_at == T0 + 24 * HOUR
        assert clock_of(ticket, clock(), SlaPolicy()).state is ClockState.ON_TIME

    def test_another_queue_keeps_the_time_used(self, service, requester, staff, clock) -> None:  # type: ignore[no-untyped-def]
        ticket = new_ticket(service, requester)
        service.update(staff, ticket.id, {"queue": "catalogs"})              # 24 h
        clock.advance(hours=5)
        ticket = service.update(staff, ticket.id, {"queue": "science-platform"})  # 8 h
        assert ticket.first_response_due_at == T0 + 8 * HOUR
        ticket = service.update(staff, ticket.id, {"queue": None})
        assert ticket.first_response_due_at is None and clock_of(ticket, clock(), SlaPolicy()) is None

    def test_waiting_on_the_requester_pauses_and_their_answer_resumes(  # type: ignore[no-untyped-def]
        self, service, requester, staff, clock, db_session
    ) -> None:
        ticket = new_ticket(service, requester)
        service.update(staff, ticket.id, {"queue": "catalogs"})
        clock.advance(hours=2)
        service.reply(staff, ticket.id, "Which query? (internal: asking by other means)", Visibility.INTERNAL)
        ticket = service.update(staff, ticket.id, {"status": "waiting_on_user"})
        assert ticket.sla_paused_at == T0 + 2 * HOUR
        clock.advance(hours=30)  # long past the due time, but the clock stands still
        paused = clock_of(ticket, clock(), SlaPolicy())
        assert paused.state is ClockState.PAUSED and paused.remaining == 22 * HOUR
        service.reply(requester, ticket.id, "SELECT * FROM dp02_dc2_catalogs.Object")
        db_session.refresh(ticket)
        assert ticket.status is Status.IN_PROGRESS and ticket.sla_paused_at is None
        resumed = clock_of(ticket, clock(), SlaPolicy())
        assert resumed.state is ClockState.ON_TIME and resumed.remaining == 22 * HOUR
        assert ticket.first_response_due_at == T0 + (24 + 30) * HOUR

    def test_a_staff_status_change_out_of_waiting_resumes_too(self, service, requester, staff, clock) -> None:  # type: ignore[no-untyped-def]
        ticket = new_ticket(service, requester)
        service.update(staff, ticket.id, {"queue": "science-platform", "status": "waiting_on_user"})
        assert ticket.sla_paused_at == T0  # sorted while already waiting: starts paused
        clock.advance(hours=1)
        ticket = service.update(staff, ticket.id, {"status": "in_progress"})
        assert ticket.sla_paused_at is None and ticket.first_response_due_at == T0 + 9 * HOUR

    def test_the_first_public_staff_answer_meets_it(self, service, requester, staff, clock) -> None:  # type: ignore[no-untyped-def]
        ticket = new_ticket(service, requester)
        service.update(staff, ticket.id, {"queue": "science-platform"})
        clock.advance(hours=7)
        service.reply(staff, ticket.id, "Looking into it", Visibility.INTERNAL)
        assert clock_of(ticket, clock(), SlaPolicy()).state is ClockState.DUE_SOON  # a note is no answer
        service.reply(staff, ticket.id, "Restart your server from the hub.")
        clock.advance(hours=10)
        met = clock_of(ticket, clock(), SlaPolicy())
        assert met.state is ClockState.MET and not met.late
        # Waiting on the requester after the answer does not pause a met clock.
        assert ticket.status is Status.WAITING_ON_USER and ticket.sla_paused_at is None


class TestWarnings:
    @pytest.fixture
    def due_soon(self, service, requester, staff, clock) -> Ticket:  # type: ignore[no-untyped-def]
        ticket = new_ticket(service, requester)
        service.update(staff, ticket.id, {"queue": "science-platform"})  # 8 h; window 1.6 h
        return ticket

    def sweeper(self, db_session: Session, clock: Clock, channel: str | None = None) -> SlaService:
        return SlaService(db_session, SlaPolicy(), clock=clock, slack_channel=channel,
                          public_url="https://help.example.org")

    def test_warned_once_in_the_log_the_audit_trail_and_slack(  # type: ignore[no-untyped-def]
        self, due_soon, db_session, clock, caplog
    ) -> None:
        clock.advance(hours=6)  # 2 h left: not yet
        assert self.sweeper(db_session, clock, "C0STAFF").sweep() == []
        clock.advance(hours=1)  # 1 h left
        with caplog.at_level(logging.WARNING, logger="helpdesk.sla"):
            warnings = self.sweeper(db_session, clock, "C0STAFF").sweep()
        assert [(w.ticket_id, w.queue, w.clock.state) for w in warnings] == [
            (due_soon.id, "science-platform", ClockState.DUE_SOON)]
        assert f"Ticket #{due_soon.id}" in caplog.text and "due soon" in caplog.text
        item = db_session.scalars(select(OutboxItem)).one()
        assert (item.kind, item.channel, item.ticket_id) == (OutboxKind.SLA_WARNING.value, "slack", None)
        assert item.payload["conversation"] == "C0STAFF" and item.payload["ticket"] == due_soon.id
        assert "2026-03-02 17:00 UTC" in item.payload["text"]
        assert f"https://help.example.org/staff/tickets/{due_soon.id}" in item.payload["text"]
        assert item.dedupe_key == f"sla-warning:{due_soon.id}:20260302T170000"
        actions = db_session.scalars(select(AuditEvent.action).where(AuditEvent.ticket_id == due_soon.id)).all()
        assert actions.count("ticket.sla_warning") == 1
        clock.advance(hours=2)  # now breached: still warned only once
        assert self.sweeper(db_session, clock, "C0STAFF").sweep() == []
        assert len(db_session.scalars(select(OutboxItem)).all()) == 1

    def test_without_a_channel_only_the_log(self, due_soon, db_session, clock) -> None:  # type: ignore[no-untyped-def]
        clock.advance(hours=9)
        warnings = self.sweeper(db_session, clock).sweep()
        assert [w.clock.state for w in warnings] == [ClockState.BREACHED]
        assert "is overdue" in SlaService(db_session, SlaPolicy()).warning_text(
            db_session.get(Ticket, due_soon.id), warnings[0].clock)
        assert db_session.scalars(select(OutboxItem)).all() == []

    def test_paused_answered_and_unsorted_tickets_are_not_warned(  # type: ignore[no-untyped-def]
        self, service, requester, staff, db_session, clock
    ) -> None:
        paused = new_ticket(service, requester)
        service.update(staff, paused.id, {"queue": "science-platform", "status": "waiting_on_user"})
        answered = new_ticket(service, requester)
        service.update(staff, answered.id, {"queue": "science-platform"})
        service.reply(staff, answered.id, "Answer")
        new_ticket(service, requester)
        clock.advance(hours=20)
        assert self.sweeper(db_session, clock, "C0STAFF").sweep() == []

    def test_a_new_queue_is_a_new_due_time_and_warned_again(self, due_soon, service, staff, db_session, clock) -> None:  # type: ignore[no-untyped-def]
        clock.advance(hours=7)
        assert len(self.sweeper(db_session, clock, "C0STAFF").sweep()) == 1
        service.update(staff, due_soon.id, {"queue": "catalogs"})       # 24 h: far again
        service.update(staff, due_soon.id, {"queue": "science-platform"})  # back: the same due time
        warnings = self.sweeper(db_session, clock, "C0STAFF").sweep()
        assert len(warnings) == 1  # warned in the console and log again ...
        assert len(db_session.scalars(select(OutboxItem)).all()) == 1  # ... but Slack got that due time once


def test_from_settings_needs_slack_connected(make_settings, db_session, caplog) -> None:  # type: ignore[no-untyped-def]
    with caplog.at_level(logging.WARNING, logger="helpdesk.sla"):
        service = SlaService.from_settings(db_session, make_settings(sla_slack_channel="C0STAFF"))
    assert service.slack_channel is None and "Slack is not connected" in caplog.text
    connected = make_settings(sla_slack_channel="C0STAFF", slack_signing_secret="s" * 20,
                              sla_warning_minutes=45)
    service = SlaService.from_settings(db_session, connected)
    assert service.slack_channel == "C0STAFF" and service.policy.window(24) == timedelta(minutes=45)


def test_queue_targets_come_from_the_queue_file(db_session: Session) -> None:
    hours = dict(db_session.execute(select(Queue.slug, Queue.first_response_hours)).all())
    assert hours["science-platform"] == 8 and hours["catalogs"] == 24
