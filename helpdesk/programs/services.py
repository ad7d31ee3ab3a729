"""Sign-up rules. Every change that uses or frees a seat locks the programme row first, so the cap
holds under concurrent applications (PostgreSQL: SELECT ... FOR UPDATE; SQLite: the write lock
every transaction takes up front)."""

from __future__ import annotations

import random
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError, model_validator
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from helpdesk import audit
from helpdesk.accounts.models import Identity, Person, Provider
from helpdesk.audit import AuditEvent
from helpdesk.db import ID_MAX, utcnow
from helpdesk.exceptions import (
    ConflictError,
    HelpdeskError,
    InvalidInputError,
    InvalidTransitionError,
    NotFoundError,
    PermissionDeniedError,
)
from helpdesk.programs.models import Application, ApplicationStatus, Pool, Program, ProgramPool, SelectionMode
from helpdesk.tickets.models import OutboxKind
from helpdesk.tickets.outbox import outbox_insert

DATA_RIGHTS_REFUSAL = (
    "DP0 is open only to people who hold Rubin Observatory data rights. If you do hold them, tick the "
    "statement; if you are unsure, ask in the Accounts and access queue before applying."
)


#: The most seats a cap or pool may have (a number, not a row id).
SEATS_MAX = 1_000_000
#: Lottery weights are numbers above 0 and at most this.
WEIGHT_MAX = 1000.0
#: Seeds of the draw: a whole number that fits a signed 64-bit integer.
SEED_MAX = 2**63 - 1
REASON_MAX = 2000
GROUP_KEY = re.compile(r"^[a-z][a-z0-9-]{0,63}$")

#: The data-rights checklist staff tick before approving (key, what was checked).
DATA_RIGHTS_CHECKS: tuple[tuple[str, str], ...] = (
    ("identity", "Name and affiliation match the institution's own pages (staff list, directory)"),
    ("rights_list", "The institution is on the data-rights holders list, or its in-kind manager vouched"),
    ("email", "The e-mail address belongs to that institution, or the person confirmed it from there"),
)

#: What a declined applicant may do next (shown on their page and in the notice).
DECLINE_NEXT_STEPS = (
    "If you do hold data rights, ask the accounts team with a link that shows your affiliation (a staff "
    "page, or your in-kind manager's name); staff can then look again. You may also apply again with "
    "corrected details."
)


class WindowClosedError(ConflictError):
    code = "window_closed"


class ChecksIncompleteError(ConflictError):
    code = "checks_incomplete"


class PoolConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    slug: str = Field(pattern=r"^[a-z][a-z0-9-]*$", max_length=64)
    name: str = Field(min_length=1, max_length=200)
    seats: int = Field(ge=0, le=SEATS_MAX)


class ProgramConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    slug: str = Field(pattern=r"^[a-z][a-z0-9-]*$", max_length=64)
    name: str
    cap: int = Field(ge=0)
    #: Shorthand for one pool "reserved" of this many seats; leave out when ``pools`` are listed.
    reserved: int = Field(0, ge=0)
    pools: tuple[PoolConfig, ...] = ()
    selection: SelectionMode = SelectionMode.FCFS
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    groups: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _reserved_within_cap(self) -> ProgramConfig:
        if self.pools and self.reserved and self.reserved != sum(p.seats for p in self.pools):
            raise ValueError("give either reserved or pools, not both")
        if self.reserved_total > self.cap:
            raise ValueError("reserved cannot exceed cap")
        for name in ("opens_at", "closes_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} needs a time zone (end it with Z for UTC)")
        _check_window(self.opens_at, self.closes_at)
        _check_groups(self.groups)
        return self

    @property
    def reserved_total(self) -> int:
        return sum(p.seats for p in self.pools) if self.pools else self.reserved

    def pool_configs(self) -> tuple[PoolConfig, ...]:
        if self.pools:
            return self.pools
        return (PoolConfig(slug="reserved", name="Reserved for staff to assign", seats=self.reserved),) \
            if self.reserved else ()


