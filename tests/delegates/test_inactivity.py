"""Idle delegates: reminders through the outbox, activity answering them, and an administrator's reclaim."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person
from helpdesk.audit import AuditEvent
from helpdesk.config import Settings
from helpdesk.db import utcnow
from helpdesk.exceptions import InvalidTransitionError, PermissionDeniedError
from helpdesk.factory import Factory
from helpdesk.programs.inactivity import IdlePolicy, IdleReminder, idle_seats, reclaim_seat, sweep
from helpdesk.programs.models import Application
from helpdesk.programs.services import ApplicationForm
from helpdesk.tickets.models import OutboxItem
from helpdesk.worker import OutboxWorker
from tests.conftest import csrf_token_from
from tests.support.reading import fresh

POLICY = IdlePolicy(idle_days=30, every_days=7, before_reclaim=2)


def reminders(db_session: Session) -> list[OutboxItem]:
    fresh(db_session)
    return [i for i in db_session.scalars(select(OutboxItem).order_by(OutboxItem.id))
            if i.dedupe_key.startswith("idle-reminder:")]


def make_idle(db_session: Session, application: Application, days: int) -> None:
    """The seat's holder was last seen ``days`` ago (and got the seat before that)."""
    fresh(db_session)
    application = db_session.get(Application, application.id)
    then = utcnow() - timedelta(days=days)
    application.decided_at = then
    application.created_at = then
    db_session.get(Person, application.person_id).last_active_at = then
    db_session.commit()


def at(days: float):  # type: ignore[no-untyped-def]
    moment = utcnow() + timedelta(days=days)
    return lambda: moment


def test_reminders_then_reclaim_promotes_the_waitlist(db_session: Session, factory: Factory, seat, admin: Person,  # type: ignore[no-untyped-def]
                                                      app: Flask, settings: Settings, github_team) -> None:
    programs = factory.create_program_service()
    idle = seat("sleepy", 2001)
    programs.set_cap(admin, "dp0", 1, 0)  # the one seat is taken: the next applicant waits
    waiting = seat("eager", 2002, approve=False)
    assert waiting.status.value == "waitlisted"
    make_idle(db_session, idle, 31)
    active_recently = seat("busy", 2003, approve=False)  # waitlisted too, not idle: never reminded

    assert sweep(db_session, POLICY) == [idle.id]
    assert [i.payload["to"] for i in reminders(db_session)] == ["sleepy@example.edu"]
    assert "simply sign in" in reminders(db_session)[0].payload["text"]
    assert sweep(db_session, POLICY) == []  # not again within the week
    with pytest.raises(InvalidTransitionError, match="1 unanswered reminder"):
        reclaim_seat(db_session, admin, idle.id, POLICY)

    assert sweep(db_session, POLICY, at(8)) == [idle.id]  # a week on: the second
    assert len(reminders(db_session)) == 2
    (listed,) = idle_seats(db_session, POLICY)
    assert listed.unanswered == 2 and listed.reclaimable

    reclaimed = reclaim_seat(db_session, admin, idle.id, POLICY)
    assert reclaimed.status.value == "reclaimed"
    fresh(db_session)
    assert db_session.get(Application, waiting.id).status.value == "pending"  # promoted from the waitlist
    assert db_session.get(Application, active_recently.id).status.value == "waitlisted"
    actions = [e.action for e in db_session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert "signup.idle_reclaimed" in actions and "signup.reclaim" in actions
    assert db_session.scalars(select(IdleReminder)).all() == []
    # The freed seat and the reclaim went to the roster's GitHub team too.
    OutboxWorker(app.extensions["helpdesk"].session_factory, settings, rng=lambda: 0.5).run_once()
    assert ("DELETE", "sleepy") in github_team.changes() and github_team.members == set()


def test_signing_in_answers_the_reminders(db_session: Session, factory: Factory, seat, admin: Person,  # type: ignore[no-untyped-def]
                                          client: FlaskClient) -> None:
    idle = seat("sleepy", 2001)
    make_idle(db_session, idle, 40)
    assert sweep(db_session, POLICY, at(-8)) == [idle.id]
    assert sweep(db_session, POLICY) == [idle.id]
    # They come back: a sign-in is activity, and the count starts again.
    page = client.get("/auth/login")
    client.post("/auth/login", data={"login": "sleepy", "csrf_token": csrf_token_from(page.get_data(as_text=True))})
    fresh(db_session)
    assert db_session.get(Person, idle.person_id).last_active_at > utcnow() - timedelta(minutes=1)
    with pytest.raises(InvalidTransitionError):
        reclaim_seat(db_session, admin, idle.id, POLICY)
    assert sweep(db_session, POLICY, at(9)) == []  # active now: no more reminders
    assert idle_seats(db_session, POLICY)[0].reclaimable is False


def test_only_an_administrator_reclaims(db_session: Session, factory: Factory, seat, make_person) -> None:  # type: ignore[no-untyped-def]
    idle = seat("sleepy", 2001)
    staff = make_person("helper", "staff")
    with pytest.raises(PermissionDeniedError):
        reclaim_seat(db_session, staff, idle.id, POLICY)


def test_the_sweep_is_off_without_idle_days(db_session: Session, seat) -> None:  # type: ignore[no-untyped-def]
    idle = seat("sleepy", 2001)
    make_idle(db_session, idle, 400)
    assert sweep(db_session, IdlePolicy(0, 7, 2)) == []
    assert reminders(db_session) == []


def test_the_worker_sweeps(db_session: Session, seat, app: Flask, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    idle = seat("sleepy", 2001)
    make_idle(db_session, idle, 31)
    OutboxWorker(app.extensions["helpdesk"].session_factory, settings, rng=lambda: 0.5).run_once()
    assert len(reminders(db_session)) == 1


def test_a_reminder_names_a_linked_slack_account_too(db_session: Session, factory: Factory, seat) -> None:  # type: ignore[no-untyped-def]
    idle = seat("sleepy", 2001)
    from helpdesk.accounts.models import Identity, Provider

    db_session.add(Identity(person_id=idle.person_id, provider=Provider.SLACK, external_id="U777"))
    db_session.commit()
    make_idle(db_session, idle, 31)
    sweep(db_session, POLICY)
    assert sorted((i.channel, i.payload["to"]) for i in reminders(db_session)) == [
        ("email", "sleepy@example.edu"), ("slack", "U777")]
    assert ApplicationForm  # the form the fixture applies with
