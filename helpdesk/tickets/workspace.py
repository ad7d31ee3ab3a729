"""The staff workspace around one ticket: canned replies (macros), who is looking at a ticket (presence),
email opt-outs and satisfaction ratings.

Macros and presence are staff tools, not ticket writes, so they have small services here; ratings and
opt-outs are written by :class:`helpdesk.tickets.services.TicketService` (every ticket write goes there).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint, delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from helpdesk import audit
from helpdesk.accounts.models import Person
from helpdesk.db import Base, utcnow
from helpdesk.exceptions import InvalidInputError, NotFoundError, PermissionDeniedError
from helpdesk.models_common import enum_column
from helpdesk.text import strict_text

MACRO_TITLE_MAX = 120
MACRO_BODY_MAX = 10_000
#: Seconds after its last heartbeat that a colleague's presence on a ticket is forgotten.
PRESENCE_SECONDS = 60


class Macro(Base):
    """A canned reply. Personal ones (``shared`` false) are their owner's; shared ones everyone's."""

    __tablename__ = "macro"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(MACRO_TITLE_MAX))
    body: Mapped[str] = mapped_column(Text)
    shared: Mapped[bool] = mapped_column(default=False)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    owner: Mapped[Person | None] = relationship(lazy="joined")


class PresenceAction(enum.StrEnum):
    VIEWING = "viewing"
    REPLYING = "replying"


class TicketPresence(Base):
    """Who had a ticket open, and whether they were typing a reply, as of their last heartbeat."""

    __tablename__ = "ticket_presence"
    __table_args__ = (UniqueConstraint("ticket_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    action: Mapped[PresenceAction] = mapped_column(enum_column(PresenceAction, "presence_action"))
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    person: Mapped[Person] = relationship(lazy="joined")


class EmailOptOut(Base):
    """A person who unsubscribed from email notifications (by the signed link in every email)."""

    __tablename__ = "email_opt_out"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketRating(Base):
    """The requester's one-question satisfaction rating of a solved ticket (1 to 5), with a comment."""

    __tablename__ = "ticket_rating"
    __table_args__ = (CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), unique=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    score: Mapped[int]
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# -- placeholders ------------------------------------------------------------------------------------

#: The placeholders a macro may use; anything else in braces is left as typed.
PLACEHOLDERS = ("requester_name", "ticket_id", "ticket_url", "agent_name")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")


def render_placeholders(text: str, values: Mapping[str, str]) -> str:
    """Fill the known ``{placeholder}`` names from ``values`` in one pass.

    A whitelist substitution, never ``str.format``: a macro (or a requester's name) holding ``{0.__class__}``
    or ``{ticket_id}`` is text, not code, and a value is never itself expanded.
    """
    return _PLACEHOLDER.sub(lambda match: str(values.get(match.group(1), match.group(0))), text)


# -- macros ------------------------------------------------------------------------------------------