class ProgramSettings(BaseModel):
    """What an administrator may change on a programme in the browser; left-out fields stay as they are."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(None, min_length=1, max_length=200)
    cap: int | None = Field(None, ge=0, le=SEATS_MAX)
    selection: SelectionMode | None = None
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    groups: dict[str, float] | None = None
    pools: list[PoolConfig] | None = None

    @model_validator(mode="after")
    def _valid(self) -> ProgramSettings:
        for name in ("opens_at", "closes_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} needs a time zone")
        _check_window(self.opens_at, self.closes_at)
        if self.groups is not None:
            _check_groups(self.groups)
        if self.pools is not None and len({p.slug for p in self.pools}) != len(self.pools):
            raise ValueError("two pools have the same slug")
        return self


def _check_window(opens_at: datetime | None, closes_at: datetime | None) -> None:
    if opens_at is not None and closes_at is not None and closes_at <= opens_at:
        raise ValueError("the window must close after it opens")


def _check_groups(groups: dict[str, float]) -> None:
    for key, weight in groups.items():
        if not GROUP_KEY.match(key):
            raise ValueError(f"group {key!r}: use lower-case letters, digits and dashes")
        if not 0 < weight <= WEIGHT_MAX:
            raise ValueError(f"group {key!r}: a weight is a number above 0 and at most {WEIGHT_MAX:g}")


class ApplicationForm(BaseModel):
    """What a person sends; checked before anything is stored."""

    model_config = ConfigDict(str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    institution: str = Field(min_length=1, max_length=200)
    data_rights: bool
    group: str | None = Field(None, max_length=64)


@dataclass(frozen=True)
class PoolCounts:
    pool: ProgramPool
    used: int

    @property
    def left(self) -> int:
        return max(0, self.pool.seats - self.used)


@dataclass(frozen=True)
class ProgramCounts:
    """The seat meter: every number a staff member needs, none that could be read two ways."""

    program: Program
    active: int
    pending: int
    waitlisted: int
    open_pool_used: int = 0
    entered: int = 0
    pools: tuple[PoolCounts, ...] = ()

    @property
    def held(self) -> int:
        """Seats in use: active plus being checked."""
        return self.active + self.pending

    @property
    def reserved_left(self) -> int:
        """Reserved seats staff can still hand out."""
        return sum(p.left for p in self.pools)

    @property
    def open_seats(self) -> int:
        """Seats a public application can still take: the cap, less what each pool reserves (its seats, or
        what it holds when a lowered pool holds more), less the open seats held."""
        reserved = self.program.reserved + sum(max(0, p.used - p.pool.seats) for p in self.pools)
        return max(0, self.program.cap - reserved - self.open_pool_used)

    @property
    def over_cap(self) -> int:
        """Seats held beyond the cap (after the cap was lowered; nobody is removed)."""
        return max(0, self.held - self.program.cap)

    def to_dict(self) -> dict[str, object]:
        return {"slug": self.program.slug, "name": self.program.name, "cap": self.program.cap,
                "reserved": self.program.reserved, "active": self.active, "pending": self.pending,
                "waitlisted": self.waitlisted}

    def meter(self) -> dict[str, object]:
        """The seat meter's figures (the admin page and the roster exports)."""
        return {**self.to_dict(), "held": self.held, "entered": self.entered, "open_seats": self.open_seats,
                "reserved_left": self.reserved_left, "over_cap": self.over_cap,
                "selection": self.program.selection.value, "opens_at": _iso(self.program.opens_at),
                "closes_at": _iso(self.program.closes_at), "drawn_at": _iso(self.program.drawn_at),
                "pools": [{"slug": p.pool.slug, "name": p.pool.name, "seats": p.pool.seats, "used": p.used,
                           "left": p.left} for p in self.pools]}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class Roster:
    counts: ProgramCounts
    pending: list[Application]
    active: list[Application]
    waitlisted: list[Application]
    entered: list[Application] = field(default_factory=list)
    closed: list[Application] = field(default_factory=list)


@dataclass(frozen=True)
class SeatPoint:
    """Seat use at one moment (a point of the chart)."""

    at: datetime
    held: int
    active: int
    waitlisted: int
    cap: int


def default_programs_path() -> Path:
    return Path(str(resources.files("helpdesk") / "data" / "programs.yaml"))


def load_program_config(path: Path | None = None) -> list[ProgramConfig]:
    path = path or default_programs_path()
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        return [ProgramConfig.model_validate(item) for item in document["programs"]]
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValidationError) as exc:
        raise InvalidInputError(f"Cannot read the programmes from {path}: {exc}") from exc


# -- the lottery -----------------------------------------------------------------------------------

#: The name of the draw procedure, kept in every draw's audit event; change it if the procedure changes.
DRAW_ALGORITHM = "weighted-keys-v1"


def weighted_order(entries: Sequence[tuple[int, float]], seed: int) -> list[int]:
    """The order of a weighted draw without replacement: every application id, first drawn first.

    Each entry ``(id, weight)`` gets the key ``u ** (1 / weight)`` with ``u`` the next number of Python's
    Mersenne Twister seeded with ``seed``, taken in the order given (Efraimidis and Spirakis' method: a
    weight of 2 is twice as likely as 1 to come ahead); the highest key is drawn first, ties by id. The
    same entries in the same order with the same seed give the same order on any machine.
    """
    rng = random.Random(seed)
    keyed = [(rng.random() ** (1.0 / weight), -app_id, app_id) for app_id, weight in entries]
    return [app_id for *_, app_id in sorted(keyed, reverse=True)]


