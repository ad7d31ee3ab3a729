"""Owners with room: queue membership, the work-in-progress limit per assignee, and picking an owner.

The rules (told to operators in ``docs/operator/queues-sla-assignment.md``):

* A person's *load* in a queue is the number of open tickets (every status but resolved and closed) of that
  queue assigned to them. The queue's ``wip_limit_per_assignee`` caps it, for members and for anyone else
  given one of its tickets. Tickets without a queue have no limit.
* Automatic assignment (:func:`assign_owner`) picks among the queue's members (staff only) who have room:
  ``least_loaded`` takes the one with the fewest open tickets in the queue, ``round_robin`` the one who
  waited longest since they were last given a ticket of the queue; ties go to whoever waited longest, then
  to the lower person id. With nobody having room the ticket stays unassigned: that is the back-pressure
  the board and ``GET /api/v1/queues`` show.
* Assigning by hand beyond the limit is refused with :class:`WipLimitReachedError` (409), unless an
  administrator overrides it, which is audited as ``ticket.assignment_overridden``.

Assignments in one queue are serialised by locking the queue's row (``SELECT … FOR UPDATE`` on PostgreSQL;
SQLite's writers queue behind ``BEGIN IMMEDIATE`` anyway), so two at once never both take the last place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from helpdesk import audit
from helpdesk.accounts.models import Person, Role
from helpdesk.accounts.services import AccountService
from helpdesk.db import utcnow
from helpdesk.exceptions import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from helpdesk.tickets.models import Queue, QueueMember, Status, Ticket
from helpdesk.tickets.queue_cache import QUEUE_CACHE

Strategy = Literal["least_loaded", "round_robin"]
STRATEGIES: tuple[Strategy, ...] = ("least_loaded", "round_robin")
OPEN_STATUSES = tuple(s for s in Status if s.is_open)
_NEVER = datetime.min.replace(tzinfo=UTC)


class WipLimitReachedError(ConflictError):
    """The assignee already holds as many open tickets of the queue as its limit allows."""

    code = "wip_limit_reached"


@dataclass(frozen=True)
class MemberLoad:
    """One member of a queue and how much of the queue's limit they use."""

    person: Person
    assigned: int
    limit: int
    last_assigned_at: datetime | None = None

    @property
    def room(self) -> int:
        return max(0, self.limit - self.assigned)


def pick_owner(loads: Sequence[MemberLoad], strategy: Strategy = "least_loaded") -> MemberLoad | None:
    """The member to give the next ticket to, or None when nobody has room (pure)."""
    with_room = [m for m in loads if m.room > 0]
    if not with_room:
        return None

    def waited(m: MemberLoad) -> tuple[datetime, int]:
        return (m.last_assigned_at or _NEVER, m.person.id)

    if strategy == "round_robin":
        return min(with_room, key=waited)
    return min(with_room, key=lambda m: (m.assigned, *waited(m)))


def loads_by_person(session: Session, queue_id: int, *, exclude_ticket: int | None = None) -> dict[int, int]:
    """Open tickets of the queue per assignee."""
    query = (select(Ticket.assignee_id, func.count(Ticket.id))
             .where(Ticket.queue_id == queue_id, Ticket.assignee_id.is_not(None), Ticket.status.in_(OPEN_STATUSES))
             .group_by(Ticket.assignee_id))
    if exclude_ticket is not None:
        query = query.where(Ticket.id != exclude_ticket)
    return {person_id: count for person_id, count in session.execute(query)}


def member_loads(session: Session, queue: Queue) -> list[MemberLoad]:
    """The queue's members (staff only; a member who lost the staff role no longer counts), by handle."""
    loads = loads_by_person(session, queue.id)
    rows = session.execute(
        select(QueueMember.last_assigned_at, Person)
        .join(Person, Person.id == QueueMember.person_id)
        .where(QueueMember.queue_id == queue.id, Person.role.in_([Role.STAFF, Role.ADMIN]),
               Person.merged_into_id.is_(None))
    ).unique().all()
    members = [MemberLoad(person, loads.get(person.id, 0), queue.wip_limit_per_assignee, last)
               for last, person in rows]
    return sorted(members, key=lambda m: (m.person.handle.lower(), m.person.id))


