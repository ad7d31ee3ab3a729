"""Programme and application models."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.accounts.models import Person
from helpdesk.db import Base, utcnow
from helpdesk.models_common import enum_column


class ApplicationStatus(enum.StrEnum):
    #: In a lottery programme before its draw: entered, holds no seat yet.
    ENTERED = "entered"
    #: A seat is held while staff check the data rights; not accepted yet.
    PENDING = "pending"
    #: Data rights verified; on the roster.
    ACTIVE = "active"
    #: Every seat is taken; waits in order (``Application.position``).
    WAITLISTED = "waitlisted"
    #: Data rights could not be confirmed; the reason is kept and shown to the applicant.
    DECLINED = "declined"
    #: Gave the seat up, or left the waitlist.
    WITHDRAWN = "withdrawn"
    #: Staff took the seat back (an idle delegate, under oversubscription); the reason is kept.
    RECLAIMED = "reclaimed"

    @property
    def holds_seat(self) -> bool:
        return self in (ApplicationStatus.PENDING, ApplicationStatus.ACTIVE)

    @property
    def is_live(self) -> bool:
        return self in (ApplicationStatus.ENTERED, ApplicationStatus.PENDING, ApplicationStatus.ACTIVE,
                        ApplicationStatus.WAITLISTED)

    @property
    def label(self) -> str:
        """What the state means, in the words shown to applicants and staff."""
        return STATUS_LABELS[self]


STATUS_LABELS = {
    ApplicationStatus.ENTERED: "entered in the draw",
    ApplicationStatus.PENDING: "being checked",
    ApplicationStatus.ACTIVE: "active",
    ApplicationStatus.WAITLISTED: "waitlisted",
    ApplicationStatus.DECLINED: "declined",
    ApplicationStatus.WITHDRAWN: "withdrawn",
    ApplicationStatus.RECLAIMED: "seat reclaimed",
}


class SelectionMode(enum.StrEnum):
    #: Seats go to applications in the order they arrive.
    FCFS = "fcfs"
    #: Applications in the window are entered in a weighted draw that staff run (its seed is recorded).
    LOTTERY = "lottery"


class Pool(enum.StrEnum):
    OPEN = "open"
    RESERVED = "reserved"


class Program(Base):
    __tablename__ = "program"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    cap: Mapped[int]
    #: Seats of the cap kept for staff to hand out: the sum of the pools' seats (kept in step by the service).
    reserved: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: No CHECK constraint on this one (SQLite adds the column without rebuilding the table the
    #: applications point at); the enum is checked in Python.
    selection: Mapped[SelectionMode] = mapped_column(
        Enum(SelectionMode, native_enum=False, create_constraint=False, length=32, validate_strings=True,
             values_callable=lambda members: [m.value for m in members]),
        default=SelectionMode.FCFS)
    #: The application window; None on either side means no limit that side.
    opens_at: Mapped[datetime | None]
    closes_at: Mapped[datetime | None]
    #: Lottery weights by applicant group, e.g. ``{"general": 1, "early-career": 2}``; the first is the default.
    groups: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: When the lottery was drawn (once); its seed is kept here and, with every input, in the audit event.
    drawn_at: Mapped[datetime | None]
    draw_seed: Mapped[str | None] = mapped_column(String(40))
    #: The last waitlist position given out; the next application gets the one after.
    last_position: Mapped[int] = mapped_column(default=0)

    pools: Mapped[list[ProgramPool]] = relationship(order_by="ProgramPool.id", back_populates="program",
                                                    cascade="all, delete-orphan")


class ProgramPool(Base):
    """Seats of a programme's cap reserved for one group, handed out by staff (e.g. Science Collaborations)."""

    __tablename__ = "program_pool"
    __table_args__ = (UniqueConstraint("program_id", "slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    seats: Mapped[int]

    program: Mapped[Program] = relationship(back_populates="pools")


class Application(Base):
    __tablename__ = "application"
    __table_args__ = (
        UniqueConstraint("program_id", "person_id"),
        Index("ix_application_program_status", "program_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    institution: Mapped[str] = mapped_column(String(200))
    data_rights_statement: Mapped[bool]
    status: Mapped[ApplicationStatus] = mapped_column(enum_column(ApplicationStatus, "application_status"))
    pool: Mapped[Pool] = mapped_column(enum_column(Pool, "application_pool"), default=Pool.OPEN)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: When the application last changed status (waitlist order is by id: first come, first served).
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    #: Order on the waitlist (lower first): arrival order, or the lottery's drawn order.
    position: Mapped[int] = mapped_column(default=0)
    #: The lottery group the applicant chose (a key of ``Program.groups``).
    group: Mapped[str | None] = mapped_column(String(64))
    #: The reserved pool whose seat a staff member handed out (``pool`` is then ``reserved``).
    pool_id: Mapped[int | None] = mapped_column(ForeignKey("program_pool.id", ondelete="SET NULL"))
    #: The data-rights checklist: item key -> ticked (see ``services.DATA_RIGHTS_CHECKS``).
    checks: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: Why staff declined the application, or reclaimed its seat; shown to the applicant, kept on the record.
    reason: Mapped[str | None] = mapped_column(Text)
    #: Every state the application went through: ``{"at", "status", "by", "reason"}``, oldest first.
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    program: Mapped[Program] = relationship(lazy="joined")
    person: Mapped[Person] = relationship(foreign_keys=[person_id], lazy="joined")
    reserved_pool: Mapped[ProgramPool | None] = relationship()
