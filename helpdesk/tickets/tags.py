"""Tags on tickets: short labels staff put on tickets to find them again (``tap``, ``dp0.2``, ``needs-docs``).

A tag is a row of ``tag`` (its name, unique); a ticket's tags are rows of ``ticket_tag``. Names are lower case,
1 to :data:`TAG_MAX` characters of letters, digits, ``.``, ``_`` and ``-``, starting with a letter or digit;
spaces typed become ``-``. Tags are changed only through
:meth:`helpdesk.tickets.services.TicketService.set_tags`, ``add_tags`` and ``remove_tags``, which call
:func:`change` here and audit each change as ``ticket.tagged``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, ForeignKey, Index, String, UniqueConstraint, delete, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from helpdesk import audit
from helpdesk.db import Base, utcnow
from helpdesk.exceptions import InvalidInputError
from helpdesk.tickets.models import Ticket

TAG_MAX = 40
#: At most this many tags on one ticket.
TAGS_PER_TICKET_MAX = 20
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class Tag(Base):
    __tablename__ = "tag"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(TAG_MAX), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketTag(Base):
    """One tag on one ticket."""

    __tablename__ = "ticket_tag"
    __table_args__ = (
        UniqueConstraint("ticket_id", "tag_id"),
        # Filtering a list by tag reads this index only.
        Index("ix_ticket_tag_tag_id_ticket_id", "tag_id", "ticket_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    tag_id: Mapped[int] = mapped_column(ForeignKey("tag.id", ondelete="CASCADE"))
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def normalise(name: str, *, field: str = "tags") -> str:
    """The tag ``name`` stands for (trimmed, lower case, spaces as ``-``).

    Raises
    ------
    InvalidInputError
        Not a possible tag name (naming ``field``).
    """
    value = "-".join(str(name).strip().lower().split())
    if not value or len(value) > TAG_MAX or not _NAME.match(value):
        raise InvalidInputError.for_field(
            field, f"{name!r} is not a tag: use 1 to {TAG_MAX} letters, digits, '.', '_' or '-', starting with a "
                   "letter or digit.")
    return value


def normalise_all(names: Iterable[str] | str, *, field: str = "tags") -> list[str]:
    """Tag names from a list, or from one text separated by commas; duplicates dropped, order kept."""
    if isinstance(names, str):
        names = names.split(",")
    result = [normalise(n, field=field) for n in names if str(n).strip()]
    return list(dict.fromkeys(result))


def tagged(name: str) -> ColumnElement[bool]:
    """A condition on :class:`Ticket`: it carries the tag ``name``."""
    return Ticket.id.in_(select(TicketTag.ticket_id).join(Tag, Tag.id == TicketTag.tag_id).where(Tag.name == name))


def tags_of(session: Session, ticket_ids: Sequence[int]) -> dict[int, list[str]]:
    """The tags of each ticket, by name, in one statement (tickets without tags are left out)."""
    if not ticket_ids:
        return {}
    result: dict[int, list[str]] = {}
    for ticket_id, name in session.execute(
        select(TicketTag.ticket_id, Tag.name).join(Tag, Tag.id == TicketTag.tag_id)
        .where(TicketTag.ticket_id.in_(list(ticket_ids))).order_by(Tag.name)
    ):
        result.setdefault(ticket_id, []).append(name)
    return result


def all_names(session: Session, limit: int = 500) -> list[str]:
    """Tag names in use, alphabetically (for the filter's suggestions)."""
    return list(session.scalars(select(Tag.name).order_by(Tag.name).limit(limit)))


def change(session: Session, ticket: Ticket, actor_id: int | None, *, add: Sequence[str] = (),
           remove: Sequence[str] = (), now: datetime | None = None) -> tuple[list[str], list[str]]:
    """Add and remove tags on ``ticket``, uncommitted; audited as ``ticket.tagged`` when anything changed.

    Returns what was added and what was removed (tags already there, or already absent, are not).

    Raises
    ------
    InvalidInputError
        More than :data:`TAGS_PER_TICKET_MAX` tags would be on the ticket.
    """
    now = now or utcnow()
    current = dict(session.execute(
        select(Tag.name, TicketTag.id).join(Tag, Tag.id == TicketTag.tag_id).where(TicketTag.ticket_id == ticket.id)
    ).all())
    added = [n for n in add if n not in current and n not in remove]
    removed = [n for n in remove if n in current]
    if len(current) + len(added) - len(removed) > TAGS_PER_TICKET_MAX:
        raise InvalidInputError.for_field("tags", f"A ticket carries at most {TAGS_PER_TICKET_MAX} tags.")
    if added:
        known = dict(session.execute(select(Tag.name, Tag.id).where(Tag.name.in_(added))).all())
        missing = [n for n in added if n not in known]
        if missing:
            session.execute(insert(Tag), [{"name": n, "created_at": now} for n in missing])
            known.update(session.execute(select(Tag.name, Tag.id).where(Tag.name.in_(missing))).all())
        session.execute(insert(TicketTag), [{"ticket_id": ticket.id, "tag_id": known[n], "added_by_id": actor_id,
                                              "created_at": now} for n in added])
    if removed:
        session.execute(delete(TicketTag).where(TicketTag.id.in_([current[n] for n in removed])))
    if added or removed:
        session.execute(audit.insert_event("ticket.tagged", actor_id=actor_id, ticket_id=ticket.id, created_at=now,
                                           added=added, removed=removed))
    return added, removed
