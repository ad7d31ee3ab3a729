"""200 people apply at the same moment for 50 seats, each on a connection of their own: exactly 50 seats are
held, the other 150 wait in one unbroken order, and promotions take them in that order."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from sqlalchemy import select

from helpdesk.accounts.models import Person
from helpdesk.accounts.services import AccountService
from helpdesk.programs.models import Application, ApplicationStatus, Program
from helpdesk.programs.services import ProgramService
from tests.programs.conftest import ALL_CHECKS, form
from tests.support.threads import run_together

APPLICANTS, SEATS = 200, 50


def test_two_hundred_at_once_for_fifty_seats(app: Flask, make_program: Callable[..., Program],
                                             admin: Person) -> None:
    make_program("rush", cap=SEATS, pools={})
    factory = app.extensions["helpdesk"].session_factory
    setup = factory()
    people = [AccountService(setup).sign_in_github(f"racer-{i}") for i in range(APPLICANTS)]
    setup.close()

    def apply(person: Person) -> str:
        session = factory()
        try:
            return ProgramService(session).apply(person, "rush", form(f"Racer {person.id}"))[0].status.value
        finally:
            session.close()

    results = run_together(apply, [(p,) for p in people])  # raises what any thread raised
    assert results.count("pending") == SEATS and results.count("waitlisted") == APPLICANTS - SEATS

    session = factory()
    try:
        service = ProgramService(session)
        counts = service.counts("rush")
        assert (counts.held, counts.waitlisted) == (SEATS, APPLICANTS - SEATS)
        rows = list(session.scalars(select(Application).join(Program).where(Program.slug == "rush")
                                    .order_by(Application.position)))
        assert [a.position for a in rows] == list(range(1, APPLICANTS + 1))  # one unbroken order
        assert [a.status for a in rows] == [ApplicationStatus.PENDING] * SEATS + \
            [ApplicationStatus.WAITLISTED] * (APPLICANTS - SEATS)
        waiting = [a.id for a in rows[SEATS:]]

        admin = session.get(Person, admin.id)
        service.set_cap(admin, "rush", SEATS + 10)
        service.decide(admin, rows[0].id, "decline", "Not a data-rights holder")
        service.decide(admin, rows[1].id, "approve", checks=ALL_CHECKS)
        session.expire_all()
        now_waiting = [a.id for a in service.roster("rush").waitlisted]
        assert now_waiting == waiting[11:]  # the first eleven in line moved up, the rest kept their order
        assert [service.waitlist_position(session.get(Application, i)) for i in now_waiting[:3]] == [1, 2, 3]
        assert service.counts("rush").held == SEATS + 10
    finally:
        session.close()
