"""Sign-up rules: the cap at cap-1 / cap / cap+1, reserved seats, the waitlist in order, promotions,
data-rights refusals, and the cap holding when ten people apply at once."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person
from helpdesk.audit import AuditEvent
from helpdesk.exceptions import InvalidInputError, InvalidTransitionError, NotFoundError, PermissionDeniedError
from helpdesk.programs.models import Application, ApplicationStatus, Program, ProgramPool
from helpdesk.programs.services import DATA_RIGHTS_CHECKS, ApplicationForm, ProgramService
from tests.support.threads import run_together

ALL_CHECKS = [key for key, _ in DATA_RIGHTS_CHECKS]
PENDING, ACTIVE, WAITLISTED = ApplicationStatus.PENDING, ApplicationStatus.ACTIVE, ApplicationStatus.WAITLISTED


def form(name: str = "Vera", data_rights: bool = True) -> ApplicationForm:
    return ApplicationForm(name=name, email=f"{name.lower().replace(' ', '.')}@example.edu", institution="Example U",
                           data_rights=data_rights)


@pytest.fixture
def service(db_session: Session) -> ProgramService:
    return ProgramService(db_session)


@pytest.fixture
def small(db_session: Session) -> Program:
    """A programme with 3 seats, 1 of them reserved: 2 open seats."""
    program = Program(slug="small", name="Small", cap=3, reserved=1,
                      pools=[ProgramPool(slug="collaborations", name="Science Collaborations", seats=1)])
    db_session.add(program)
    db_session.commit()
    return program


@pytest.fixture
def people(make_person: Callable[..., Person]) -> list[Person]:
    return [make_person(f"applicant-{i}") for i in range(6)]


@pytest.fixture
def admin(make_person: Callable[..., Person]) -> Person:
    return make_person("root", "admin")


def apply_all(service: ProgramService, people: list[Person], slug: str = "small") -> list[Application]:
    return [service.apply(person, slug, form(person.display_name))[0] for person in people]


def test_open_seats_fill_then_the_waitlist(service: ProgramService, small: Program, people: list[Person]) -> None:
    first, second, third, fourth = apply_all(service, people[:4])
    assert (first.status, second.status) == (PENDING, PENDING)  # cap - reserved = 2 open seats
    assert (third.status, fourth.status) == (WAITLISTED, WAITLISTED)
    assert [service.waitlist_position(a) for a in (first, third, fourth)] == [None, 1, 2]
    assert service.counts("small").to_dict() | {} == {
        "slug": "small", "name": "Small", "cap": 3, "reserved": 1, "active": 0, "pending": 2, "waitlisted": 2}


def test_cap_boundaries(service: ProgramService, db_session: Session, people: list[Person]) -> None:
    db_session.add(Program(slug="tight", name="Tight", cap=2, reserved=0))
    db_session.commit()
    below, at = apply_all(service, people[:2], "tight")
    beyond = service.apply(people[2], "tight", form())[0]
    assert (below.status, at.status, beyond.status) == (PENDING, PENDING, WAITLISTED)


def test_no_data_rights_is_refused_and_nothing_stored(
    service: ProgramService, small: Program, people: list[Person], db_session: Session
) -> None:
    with pytest.raises(InvalidInputError, match="data rights"):
        service.apply(people[0], "small", form(data_rights=False))
    assert db_session.scalar(select(func.count()).select_from(Application)) == 0


def test_applying_twice_keeps_one_application(service: ProgramService, small: Program, people: list[Person]) -> None:
    first, created = service.apply(people[0], "small", form())
    again, created_again = service.apply(people[0], "small", form("Other name"))
    assert created and not created_again
    assert again.id == first.id and again.name == "Vera"


def test_unknown_programme(service: ProgramService, people: list[Person]) -> None:
    with pytest.raises(NotFoundError):
        service.apply(people[0], "nope", form())


def test_raising_the_cap_promotes_in_order(
    service: ProgramService, small: Program, people: list[Person], admin: Person, db_session: Session
) -> None:
    apps = apply_all(service, people[:5])
    counts = service.set_cap(admin, "small", 5)
    for app in apps:
        db_session.refresh(app)
    assert [a.status for a in apps] == [PENDING, PENDING, PENDING, PENDING, WAITLISTED]
    assert (counts.pending, counts.waitlisted) == (4, 1)
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "signup.cap_changed"))
    assert event.data["promoted"] == [apps[2].id, apps[3].id] and event.actor_id == admin.id


def test_lowering_the_cap_removes_nobody(
    service: ProgramService, small: Program, people: list[Person], admin: Person
) -> None:
    apply_all(service, people[:2])
    counts = service.set_cap(admin, "small", 1, reserved=0)
    assert counts.pending == 2
    assert service.apply(people[2], "small", form())[0].status is WAITLISTED


def test_only_admins_change_the_cap(
    service: ProgramService, small: Program, make_person: Callable[..., Person]
) -> None:
    with pytest.raises(PermissionDeniedError):
        service.set_cap(make_person("helper", "staff"), "small", 10)


@pytest.mark.parametrize(("cap", "reserved"), [(-1, 0), (2, 3), (5, -1)])
def test_impossible_caps_are_refused(service: ProgramService, small: Program, admin: Person, cap: int,
                                     reserved: int) -> None:
    with pytest.raises(InvalidInputError):
        service.set_cap(admin, "small", cap, reserved)


def test_decline_frees_the_seat_for_the_head_of_the_waitlist(
    service: ProgramService, small: Program, people: list[Person], admin: Person, db_session: Session
) -> None:
    first, second, third, fourth = apply_all(service, people[:4])
    service.decide(admin, first.id, "decline", note="not on the data-rights list")
    for app in (third, fourth):
        db_session.refresh(app)
    assert (third.status, fourth.status) == (PENDING, WAITLISTED)
    assert service.waitlist_position(fourth) == 1


def test_approve_then_withdraw(
    service: ProgramService, small: Program, people: list[Person], admin: Person, db_session: Session
) -> None:
    first, _, third = apply_all(service, people[:3])
    assert service.decide(admin, first.id, "approve", checks=ALL_CHECKS).status is ACTIVE
    with pytest.raises(InvalidTransitionError):
        service.decide(admin, first.id, "approve")
    service.decide(admin, first.id, "withdraw")
    db_session.refresh(third)
    assert third.status is PENDING


def test_admit_uses_reserved_seats_only(
    service: ProgramService, small: Program, people: list[Person], admin: Person
) -> None:
    apps = apply_all(service, people[:4])
    admitted = service.decide(admin, apps[2].id, "admit")
    assert admitted.status is PENDING and admitted.pool.value == "reserved"
    with pytest.raises(InvalidTransitionError, match="reserved"):
        service.decide(admin, apps[3].id, "admit")


def test_staff_decide_not_requesters(
    service: ProgramService, small: Program, people: list[Person]
) -> None:
    app = service.apply(people[0], "small", form())[0]
    with pytest.raises(PermissionDeniedError):
        service.decide(people[1], app.id, "approve")


def test_ten_at_once_never_exceed_the_cap(app, small: Program, people: list[Person],  # type: ignore[no-untyped-def]
                                          make_person: Callable[..., Person]) -> None:
    applicants = [make_person(f"racer-{i}") for i in range(10)]

    def apply(person: Person) -> None:
        session = app.extensions["helpdesk"].session_factory()
        try:
            ProgramService(session).apply(person, "small", form(person.display_name))
        finally:
            session.close()

    run_together(apply, [(p,) for p in applicants])  # raises what any of them raised
    session = app.extensions["helpdesk"].session_factory()
    counts = ProgramService(session).counts("small")
    session.close()
    assert (counts.pending, counts.waitlisted) == (2, 8)
