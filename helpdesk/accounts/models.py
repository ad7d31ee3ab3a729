"""Account models: one Person, many Identities (GitHub, Slack, the forum, email), API tokens."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.db import Base, utcnow
from helpdesk.models_common import enum_column


class Role(enum.StrEnum):
    USER = "user"
    STAFF = "staff"
    ADMIN = "admin"

    @property
    def is_staff(self) -> bool:
        return self in (Role.STAFF, Role.ADMIN)


class Provider(enum.StrEnum):
    GITHUB = "github"
    SLACK = "slack"
    DISCOURSE = "discourse"
    EMAIL = "email"
    #: An OpenID Connect provider (CILogon): ``external_id`` is ``<issuer> <sub>``, the pair OIDC guarantees unique.
    OIDC = "oidc"


class Person(Base):
    """A human being, whichever channels they reach us through."""

    __tablename__ = "person"

    id: Mapped[int] = mapped_column(primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    email_verified: Mapped[bool] = mapped_column(default=False)
    role: Mapped[Role] = mapped_column(enum_column(Role, "person_role"), default=Role.USER)
    #: Set when staff merged this person into another; identities then point at the survivor.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    is_demo: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Last sign-in or signed-in request (to the hour): an idle delegate is reminded (helpdesk.programs.inactivity).
    last_active_at: Mapped[datetime | None]

    identities: Mapped[list[Identity]] = relationship(back_populates="person", lazy="selectin")

    @property
    def is_staff(self) -> bool:
        return self.role.is_staff

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def handle(self) -> str:
        """The name shown in lists: the GitHub login when known, else the display name."""
        for identity in self.identities:
            if identity.provider is Provider.GITHUB and identity.username:
                return identity.username
        return self.display_name


class Identity(Base):
    """One account of a person on one provider; (provider, external_id) is unique."""

    __tablename__ = "identity"
    __table_args__ = (UniqueConstraint("provider", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    provider: Mapped[Provider] = mapped_column(enum_column(Provider, "identity_provider"))
    external_id: Mapped[str] = mapped_column(String(200))
    username: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    person: Mapped[Person] = relationship(back_populates="identities")


class ApiToken(Base):
    """An API token; only its SHA-256 digest is stored, the token itself is shown once."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    person: Mapped[Person] = relationship()


class WebSession(Base):
    """A signed-in browser session, kept on the server so that signing out (or a merge, or a demotion) ends it.

    The Flask session cookie carries a random session id; the table stores only its SHA-256, so a copy of
    the database signs nobody in.
    """

    __tablename__ = "web_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Set when the session ended before it expired: signed out, merged, demoted, replaced by a new sign-in.
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(32))
