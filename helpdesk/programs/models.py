"""Programme and application models."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.accounts.models import Person
from helpdesk.db import Base, utcnow
from helpdesk.models_common import enum_column


class ApplicationStatus(enum.StrEnum):
    #: Holds a seat; staff are checking the data rights.
    PENDING = "pending"
    #: Verified; on the roster.
    ACTIVE = "active"
    WAITLISTED = "waitlisted"
    #: Data rights could not be confirmed.
    DECLINED = "declined"
    #: Gave the seat up, or left the waitlist.
    WITHDRAWN = "withdrawn"

    @property
    def holds_seat(self) -> bool:
        return self in (ApplicationStatus.PENDING, ApplicationStatus.ACTIVE)

    @property
    def is_live(self) -> bool:
        return self in (ApplicationStatus.PENDING, ApplicationStatus.ACTIVE, ApplicationStatus.WAITLISTED)


class Pool(enum.StrEnum):
    OPEN = "open"
    RESERVED = "reserved"


class Program(Base):
    __tablename__ = "program"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    cap: Mapped[int]
    reserved: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


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

    program: Mapped[Program] = relationship(lazy="joined")
    person: Mapped[Person] = relationship(foreign_keys=[person_id], lazy="joined")