def lock_queue(session: Session, queue_id: int) -> None:
    """Serialise assignments in one queue until the transaction ends."""
    session.execute(select(Queue.id).where(Queue.id == queue_id).with_for_update())


def note_assigned(session: Session, queue_id: int, person_id: int, now: datetime) -> None:
    """Remember when a member was last given a ticket of the queue (round-robin's turn)."""
    session.execute(update(QueueMember).where(QueueMember.queue_id == queue_id, QueueMember.person_id == person_id)
                    .values(last_assigned_at=now).execution_options(synchronize_session=False))


def assign_owner(session: Session, ticket: Ticket | int, *, strategy: Strategy = "least_loaded",
                 now: datetime | None = None) -> Person | None:
    """Give an unassigned ticket of a queue to the member with room the strategy picks; uncommitted.

    ``ticket`` is a ticket in the session, or the id of one just inserted with Core (filing). A ticket
    without a queue, or already assigned, or in a queue where nobody has room, is left as it is (None).
    The assignment is audited as ``ticket.assigned`` with ``"auto": true`` and no actor.
    """
    now = now or utcnow()
    if isinstance(ticket, Ticket):
        ticket_id, queue_id, assignee_id = ticket.id, ticket.queue_id, ticket.assignee_id
    else:
        row = session.execute(select(Ticket.id, Ticket.queue_id, Ticket.assignee_id).where(Ticket.id == ticket)).one()
        ticket_id, queue_id, assignee_id = row
    if queue_id is None or assignee_id is not None:
        return None
    lock_queue(session, queue_id)
    queue = session.get(Queue, queue_id)
    assert queue is not None
    chosen = pick_owner(member_loads(session, queue), strategy)
    if chosen is None:
        return None
    if isinstance(ticket, Ticket):
        ticket.assignee = chosen.person
    else:
        session.execute(update(Ticket).where(Ticket.id == ticket_id).values(assignee_id=chosen.person.id)
                        .execution_options(synchronize_session=False))
    note_assigned(session, queue_id, chosen.person.id, now)
    session.execute(audit.insert_event("ticket.assigned", actor_id=None, ticket_id=ticket_id, created_at=now,
                                       assignee=chosen.person.handle, queue=queue.slug, strategy=strategy,
                                       auto=True, load=chosen.assigned, limit=chosen.limit))
    return chosen.person


def ensure_room(session: Session, ticket: Ticket, actor: Person, *, override: bool = False) -> dict[str, Any] | None:
    """Refuse ``ticket``'s (new) assignee when it would take them beyond the queue's limit.

    Returns what an administrator's override allowed (for the ``ticket.assignment_overridden`` audit event),
    or None when the assignee had room (or no limit applies: no assignee, no queue, a ticket not open).

    Raises
    ------
    WipLimitReachedError
        The assignee is at the limit and no override was asked for (409).
    PermissionDeniedError
        An override asked for by someone who is not an administrator (403).
    """
    assignee, queue = ticket.assignee, ticket.queue
    if assignee is None or queue is None or not ticket.status.is_open:
        return None
    lock_queue(session, queue.id)
    load = loads_by_person(session, queue.id, exclude_ticket=ticket.id).get(assignee.id, 0)
    limit = queue.wip_limit_per_assignee
    if load < limit:
        return None
    if not override:
        raise WipLimitReachedError(
            f"{assignee.handle} already has {load} open tickets in {queue.name}, the queue's limit per person "
            f"({limit}). Assign someone with room, or ask an administrator to override the limit.",
            details={"assignee": assignee.handle, "queue": queue.slug, "open": load, "limit": limit},
        )
    if not actor.is_admin:
        raise PermissionDeniedError("Only administrators can assign a ticket beyond a queue's limit.",
                                    code="override_forbidden")
    return {"assignee": assignee.handle, "queue": queue.slug, "open": load, "limit": limit}