def replay_draw(data: Mapping[str, Any]) -> list[int]:
    """Draw again from a ``signup.draw`` audit event's inputs; equal to its ``order`` when nothing was altered.

    Raises
    ------
    InvalidInputError
        The event was made by another procedure, or its inputs are not readable.
    """
    if data.get("algorithm") != DRAW_ALGORITHM:
        raise InvalidInputError(f"This draw used {data.get('algorithm')!r}; this version replays {DRAW_ALGORITHM}.")
    try:
        entries = [(int(app_id), float(weight)) for app_id, weight in data["entries"]]
        return weighted_order(entries, int(data["seed"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"The draw's inputs are not readable: {exc}") from exc


class ProgramService:
    """Programmes and applications. ``email`` and ``slack`` say which ways of telling people are set up:
    a notice is queued for each (Slack only for people who linked an account)."""

    def __init__(self, session: Session, clock: Callable[[], datetime] = utcnow, *, email: bool = False,
                 slack: bool = False) -> None:
        self.session = session
        self.clock = clock
        self.email = email
        self.slack = slack

    # -- set-up ----------------------------------------------------------------------------------

    def sync(self, configs: list[ProgramConfig]) -> tuple[int, int]:
        """Create missing programmes; existing ones keep their settings (admins change them in the browser)."""
        existing = {p.slug for p in self.session.scalars(select(Program))}
        created = 0
        for config in configs:
            if config.slug not in existing:
                self.session.add(Program(
                    slug=config.slug, name=config.name, cap=config.cap, reserved=config.reserved_total,
                    selection=config.selection, opens_at=config.opens_at, closes_at=config.closes_at,
                    groups=dict(config.groups),
                    pools=[ProgramPool(slug=p.slug, name=p.name, seats=p.seats) for p in config.pool_configs()],
                ))
                created += 1
        self.session.commit()
        return created, len(configs) - created

    # -- reading ---------------------------------------------------------------------------------

    def programs(self) -> list[Program]:
        return list(self.session.scalars(select(Program).order_by(Program.id)))

    def program(self, slug: str) -> Program:
        return self._program(slug)

    def counts(self, slug: str) -> ProgramCounts:
        program = self._program(slug)
        return self._counts(program)

    def _counts(self, program: Program) -> ProgramCounts:
        rows = list(self.session.execute(
            select(Application.status, Application.pool_id, func.count())
            .where(Application.program_id == program.id)
            .group_by(Application.status, Application.pool_id)
        ))

        def total(status: ApplicationStatus) -> int:
            return sum(count for s, _, count in rows if s is status)

        used_by_pool: dict[int | None, int] = {}
        for status, pool_id, count in rows:
            if status.holds_seat:
                used_by_pool[pool_id] = used_by_pool.get(pool_id, 0) + count
        pools = tuple(PoolCounts(pool, used_by_pool.get(pool.id, 0)) for pool in program.pools)
        return ProgramCounts(program, total(ApplicationStatus.ACTIVE), total(ApplicationStatus.PENDING),
                             total(ApplicationStatus.WAITLISTED), used_by_pool.get(None, 0),
                             total(ApplicationStatus.ENTERED), pools)

    def application(self, application_id: int) -> Application:
        application = self.session.get(Application, application_id) if 0 < application_id <= ID_MAX else None
        if application is None:
            raise NotFoundError(f"No application {application_id}.")
        return application

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
                or_(Application.position < application.position,
                    and_(Application.position == application.position, Application.id < application.id)),
            )
        )
        return (ahead or 0) + 1

    def roster(self, slug: str) -> Roster:
        program = self._program(slug)
        rows = list(self.session.scalars(
            select(Application).where(Application.program_id == program.id)
            .order_by(Application.position, Application.id)
        ))

        def having(*statuses: ApplicationStatus) -> list[Application]:
            return [a for a in rows if a.status in statuses]

        return Roster(
            self._counts(program), having(ApplicationStatus.PENDING), having(ApplicationStatus.ACTIVE),
            having(ApplicationStatus.WAITLISTED), having(ApplicationStatus.ENTERED),
            having(ApplicationStatus.DECLINED, ApplicationStatus.WITHDRAWN, ApplicationStatus.RECLAIMED),
        )

    def search(self, slug: str, *, statuses: Sequence[ApplicationStatus] = (), group: str | None = None,
               pool: str | None = None, text: str | None = None, after_id: int | None = None,
               limit: int = 50) -> list[Application]:
        """Applications of a programme by id, filtered; ``after_id`` pages on (keyset)."""
        program = self._program(slug)
        query = select(Application).where(Application.program_id == program.id)
        if statuses:
            query = query.where(Application.status.in_(list(statuses)))
        if group:
            query = query.where(Application.group == group)
        if pool == "open":
            query = query.where(Application.pool == Pool.OPEN)
        elif pool:
            pool_ids = [p.id for p in program.pools if p.slug == pool]
            query = query.where(Application.pool_id.in_(pool_ids))
        if text:
            like = f"%{text.lower()}%"
            query = query.where(or_(func.lower(Application.name).like(like), func.lower(Application.email).like(like),
                                    func.lower(Application.institution).like(like)))
        if after_id is not None:
            query = query.where(Application.id > after_id)
        return list(self.session.scalars(query.order_by(Application.id).limit(limit)))

    def decisions(self, slug: str, limit: int = 200) -> list[AuditEvent]:
        """The audit trail of a programme, newest first: applications, decisions, caps, settings, draws."""
        program = self._program(slug)
        events = self.session.scalars(
            select(AuditEvent).where(AuditEvent.action.like("signup.%"))
            .order_by(AuditEvent.id.desc()).limit(limit * 4)
        )
        return [e for e in events if (e.data or {}).get("program") == program.slug][:limit]

    def actor_names(self, events: Iterable[AuditEvent]) -> dict[int, str]:
        """The login (or name) of each person who made one of ``events``."""
        ids = {e.actor_id for e in events if e.actor_id is not None}
        if not ids:
            return {}
        return {p.id: p.handle for p in self.session.scalars(select(Person).where(Person.id.in_(ids)))}

    def draw_event(self, slug: str) -> AuditEvent | None:
        return next((e for e in self.decisions(slug, limit=10_000) if e.action == "signup.draw"), None)

    def seat_history(self, slug: str) -> list[SeatPoint]:
        """Seat use over time, from every application's history and the cap changes in the audit trail."""
        program = self._program(slug)
        changes: list[tuple[datetime, int, str | None]] = []
        for app_id, history in self.session.execute(
            select(Application.id, Application.history).where(Application.program_id == program.id)
        ):
            for entry in history or []:
                changes.append((datetime.fromisoformat(entry["at"]), app_id, entry["status"]))
        caps = [(e.created_at, e.data["cap"]) for e in self.decisions(slug, limit=10_000)
                if isinstance((e.data or {}).get("cap"), list)]
        caps.sort()
        cap = caps[0][1][0] if caps else program.cap
        cap_changes = [(at, c[1]) for at, c in caps]
        changes.sort(key=lambda c: (c[0], c[1]))
        status: dict[int, ApplicationStatus] = {}
        points: list[SeatPoint] = []
        ci = 0

        def point(at: datetime) -> SeatPoint:
            values = list(status.values())
            return SeatPoint(at, sum(s.holds_seat for s in values), values.count(ApplicationStatus.ACTIVE),
                             values.count(ApplicationStatus.WAITLISTED), cap)

        for at, app_id, new in changes:
            while ci < len(cap_changes) and cap_changes[ci][0] <= at:
                cap = cap_changes[ci][1]
                points.append(point(cap_changes[ci][0]))
                ci += 1
            status[app_id] = ApplicationStatus(new)
            points.append(point(at))
        for at, new_cap in cap_changes[ci:]:
            cap = new_cap
            points.append(point(at))
        return points

    # -- applying --------------------------------------------------------------------------------

    def apply(self, person: Person, slug: str, form: ApplicationForm) -> tuple[Application, bool]:
        """Record an application: a seat when one is free, else the waitlist; in a lottery programme before
        its draw, an entry in the draw. Returns (application, created).

        Applying again while an application is live changes nothing and returns it. A declined, withdrawn
        or reclaimed applicant who applies again goes to the back of the line; the earlier decision stays in
        the application's history and the audit trail.

        Raises
        ------
        InvalidInputError
            No data-rights statement (nothing is stored), or an unknown programme.
        WindowClosedError
            Outside the programme's application window.
        """
        if not form.data_rights:
            raise InvalidInputError(DATA_RIGHTS_REFUSAL, code="no_data_rights")
        program = self._lock(slug)
        now = self.clock()
        existing = self.session.scalar(
            select(Application).where(Application.program_id == program.id, Application.person_id == person.id)
        )
        if existing is not None and existing.status.is_live:
            self.session.rollback()
            return existing, False
        refusal = window_refusal(program, now)
        if refusal:
            self.session.rollback()
            raise WindowClosedError(refusal)
        group = self._group(program, form.group)
        if program.selection is SelectionMode.LOTTERY and program.drawn_at is None:
            status, position = ApplicationStatus.ENTERED, 0
        else:
            status = ApplicationStatus.PENDING if self._counts(program).open_seats > 0 else ApplicationStatus.WAITLISTED
            program.last_position += 1
            position = program.last_position
        application = existing or Application(program=program, person_id=person.id, history=[])
        application.name, application.email, application.institution = form.name, str(form.email), form.institution
        application.data_rights_statement, application.group = True, group
        application.pool, application.pool_id, application.checks, application.reason = Pool.OPEN, None, {}, None
        application.created_at, application.position = now, position
        self._move(application, status, None, now, event="applied")
        self.session.add(application)
        self.session.flush()
        audit.record(self.session, "signup.applied", actor_id=person.id, program=program.slug,
                     application_id=application.id, status=status.value, again=existing is not None)
        self._notify(application, now)
        self.session.commit()
        return application, True

    # -- staff decisions -------------------------------------------------------------------------

    def record_checks(self, actor: Person, application_id: int, checks: Iterable[str]) -> Application:
        """Tick the data-rights checklist items ``checks`` (the others are unticked); no change of state."""
        self._staff(actor)
        application = self.application(application_id)
        self._lock(application.program.slug)
        self.session.refresh(application)
        ticked = self._ticked(checks)
        before = dict(application.checks or {})
        application.checks = ticked
        audit.record(self.session, "signup.checked", actor_id=actor.id, program=application.program.slug,
                     application_id=application.id, checks=[before, ticked])
        self.session.commit()
        return application

    def decide(self, actor: Person, application_id: int, action: str, note: str | None = None, *,
               checks: Iterable[str] | None = None, pool: str | None = None) -> Application:
        """One staff decision on one application.

        ``approve``: being checked → active, once every data-rights check is ticked (``checks`` ticks them
        first). ``decline``: being checked, waitlisted or entered → declined, with ``note`` as the reason
        the applicant is shown (required). ``reclaim``: active → seat reclaimed, with a reason (required).
        ``withdraw``: any live state → withdrawn. ``admit``: waitlisted or entered → being checked on a
        reserved seat of ``pool`` (default: the first pool with room). A freed seat goes to the head of the
        waitlist at once.
        """
        self._staff(actor)
        application = self.application(application_id)
        program = self._lock(application.program.slug)
        self.session.refresh(application)
        now = self.clock()
        before = application.status
        reason = (note or "").strip()[:REASON_MAX] or None
        S = ApplicationStatus
        if action == "approve" and before is S.PENDING:
            if checks is not None:
                application.checks = self._ticked(checks)
            missing = [label for key, label in DATA_RIGHTS_CHECKS if not (application.checks or {}).get(key)]
            if missing:
                raise ChecksIncompleteError(
                    "Tick every data-rights check before approving; still open: " + "; ".join(missing) + ".")
            self._move(application, S.ACTIVE, actor, now)
        elif action in ("decline", "reclaim") and before in ((S.PENDING, S.WAITLISTED, S.ENTERED)
                                                             if action == "decline" else (S.ACTIVE,)):
            if not reason:
                raise InvalidInputError.for_field(
                    "reason", f"Give the reason for the {'decline' if action == 'decline' else 'reclaim'}: the "
                              "applicant is shown it.")
            application.reason = reason
            self._move(application, S.DECLINED if action == "decline" else S.RECLAIMED, actor, now, reason=reason)
        elif action == "withdraw" and before.is_live:
            self._move(application, S.WITHDRAWN, actor, now, reason=reason)
        elif action == "admit" and before in (S.WAITLISTED, S.ENTERED):
            counts = self._counts(program)
            room = [p for p in counts.pools if p.left > 0 and (pool is None or p.pool.slug == pool)]
            if pool is not None and not any(p.pool.slug == pool for p in counts.pools):
                raise InvalidInputError.for_field("pool", f"No pool {pool!r} in this programme.")
            if not room:
                raise InvalidTransitionError("Every reserved seat is taken; raise the cap or free a seat first.")
            if counts.held >= program.cap:
                raise InvalidTransitionError(f"{counts.held} seats are held of a cap of {program.cap} (it was "
                                             "lowered); raise the cap or free a seat first.")
            application.pool, application.pool_id = Pool.RESERVED, room[0].pool.id
            self._move(application, S.PENDING, actor, now, reason=reason)
        else:
            raise InvalidTransitionError(f"Cannot {action} an application that is {before.label}.")
        if reason and action in ("admit", "withdraw"):
            application.note = reason
        self.session.flush()
        freed = before.holds_seat and not application.status.holds_seat
        promoted = self._promote_rows(program, actor, now) if freed else []
        audit.record(self.session, f"signup.{action}", actor_id=actor.id, program=program.slug,
                     application_id=application.id, status=[before.value, application.status.value],
                     reason=reason, checks=dict(application.checks or {}), promoted=[a.id for a in promoted])
        self._notify(application, now)
        for other in promoted:
            self._notify(other, now)
        self.session.commit()
        return application

    def decide_many(self, actor: Person, application_ids: Iterable[int], action: str, *,
                    checks: Iterable[str] | None = None) -> tuple[list[Application], list[str]]:
        """The same decision on several applications (bulk approve); returns (decided, refusals)."""
        decided, refused = [], []
        for application_id in dict.fromkeys(application_ids):
            try:
                decided.append(self.decide(actor, application_id, action, checks=checks))
            except HelpdeskError as exc:
                self.session.rollback()
                refused.append(f"#{application_id}: {exc.message}")
        return decided, refused

    def draw(self, actor: Person | None, slug: str, seed: int | None = None) -> DrawResult:
        """Run a lottery programme's weighted draw, once: entries drawn first take the open seats, the rest
        wait in drawn order. The seed and every input go into the ``signup.draw`` audit event.

        ``actor`` None is the operator at the command line (``helpdesk programs draw``).

        Raises
        ------
        PermissionDeniedError
            Not an administrator.
        InvalidTransitionError
            Not a lottery programme, or already drawn.
        """
        if actor is not None and not actor.is_admin:
            raise PermissionDeniedError("Only administrators run a programme's draw.")
        program = self._lock(slug)
        if program.selection is not SelectionMode.LOTTERY:
            raise InvalidTransitionError(f"{program.name} hands out seats first come, first served; no draw.")
        if program.drawn_at is not None:
            raise InvalidTransitionError(f"{program.name} was drawn on {program.drawn_at:%Y-%m-%d %H:%M} UTC; "
                                         "a draw is run once.")
        if seed is not None and not 0 <= seed <= SEED_MAX:
            raise InvalidInputError.for_field("seed", f"A seed is a whole number from 0 to {SEED_MAX}.")
        seed = secrets.randbelow(SEED_MAX + 1) if seed is None else seed
        now = self.clock()
        entries_rows = list(self.session.scalars(
            select(Application).where(Application.program_id == program.id,
                                      Application.status == ApplicationStatus.ENTERED).order_by(Application.id)
        ))
        weights = self._weights(program)
        default = next(iter(weights), None)
        entries = [(a.id, float(weights.get(a.group or "", weights.get(default or "", 1.0)) if weights else 1.0))
                   for a in entries_rows]
        order = weighted_order(entries, seed)
        seats = self._counts(program).open_seats
        by_id = {a.id: a for a in entries_rows}
        for rank, app_id in enumerate(order, 1):
            application = by_id[app_id]
            application.position = program.last_position + rank
            self._move(application, ApplicationStatus.PENDING if rank <= seats else ApplicationStatus.WAITLISTED,
                       actor, now, event="drawn")
        program.last_position += len(order)
        program.drawn_at, program.draw_seed = now, str(seed)
        self.session.flush()
        audit.record(self.session, "signup.draw", actor_id=actor.id if actor else None, program=program.slug,
                     algorithm=DRAW_ALGORITHM, seed=seed, entries=[list(e) for e in entries], seats=seats,
                     order=order, selected=order[:seats])
        for application in entries_rows:
            self._notify(application, now)
        self.session.commit()
        return DrawResult(seed, order, order[:seats])

    def set_cap(self, actor: Person, slug: str, cap: int, reserved: int | None = None) -> ProgramCounts:
        """Change the cap (admins). Raising it promotes from the waitlist at once, in order.

        Lowering it below the seats in use removes nobody; new applications wait until seats free up.
        ``reserved`` sets the seats of the programme's one pool (refused when it has several).
        """
        if not actor.is_admin:
            raise PermissionDeniedError("Only administrators change a programme's cap.")
        program = self._lock(slug)
        reserved = program.reserved if reserved is None else reserved
        if cap < 0 or reserved < 0 or reserved > cap:
            raise InvalidInputError("cap and reserved must be whole numbers with 0 <= reserved <= cap.")
        if reserved != program.reserved:
            if len(program.pools) > 1:
                raise InvalidInputError.for_field(
                    "reserved", f"{program.name} has {len(program.pools)} reserved pools; change their seats one by "
                                "one on the programme's page.")
            if program.pools:
                program.pools[0].seats = reserved
            else:
                program.pools.append(ProgramPool(slug="reserved", name="Reserved for staff to assign", seats=reserved))
        previous = (program.cap, program.reserved)
        program.cap, program.reserved = cap, reserved
        self.session.flush()
        now = self.clock()
        promoted = self._promote_rows(program, actor, now)
        audit.record(self.session, "signup.cap_changed", actor_id=actor.id, program=slug,
                     cap=[previous[0], cap], reserved=[previous[1], reserved], promoted=[a.id for a in promoted])
        for application in promoted:
            self._notify(application, now)
        self.session.commit()
        return self._counts(program)

    def configure(self, actor: Person, slug: str, changes: ProgramSettings) -> ProgramCounts:
        """Change a programme's name, cap, selection mode, window, lottery groups and pools (admins).

        The fields sent change (``opens_at``/``closes_at`` are always taken as sent: None opens that side).
        A raised cap promotes at once; nothing evicts anyone. A pool holding seats cannot be removed, and a
        lottery already drawn cannot go back to being undrawn.
        """
        if not actor.is_admin:
            raise PermissionDeniedError("Only administrators change a programme.")
        program = self._lock(slug)
        before = self._snapshot(program)
        sent = changes.model_fields_set
        if changes.name is not None:
            program.name = changes.name
        if changes.cap is not None:
            program.cap = changes.cap
        if changes.selection is not None and changes.selection is not program.selection:
            if self._counts(program).entered:
                raise InvalidTransitionError("Entries wait for the draw; run it before changing the selection mode.")
            program.selection = changes.selection
        if "opens_at" in sent:
            program.opens_at = changes.opens_at
        if "closes_at" in sent:
            program.closes_at = changes.closes_at
        if program.opens_at and program.closes_at and program.closes_at <= program.opens_at:
            raise InvalidInputError.for_field("closes_at", "The window must close after it opens.")
        if changes.groups is not None:
            program.groups = dict(changes.groups)
        if changes.pools is not None:
            self._set_pools(program, changes.pools)
        program.reserved = sum(p.seats for p in program.pools)
        if program.reserved > program.cap:
            raise InvalidInputError.for_field("pools", f"The pools reserve {program.reserved} seats, more than the "
                                                       f"cap of {program.cap}.")
        self.session.flush()
        now = self.clock()
        promoted = self._promote_rows(program, actor, now)
        after = self._snapshot(program)
        changed = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
        audit.record(self.session, "signup.programme_changed", actor_id=actor.id, program=slug,
                     promoted=[a.id for a in promoted], **changed)
        for application in promoted:
            self._notify(application, now)
        self.session.commit()
        return self._counts(program)

    # -- helpers ---------------------------------------------------------------------------------

    def _set_pools(self, program: Program, pools: Sequence[PoolConfig]) -> None:
        counts = {p.pool.slug: p for p in self._counts(program).pools}
        wanted = {p.slug: p for p in pools}
        for pool in list(program.pools):
            if pool.slug not in wanted:
                if counts[pool.slug].used:
                    raise InvalidTransitionError(f"The pool {pool.name!r} holds {counts[pool.slug].used} seats; "
                                                 "set its seats to what it holds instead of removing it.")
                program.pools.remove(pool)
        existing = {p.slug: p for p in program.pools}
        for config in pools:
            if config.slug in existing:
                existing[config.slug].name, existing[config.slug].seats = config.name, config.seats
            else:
                program.pools.append(ProgramPool(slug=config.slug, name=config.name, seats=config.seats))

    @staticmethod
    def _snapshot(program: Program) -> dict[str, Any]:
        return {"name": program.name, "cap": program.cap, "reserved": program.reserved,
                "selection": program.selection.value, "opens_at": _iso(program.opens_at),
                "closes_at": _iso(program.closes_at), "groups": dict(program.groups or {}),
                "pools": {p.slug: p.seats for p in program.pools}}

    @staticmethod
    def _weights(program: Program) -> dict[str, float]:
        return {str(k): float(v) for k, v in (program.groups or {}).items()}

    def _group(self, program: Program, group: str | None) -> str | None:
        weights = self._weights(program)
        if not weights:
            return None
        if group and group in weights:
            return group
        if group:
            raise InvalidInputError.for_field("group", f"Choose one of: {', '.join(weights)}.")
        return next(iter(weights))

    @staticmethod
    def _ticked(checks: Iterable[str]) -> dict[str, bool]:
        keys = {key for key, _ in DATA_RIGHTS_CHECKS}
        unknown = sorted(set(checks) - keys)
        if unknown:
            raise InvalidInputError.for_field("checks", f"Unknown checks {', '.join(unknown)}; the checklist has: "
                                                        f"{', '.join(sorted(keys))}.")
        chosen = set(checks)
        return {key: key in chosen for key, _ in DATA_RIGHTS_CHECKS}

    @staticmethod
    def _staff(actor: Person) -> None:
        if not actor.is_staff:
            raise PermissionDeniedError("Only staff decide on applications.")

    def _move(self, application: Application, status: ApplicationStatus, actor: Person | None, now: datetime, *,
              reason: str | None = None, event: str | None = None) -> None:
        """Change state and write it into the application's history (a new list: JSON columns are replaced)."""
        entry: dict[str, Any] = {"at": now.isoformat(), "status": status.value, "by": actor.id if actor else None}
        if reason:
            entry["reason"] = reason
        if event:
            entry["event"] = event
        application.history = [*(application.history or []), entry]
        application.status = status
        application.decided_at = now
        application.decided_by_id = actor.id if actor else None

    def _promote(self, program: Program, actor: Person | None, now: datetime | None = None) -> list[int]:
        """Promote from the waitlist onto free open seats and tell those promoted; returns their ids.

        For callers outside this service that free a seat themselves (merging two people's applications).
        """
        now = now or self.clock()
        promoted = self._promote_rows(program, actor, now)
        for application in promoted:
            self._notify(application, now)
        return [a.id for a in promoted]

    def _promote_rows(self, program: Program, actor: Person | None, now: datetime) -> list[Application]:
        """Move the head of the waitlist onto free open seats, in waitlist order."""
        free = self._counts(program).open_seats
        if free <= 0:
            return []
        heads = list(self.session.scalars(
            select(Application)
            .where(Application.program_id == program.id, Application.status == ApplicationStatus.WAITLISTED)
            .order_by(Application.position, Application.id)
            .limit(free)
        ))
        for application in heads:
            application.pool, application.pool_id = Pool.OPEN, None
            self._move(application, ApplicationStatus.PENDING, actor, now, event="promoted")
        self.session.flush()
        return heads

    def _notify(self, application: Application, now: datetime) -> None:
        """Tell the applicant what changed, through the outbox: by email, and by Slack when they linked it."""
        step = len(application.history or [])
        message = notice_text(application)
        targets = [("email", application.email)] if self.email else []
        if self.slack:
            slack = self.session.scalar(select(Identity.external_id).where(
                Identity.person_id == application.person_id, Identity.provider == Provider.SLACK))
            if slack:
                targets.append(("slack", slack))
        for channel, to in targets:
            self.session.execute(outbox_insert(
                OutboxKind.PROGRAMME_NOTICE, channel, f"programme-notice:{application.id}:{step}:{channel}", now,
                payload={"application_id": application.id, "to": to, "subject": message.subject,
                         "text": message.text},
            ))

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


