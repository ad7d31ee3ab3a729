"""The small reference data of the staff pages, read fresh in one statement: the queues, the staff with their
logins, the queue members, the tag names and the viewer's saved views.

Each kind is one query read back as a JSON array (:mod:`helpdesk.json_rows`), all side by side in one
``SELECT``, so the board, the lists and ``GET /api/v1/queues`` pay one round trip for all of it instead of one
or two per kind (the staff's logins came by a second, selectin read of their identities). Nothing is cached:
there is no stale copy to invalidate when an operator loads queues or someone saves a view. Every kind is small
(tens of rows; the tag names are capped), so the JSON stays a few kilobytes.

:func:`read_reference` is the public entry point; no Flask here.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import ColumnElement, Select, bindparam, or_, select
from sqlalchemy.orm import Session, make_transient_to_detached

from helpdesk.accounts.models import Identity, Person, Provider, Role
from helpdesk.json_rows import JsonPanels, JsonRows, json_rows
from helpdesk.tickets.listing import ListQuery
from helpdesk.tickets.models import Queue, QueueMember
from helpdesk.tickets.saved_views import SavedView
from helpdesk.tickets.tags import Tag

#: At most this many tag names are offered as the tag filter's suggestions.
TAG_NAMES_MAX = 500


def login_of(person_id: Any) -> ColumnElement[str | None]:
    """The GitHub login of a person, as :attr:`Person.handle` picks it (the first GitHub identity with one)."""
    return (
        select(Identity.username)
        .where(
            Identity.person_id == person_id,
            Identity.provider == Provider.GITHUB,
            Identity.username.is_not(None),
            Identity.username != "",
        )
        .order_by(Identity.id)
        .limit(1)
        .scalar_subquery()
    )


@dataclass(frozen=True)
class StaffMember:
    """A staff member as lists show them: what :class:`Person` offers there, read without loading identities."""

    id: int
    display_name: str
    login: str | None
    role: Role
    merged: bool = False

    @property
    def handle(self) -> str:
        return self.login or self.display_name

    @property
    def is_staff(self) -> bool:
        return self.role.is_staff

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


@dataclass(frozen=True)
class Membership:
    queue_id: int
    person: StaffMember
    last_assigned_at: datetime | None


@dataclass(frozen=True)
class ViewInfo:
    """A saved view as the lists show it (the fields of :class:`helpdesk.tickets.saved_views.SavedView` they use)."""

    id: int
    name: str
    query: str
    owner_id: int
    shared: bool
    owner: StaffMember

    @property
    def list_query(self) -> ListQuery:
        return ListQuery.parse(dict(parse_qsl(self.query)))


@dataclass
class ReferenceData:
    """What :func:`read_reference` read; the kinds not asked for are empty."""

    #: By position then id, as the queue table and filters list them; persistent in the session (no SQL to use).
    queues: list[Queue] = field(default_factory=list)
    #: Staff and administrators, by handle (the assign and assignee menus).
    staff: list[StaffMember] = field(default_factory=list)
    #: Each queue's members who are staff and not merged away, by queue id, each list by handle.
    members: dict[int, list[Membership]] = field(default_factory=dict)
    tag_names: list[str] = field(default_factory=list)
    #: The viewer's own views, then others' shared ones, each by name.
    views: list[ViewInfo] = field(default_factory=list)


_PARTS = ("queues", "staff", "members", "tags", "views")


def read_reference(session: Session, viewer: Person | None = None, *, parts: Iterable[str] = _PARTS) -> ReferenceData:
    """Read the reference data of a staff page in one statement: ``parts`` chooses among ``queues``, ``staff``,
    ``members`` (implies ``staff``), ``tags`` and ``views`` (needs a staff ``viewer``).

    The queues are :class:`Queue` rows merged into ``session`` without SQL, so a ticket's ``queue`` read later
    in the same session is the same object.
    """
    wanted = set(parts)
    unknown = wanted - set(_PARTS)
    if unknown:
        raise ValueError(f"unknown reference parts: {sorted(unknown)}")
    if "members" in wanted:
        wanted.add("staff")
    with_views = "views" in wanted and viewer is not None and viewer.is_staff
    if not with_views:
        wanted.discard("views")
    data = ReferenceData()
    if not wanted:
        return data
    rows = _panels(frozenset(wanted)).read(session, {"viewer_id": viewer.id} if with_views and viewer else {})
    if "queues" in rows:
        data.queues = [_queue(session, row) for row in rows["queues"]]
    people = {p.id: p for p in map(_staff, rows.get("staff", []))}
    data.staff = sorted(people.values(), key=lambda p: (p.handle.lower(), p.id))
    for row in rows.get("members", []):
        person = people.get(row.person_id)
        if person is None or person.merged:  # as assignment.member_loads: staff still here only
            continue
        data.members.setdefault(row.queue_id, []).append(Membership(row.queue_id, person, row.last_assigned_at))
    for memberships in data.members.values():
        memberships.sort(key=lambda m: (m.person.handle.lower(), m.person.id))
    data.tag_names = [row.name for row in rows.get("tags", [])]
    if "views" in rows and viewer is not None:
        owners = {p.id: p for p in map(_staff, rows["view_owners"])}
        views = [ViewInfo(v.id, v.name, v.query, v.owner_id, v.shared, owners[v.owner_id]) for v in rows["views"]]
        data.views = sorted(views, key=lambda v: (v.owner_id != viewer.id, v.name.lower(), v.id))
    return data


@functools.cache
def _panels(parts: frozenset[str]) -> JsonPanels:
    """The statement of ``parts``, built once per process (building it costs more than running it; a
    ``viewer_id`` parameter stands for the viewer)."""
    panels: dict[str, JsonRows] = {}
    if "queues" in parts:
        panels["queues"] = json_rows(select(*Queue.__table__.columns), Queue.position, Queue.id)
    if "staff" in parts:
        panels["staff"] = json_rows(_people().where(Person.role.in_([Role.STAFF, Role.ADMIN])), Person.id)
    if "members" in parts:
        panels["members"] = json_rows(
            select(QueueMember.queue_id, QueueMember.person_id, QueueMember.last_assigned_at), QueueMember.id
        )
    if "tags" in parts:
        panels["tags"] = json_rows(select(Tag.name).limit(TAG_NAMES_MAX), Tag.name)
    if "views" in parts:
        visible = or_(SavedView.owner_id == bindparam("viewer_id"), SavedView.shared.is_(True))
        panels["views"] = json_rows(
            select(SavedView.id, SavedView.name, SavedView.query, SavedView.owner_id, SavedView.shared).where(visible),
            SavedView.id,
        )
        panels["view_owners"] = json_rows(
            _people().where(Person.id.in_(select(SavedView.owner_id).where(visible))), Person.id
        )
    return JsonPanels.of(panels)


def _people() -> Select[Any]:
    return select(
        Person.id, Person.display_name, Person.role, Person.merged_into_id, login_of(Person.id).label("login")
    )


def _staff(row: SimpleNamespace) -> StaffMember:
    return StaffMember(row.id, row.display_name, row.login, Role(row.role), row.merged_into_id is not None)


def _queue(session: Session, row: SimpleNamespace) -> Queue:
    """A queue row from its JSON, made persistent in ``session`` without a query (the loaded state is the row)."""
    queue = Queue(**{column.key: getattr(row, column.key) for column in Queue.__table__.columns})
    make_transient_to_detached(queue)
    return session.merge(queue, load=False)