class AssignmentService:
    """Membership (administrators, or the command line) and automatic assignment from the console."""

    def __init__(self, session: Session, *, strategy: Strategy = "least_loaded",
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.session = session
        self.strategy = strategy
        self.clock = clock

    def members(self, queue_slug: str) -> list[MemberLoad]:
        return member_loads(self.session, self._queue(queue_slug))

    def add_member(self, actor: Person | None, queue_slug: str, login: str) -> bool:
        """Make staff member ``login`` a member of the queue; False when they were one already. Commits.

        ``actor`` None is the command line (the operator).
        """
        self._check_admin(actor)
        queue, person = self._queue(queue_slug), self._staff(login)
        exists = self.session.scalar(select(QueueMember.id).where(
            QueueMember.queue_id == queue.id, QueueMember.person_id == person.id))
        if exists is not None:
            return False
        self.session.add(QueueMember(queue_id=queue.id, person_id=person.id, created_at=self.clock()))
        audit.record(self.session, "queue.member_added", actor_id=actor.id if actor else None,
                     queue=queue.slug, member=person.handle)
        self.session.commit()
        QUEUE_CACHE.clear()  # filing here assigns owners in this queue at once; other processes within a minute
        return True

    def remove_member(self, actor: Person | None, queue_slug: str, login: str) -> None:
        """Take ``login`` out of the queue; their tickets stay theirs. Commits.

        Raises
        ------
        NotFoundError
            They were not a member.
        """
        self._check_admin(actor)
        queue = self._queue(queue_slug)
        person = AccountService(self.session).find_by_login(login) if isinstance(login, str) else None
        member = self.session.scalar(select(QueueMember).where(
            QueueMember.queue_id == queue.id, QueueMember.person_id == (person.id if person else -1)))
        if member is None or person is None:
            raise NotFoundError(f"{login!r} is not a member of {queue.name}.")
        self.session.delete(member)
        audit.record(self.session, "queue.member_removed", actor_id=actor.id if actor else None,
                     queue=queue.slug, member=person.handle)
        self.session.commit()
        QUEUE_CACHE.clear()

    def queues_of(self, person: Person) -> list[Queue]:
        return list(self.session.scalars(
            select(Queue).join(QueueMember, and_(QueueMember.queue_id == Queue.id, QueueMember.person_id == person.id))
            .order_by(Queue.position, Queue.id)))

    def auto_assign(self, actor: Person, ticket_id: int) -> Person | None:
        """Give the ticket to the member with room the strategy picks (staff action); commits when assigned."""
        if not actor.is_staff:
            raise PermissionDeniedError("Only staff can assign tickets.")
        ticket = self.session.get(Ticket, ticket_id)
        if ticket is None:
            raise NotFoundError(f"No ticket {ticket_id}.")
        if ticket.queue is None:
            raise InvalidInputError("Choose a queue first: owners are picked among a queue's members.")
        if ticket.assignee is not None:
            raise ConflictError(f"The ticket is already assigned to {ticket.assignee.handle}.", code="assigned")
        person = assign_owner(self.session, ticket, strategy=self.strategy, now=self.clock())
        if person is None:
            self.session.rollback()
            raise WipLimitReachedError(
                f"Nobody in {ticket.queue.name} has room under its limit of {ticket.queue.wip_limit_per_assignee} "
                "open tickets per person: assign someone by hand (an administrator can override the limit), or add "
                "members to the queue.")
        ticket.updated_at = self.clock()
        self.session.commit()
        return person

    def _check_admin(self, actor: Person | None) -> None:
        if actor is not None and not actor.is_admin:
            raise PermissionDeniedError("Only administrators change who works a queue.")

    def _queue(self, slug: str) -> Queue:
        queue = self.session.scalar(select(Queue).where(Queue.slug == slug)) if isinstance(slug, str) else None
        if queue is None:
            known = ", ".join(self.session.scalars(select(Queue.slug).order_by(Queue.position, Queue.id)))
            raise InvalidInputError.for_field("queue", f"Unknown queue {slug!r}. Known queues: {known or 'none'}.")
        return queue

    def _staff(self, login: str) -> Person:
        person = AccountService(self.session).find_by_login(login) if isinstance(login, str) else None
        if person is None or not person.is_staff:
            raise InvalidInputError.for_field("login", f"{login!r} is not a staff member; only staff work queues "
                                              "(helpdesk staff create LOGIN --role staff).")
        return person