@dataclass(frozen=True)
class DrawResult:
    seed: int
    order: list[int]
    selected: list[int]


def window_refusal(program: Program, now: datetime) -> str | None:
    """Why the programme takes no application at ``now``, or None when its window is open."""
    if program.opens_at is not None and now < program.opens_at:
        return f"Applications to {program.name} open on {program.opens_at:%Y-%m-%d at %H:%M} UTC."
    if program.closes_at is not None and now >= program.closes_at:
        return f"Applications to {program.name} closed on {program.closes_at:%Y-%m-%d at %H:%M} UTC."
    return None


@dataclass(frozen=True)
class Notice:
    subject: str
    text: str


def notice_text(application: Application) -> Notice:
    """What an applicant is told when their application changes state."""
    program = application.program.name
    status = application.status
    S = ApplicationStatus
    lines = {
        S.ENTERED: "Your application is entered in the draw. Seats are drawn at random, weighted by group, once "
                   "the application window closes; you will hear the result.",
        S.PENDING: "A seat is held for you while staff check your data rights. This is not yet an acceptance; "
                   "checks can take a few working days.",
        S.ACTIVE: "Your data rights are confirmed and your seat is active. Welcome!",
        S.WAITLISTED: "Every seat is taken, so you are on the waitlist. You move up automatically, in order, "
                      "when a seat frees up or the cap is raised.",
        S.DECLINED: f"Your application was declined. The reason staff gave: {application.reason}. "
                    f"{DECLINE_NEXT_STEPS}",
        S.WITHDRAWN: "Your application is withdrawn and your place given up. You may apply again at any time.",
        S.RECLAIMED: f"Your seat was reclaimed. The reason staff gave: {application.reason}. You may apply "
                     "again, and ask the accounts team if you think this is a mistake.",
    }
    subject = f"{program}: your application is {status.label}"
    return Notice(subject, f"{subject}. {lines[status]}")