class MacroService:
    """Staff create macros, edit their own; administrators edit shared ones too. Never imports Flask."""

    def __init__(self, session: Session, clock: Callable[[], datetime] = utcnow) -> None:
        self.session = session
        self.clock = clock

    def visible(self, viewer: Person) -> list[Macro]:
        """The shared macros and the viewer's own, by title."""
        if not viewer.is_staff:
            raise PermissionDeniedError("Macros are for support staff.")
        return list(self.session.scalars(
            select(Macro).where(or_(Macro.shared.is_(True), Macro.owner_id == viewer.id))
            .order_by(Macro.title, Macro.id)))

    def get(self, viewer: Person, macro_id: int) -> Macro:
        macro = self.session.get(Macro, macro_id) if 0 < macro_id < 2**31 else None
        if macro is None or not viewer.is_staff or not (macro.shared or macro.owner_id == viewer.id):
            raise NotFoundError(f"No macro {macro_id}.")
        return macro

    @staticmethod
    def may_edit(viewer: Person, macro: Macro) -> bool:
        return viewer.is_admin or (not macro.shared and macro.owner_id == viewer.id)

    def save(self, actor: Person, macro_id: int | None, title: str, body: str, shared: bool) -> Macro:
        """Create (``macro_id`` None) or change a macro; only administrators make or change shared ones.

        Raises
        ------
        PermissionDeniedError, NotFoundError, InvalidInputError
        """
        if not actor.is_staff:
            raise PermissionDeniedError("Macros are for support staff.")
        title = strict_text(title, "title", MACRO_TITLE_MAX)
        body = strict_text(body, "body", MACRO_BODY_MAX)
        if shared and not actor.is_admin:
            raise PermissionDeniedError("Only administrators share macros with everyone.")
        now = self.clock()
        if macro_id is None:
            macro = Macro(title=title, body=body, shared=shared, owner_id=actor.id, created_at=now, updated_at=now)
            self.session.add(macro)
            self.session.flush()
            action = "macro.created"
        else:
            macro = self.get(actor, macro_id)
            if not self.may_edit(actor, macro):
                raise PermissionDeniedError("Only administrators edit shared macros; staff edit their own.")
            macro.title, macro.body, macro.shared, macro.updated_at = title, body, shared, now
            action = "macro.updated"
        audit.record(self.session, action, actor_id=actor.id, macro_id=macro.id, title=title, shared=shared)
        self.session.commit()
        return macro

    def delete(self, actor: Person, macro_id: int) -> None:
        macro = self.get(actor, macro_id)
        if not self.may_edit(actor, macro):
            raise PermissionDeniedError("Only administrators delete shared macros; staff delete their own.")
        audit.record(self.session, "macro.deleted", actor_id=actor.id, macro_id=macro.id, title=macro.title)
        self.session.delete(macro)
        self.session.commit()


# -- presence ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Colleague:
    name: str
    action: PresenceAction


class PresenceService:
    """Heartbeats from open ticket pages; who else is there within the last minute."""

    def __init__(self, session: Session, clock: Callable[[], datetime] = utcnow,
                 window_seconds: int = PRESENCE_SECONDS) -> None:
        self.session = session
        self.clock = clock
        self.window = timedelta(seconds=window_seconds)

    def beat(self, person: Person, ticket_id: int, action: PresenceAction) -> list[Colleague]:
        """Record that ``person`` is on the ticket; return the colleagues there too (one upsert, one read)."""
        if not person.is_staff:
            raise PermissionDeniedError("Presence is for support staff.")
        now = self.clock()
        row = self.session.scalar(select(TicketPresence).where(
            TicketPresence.ticket_id == ticket_id, TicketPresence.person_id == person.id))
        if row is None:
            self.session.add(TicketPresence(ticket_id=ticket_id, person_id=person.id, action=action,
                                            last_seen_at=now))
        else:
            row.action, row.last_seen_at = action, now
        # Stale rows of any ticket go: the table holds only the last minute.
        self.session.execute(delete(TicketPresence).where(TicketPresence.last_seen_at < now - self.window))
        try:
            self.session.commit()
        except IntegrityError:  # two tabs of one person raced to insert: the other one's row stands
            self.session.rollback()
        return self.others(person, ticket_id)

    def others(self, person: Person, ticket_id: int) -> list[Colleague]:
        since = self.clock() - self.window
        rows = self.session.scalars(select(TicketPresence).where(
            TicketPresence.ticket_id == ticket_id, TicketPresence.person_id != person.id,
            TicketPresence.last_seen_at >= since).order_by(TicketPresence.id))
        return [Colleague(row.person.handle, row.action) for row in rows]

    def leave(self, person: Person, ticket_id: int) -> None:
        self.session.execute(delete(TicketPresence).where(
            TicketPresence.ticket_id == ticket_id, TicketPresence.person_id == person.id))
        self.session.commit()


def check_rating(score: object, comment: object) -> tuple[int, str | None]:
    """A rating's score (1 to 5) and its optional comment, or a clear error naming the field."""
    try:
        value = int(str(score))
    except ValueError:
        value = 0
    if not 1 <= value <= 5:
        raise InvalidInputError.for_field("score", "Choose a rating from 1 to 5.")
    text = str(comment or "").strip()
    return value, (strict_text(text, "comment", 2000) if text else None)
