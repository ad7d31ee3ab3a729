"""Saved views: a named ticket list (its filters, search and sort) kept for one staff member or shared.

A view stores the list's query string as :meth:`helpdesk.tickets.listing.ListQuery.query_string` writes it, so
opening a view is opening ``/staff/tickets?<query>``. A personal view is its owner's alone; a shared view is
listed for every staff member and may be changed or deleted by its owner or an administrator. Creating,
changing and deleting views is audited (``view.created``, ``view.updated``, ``view.deleted``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from urllib.parse import parse_qsl

from sqlalchemy import ForeignKey, String, UniqueConstraint, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from helpdesk import audit
from helpdesk.accounts.models import Person
from helpdesk.db import ID_MAX, Base, utcnow
from helpdesk.exceptions import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from helpdesk.text import strict_text
from helpdesk.tickets.listing import ListQuery

NAME_MAX = 80
QUERY_MAX = 1000


class SavedView(Base):
    __tablename__ = "saved_view"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    #: The list's query string (``status=open&assignee=me&sort=due``), without a cursor.
    query: Mapped[str] = mapped_column(String(QUERY_MAX))
    owner_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    shared: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    owner: Mapped[Person] = relationship(lazy="joined")

    @property
    def list_query(self) -> ListQuery:
        return ListQuery.parse(dict(parse_qsl(self.query)))


class SavedViewService:
    """Staff members' saved views. Never imports Flask."""

    def __init__(self, session: Session, clock: Callable[[], datetime] = utcnow) -> None:
        self.session = session
        self.clock = clock

    def visible_to(self, viewer: Person) -> list[SavedView]:
        """The viewer's own views, then the shared ones of others, each by name."""
        if not viewer.is_staff:
            return []
        views = self.session.scalars(
            select(SavedView).where(or_(SavedView.owner_id == viewer.id, SavedView.shared.is_(True)))
        ).unique()
        return sorted(views, key=lambda v: (v.owner_id != viewer.id, v.name.lower(), v.id))

    def save(self, actor: Person, name: str, args: Mapping[str, str], *, shared: bool = False,
             view_id: int | None = None) -> SavedView:
        """Create a view from a list's parameters, or (``view_id``) change one the actor may change. Commits.

        Raises
        ------
        InvalidInputError
            No name, or parameters a list does not take (naming the parameter).
        PermissionDeniedError
            Not staff, or someone else's view (a shared one: unless an administrator).
        ConflictError
            The actor already has a view of that name.
        """
        if not actor.is_staff:
            raise PermissionDeniedError("Only staff save views.")
        name = strict_text(name, "name", NAME_MAX)
        query = ListQuery.parse(args).query_string()
        if len(query) > QUERY_MAX:
            raise InvalidInputError.for_field("name", "This view's filters are too long to save.")
        now = self.clock()
        if view_id is None:
            view = SavedView(name=name, query=query, owner_id=actor.id, shared=shared, created_at=now, updated_at=now)
            self.session.add(view)
            action = "view.created"
        else:
            view = self._editable(actor, view_id)
            view.name, view.query, view.shared, view.updated_at = name, query, shared, now
            action = "view.updated"
        try:
            self.session.flush()
        except IntegrityError as exc:
            self.session.rollback()
            raise ConflictError(f"You already have a view called {name!r}; choose another name.",
                                code="view_exists") from exc
        audit.record(self.session, action, actor_id=actor.id, view_id=view.id, name=name, query=query, shared=shared)
        self.session.commit()
        return view

    def delete(self, actor: Person, view_id: int) -> None:
        """Delete a view the actor may change. Commits."""
        view = self._editable(actor, view_id)
        audit.record(self.session, "view.deleted", actor_id=actor.id, view_id=view.id, name=view.name,
                     shared=view.shared)
        self.session.delete(view)
        self.session.commit()

    def may_edit(self, actor: Person, view: SavedView) -> bool:
        return view.owner_id == actor.id or (view.shared and actor.is_admin)

    def _editable(self, actor: Person, view_id: int) -> SavedView:
        view = self.session.get(SavedView, view_id) if 0 < view_id <= ID_MAX else None
        if view is None or not actor.is_staff or (view.owner_id != actor.id and not view.shared):
            raise NotFoundError(f"No saved view {view_id}.")
        if not self.may_edit(actor, view):
            raise PermissionDeniedError("Only its owner or an administrator changes a shared view.")
        return view
