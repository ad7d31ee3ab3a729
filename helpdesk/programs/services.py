"""Sign-up rules. Every change that uses or frees a seat locks the programme row first, so the cap
holds under concurrent applications (PostgreSQL: SELECT ... FOR UPDATE; SQLite: the write lock
every transaction takes up front)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from helpdesk import audit
from helpdesk.accounts.models import Person
from helpdesk.db import utcnow
from helpdesk.exceptions import InvalidInputError, InvalidTransitionError, NotFoundError, PermissionDeniedError
from helpdesk.programs.models import Application, ApplicationStatus, Pool, Program

DATA_RIGHTS_REFUSAL = (
    "DP0 is open only to people who hold Rubin Observatory data rights. If you do hold them, tick the "
    "statement; if you are unsure, ask in the Accounts and access queue before applying."
)


class ProgramConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    slug: str = Field(pattern=r"^[a-z][a-z0-9-]*$", max_length=64)
    name: str
    cap: int = Field(ge=0)
    reserved: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _reserved_within_cap(self) -> ProgramConfig:
        if self.reserved > self.cap:
            raise ValueError("reserved cannot exceed cap")
        return self


class ApplicationForm(BaseModel):
    """What a person sends; checked before anything is stored."""

    model_config = ConfigDict(str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    institution: str = Field(min_length=1, max_length=200)
    data_rights: bool


@dataclass(frozen=True)
class ProgramCounts:
    program: Program
    active: int
    pending: int
    waitlisted: int

    @property
    def open_seats(self) -> int:
        """Seats a public application can still take."""
        return max(0, self.program.cap - self.program.reserved - self.open_pool_used)

    open_pool_used: int = 0

    def to_dict(self) -> dict[str, object]:
        return {"slug": self.program.slug, "name": self.program.name, "cap": self.program.cap,
                "reserved": self.program.reserved, "active": self.active, "pending": self.pending,
                "waitlisted": self.waitlisted}


@dataclass(frozen=True)
class Roster:
    counts: ProgramCounts
    pending: list[Application]
    active: list[Application]
    waitlisted: list[Application]


def default_programs_path() -> Path:
    return Path(str(resources.files("helpdesk") / "data" / "programs.yaml"))


def load_program_config(path: Path | None = None) -> list[ProgramConfig]:
    path = path or default_programs_path()
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        return [ProgramConfig.model_validate(item) for item in document["programs"]]
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValidationError) as exc:
        raise InvalidInputError(f"Cannot read the programmes from {path}: {exc}") from exc


class ProgramService:
    def __init__(self, session: Session, clock: Callable[[], datetime] = utcnow) -> None:
        self.session = session
        self.clock = clock

    # -- set-up ----------------------------------------------------------------------------------

    def sync(self, configs: list[ProgramConfig]) -> tuple[int, int]:
        """Create missing programmes; existing ones keep their cap (admins change it through the API)."""
        existing = {p.slug for p in self.session.scalars(select(Program))}
        created = 0
        for config in configs:
            if config.slug not in existing:
                self.session.add(Program(**config.model_dump()))
                created += 1
        self.session.commit()
        return created, len(configs) - created

    # -- reading ---------------------------------------------------------------------------------

    def counts(self, slug: str) -> ProgramCounts:
        program = self._program(slug)
        return self._counts(program)

    def _counts(self, program: Program) -> ProgramCounts:
        by_status: dict[tuple[ApplicationStatus, Pool], int] = {
            (status, pool): count
            for status, pool, count in self.session.execute(
                select(Application.status, Application.pool, func.count())
                .where(Application.program_id == program.id)
                .group_by(Application.status, Application.pool)
            )
        }

        def total(status: ApplicationStatus) -> int:
            return sum(count for (s, _), count in by_status.items() if s is status)

        open_used = sum(count for (s, pool), count in by_status.items() if s.holds_seat and pool is Pool.OPEN)
        return ProgramCounts(program, total(ApplicationStatus.ACTIVE), total(ApplicationStatus.PENDING),
                             total(ApplicationStatus.WAITLISTED), open_used)

    def application_of(self, person: Person, slug: str) -> Application | None:
        program = self._program(slug)
        return self.session.scalar(
            select(Application).where(Application.program_id == program.id, Application.person_id == person.id)
        )

    def waitlist_position(self, application: Application) -> int | None:
        if application.status is not ApplicationStatus.WAITLISTED:
            return None
        ahead = self.session.scalar(
            select(func.count()).select_from(Application).where(
                Application.program_id == application.program_id,
                Application.status == ApplicationStatus.WAITLISTED,
                Application.id < application.id,
            )
        )
        return (ahead or 0) + 1

    def roster(self, slug: str) -> Roster:
        program = self._program(slug)
        rows = list(self.session.scalars(
            select(Application).where(Application.program_id == program.id).order_by(Application.id)
        ))
        return Roster(
            self._counts(program),
            [a for a in rows if a.status is ApplicationStatus.PENDING],
            [a for a in rows if a.status is ApplicationStatus.ACTIVE],
            [a for a in rows if a.status is ApplicationStatus.WAITLISTED],
        )

    # -- applying --------------------------------------------------------------------------------

    def apply(self, person: Person, slug: str, form: ApplicationForm) -> tuple[Application, bool]:
        """Record an application: a seat when one is free, else the waitlist. Returns (application, created).

        Applying again while an application is live changes nothing and returns it.

        Raises
        ------
        InvalidInputError
            No data-rights statement (nothing is stored), or an unknown programme.
        """
        if not form.data_rights:
            raise InvalidInputError(DATA_RIGHTS_REFUSAL, code="no_data_rights")
        program = self._lock(slug)
        existing = self.session.scalar(
            select(Application).where(Application.program_id == program.id, Application.person_id == person.id)
        )
        if existing is not None and existing.status.is_live:
            self.session.rollback()
            return existing, False
        counts = self._counts(program)
        status = ApplicationStatus.PENDING if counts.open_seats > 0 else ApplicationStatus.WAITLISTED
        now = self.clock()
        if existing is not None:
            # A withdrawn or declined person applies again: back of the queue, as a new application.
            self.session.delete(existing)
            self.session.flush()
        application = Application(
            program=program, person_id=person.id, name=form.name, email=str(form.email),
            institution=form.institution, data_rights_statement=True, status=status, pool=Pool.OPEN,
            created_at=now, decided_at=now,
        )
        self.session.add(application)
        self.session.flush()
        audit.record(self.session, "signup.applied", actor_id=person.id, program=program.slug,
                     application_id=application.id, status=status.value)
        self.session.commit()
        return application, True

    # -- staff decisions -------------------------------------------------------------------------

    def decide(self, actor: Person, application_id: int, action: str, note: str | None = None) -> Application:
        """approve (pending → active), decline (pending → declined), withdraw (any live → withdrawn),
        admit (waitlisted → pending on a reserved seat). A freed seat goes to the head of the waitlist."""
        if not actor.is_staff:
            raise PermissionDeniedError("Only staff decide on applications.")
        application = self.session.get(Application, application_id)
        if application is None:
            raise NotFoundError(f"No application {application_id}.")
        program = self._lock(application.program.slug)
        self.session.refresh(application)
        before = application.status
        if action == "approve" and before is ApplicationStatus.PENDING:
            application.status = ApplicationStatus.ACTIVE
        elif action == "decline" and before is ApplicationStatus.PENDING:
            application.status = ApplicationStatus.DECLINED
        elif action == "withdraw" and before.is_live:
            application.status = ApplicationStatus.WITHDRAWN
        elif action == "admit" and before is ApplicationStatus.WAITLISTED:
            counts = self._counts(program)
            reserved_used = counts.active + counts.pending - counts.open_pool_used
            if reserved_used >= program.reserved:
                raise InvalidTransitionError("Every reserved seat is taken; raise the cap or free a seat first.")
            application.status = ApplicationStatus.PENDING
            application.pool = Pool.RESERVED
        else:
            raise InvalidTransitionError(f"Cannot {action} an application that is {before.value}.")
        application.decided_at = self.clock()
        application.decided_by_id = actor.id
        if note:
            application.note = note[:2000]
        self.session.flush()
        promoted = self._promote(program, actor) if not application.status.holds_seat and before.holds_seat else []
        audit.record(self.session, f"signup.{action}", actor_id=actor.id, program=program.slug,
                     application_id=application.id, status=[before.value, application.status.value],
                     promoted=promoted)
        self.session.commit()
        return application

    def set_cap(self, actor: Person, slug: str, cap: int, reserved: int | None = None) -> ProgramCounts:
        """Change the cap (admins). Raising it promotes from the waitlist at once, in order.

        Lowering it below the seats in use removes nobody; new applications wait until seats free up.
        """
        if not actor.is_admin:
            raise PermissionDeniedError("Only administrators change a programme's cap.")
        program = self._lock(slug)
        reserved = program.reserved if reserved is None else reserved
        if cap < 0 or reserved < 0 or reserved > cap:
            raise InvalidInputError("cap and reserved must be whole numbers with 0 <= reserved <= cap.")
        previous = (program.cap, program.reserved)
        program.cap, program.reserved = cap, reserved
        self.session.flush()
        promoted = self._promote(program, actor)
        audit.record(self.session, "signup.cap_changed", actor_id=actor.id, program=slug,
                     cap=[previous[0], cap], reserved=[previous[1], reserved], promoted=promoted)
        self.session.commit()
        return self._counts(program)

    # -- helpers ---------------------------------------------------------------------------------

    def _promote(self, program: Program, actor: Person | None) -> list[int]:
        """Move the head of the waitlist onto free open seats, first come first served."""
        free = self._counts(program).open_seats
        if free <= 0:
            return []
        heads = list(self.session.scalars(
            select(Application)
            .where(Application.program_id == program.id, Application.status == ApplicationStatus.WAITLISTED)
            .order_by(Application.id)
            .limit(free)
        ))
        now = self.clock()
        for application in heads:
            application.status = ApplicationStatus.PENDING
            application.pool = Pool.OPEN
            application.decided_at = now
            application.decided_by_id = actor.id if actor else None
        self.session.flush()
        return [a.id for a in heads]

    def _program(self, slug: str) -> Program:
        program = self.session.scalar(select(Program).where(Program.slug == slug))
        if program is None:
            raise NotFoundError(f"No programme {slug!r}.")
        return program

    def _lock(self, slug: str) -> Program:
        program = self.session.scalar(select(Program).where(Program.slug == slug).with_for_update())
        if program is None:
            raise NotFoundError(f"No programme {slug!r}.")
        return program
