"""Fixtures for the programme tests: a service, small programmes, applicants, an administrator."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person
from helpdesk.programs.models import Application, Program, ProgramPool, SelectionMode
from helpdesk.programs.services import DATA_RIGHTS_CHECKS, ApplicationForm, ProgramService
from tests.support.clock import Clock

ALL_CHECKS = [key for key, _ in DATA_RIGHTS_CHECKS]


def form(name: str = "Vera", data_rights: bool = True, group: str | None = None) -> ApplicationForm:
    return ApplicationForm(name=name, email=f"{name.lower().replace(' ', '.')}@example.edu", institution="Example U",
                           data_rights=data_rights, group=group)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(db_session: Session, clock: Clock) -> ProgramService:
    return ProgramService(db_session, clock)


@pytest.fixture
def make_program(db_session: Session) -> Callable[..., Program]:
    def make(slug: str = "small", cap: int = 3, pools: dict[str, int] | None = None,
             selection: SelectionMode = SelectionMode.FCFS, **fields: object) -> Program:
        pools = {"collaborations": 1} if pools is None else pools
        program = Program(slug=slug, name=slug.capitalize(), cap=cap, reserved=sum(pools.values()),
                          selection=selection,
                          pools=[ProgramPool(slug=k, name=k.capitalize(), seats=v) for k, v in pools.items()],
                          **fields)
        db_session.add(program)
        db_session.commit()
        return program

    return make


@pytest.fixture
def people(make_person: Callable[..., Person]) -> list[Person]:
    return [make_person(f"applicant-{i}") for i in range(8)]


@pytest.fixture
def admin(make_person: Callable[..., Person]) -> Person:
    return make_person("root", "admin")


def apply_all(service: ProgramService, people: list[Person], slug: str = "small",
              group: str | None = None) -> list[Application]:
    return [service.apply(person, slug, form(person.display_name, group=group))[0] for person in people]
