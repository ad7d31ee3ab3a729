"""Ticket use cases: filing (idempotently), listing, replying, changing queue/status/assignee."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from helpdesk import audit
from helpdesk.accounts.models import Identity, Person, Provider
from helpdesk.audit import AuditEvent
from helpdesk.db import execute_inserts, utcnow
from helpdesk.exceptions import (
    ConflictError,
    InvalidInputError,
    InvalidTransitionError,
    NotFoundError,
    PermissionDeniedError,
)
from helpdesk.tickets.models import (
    Direction,
    InboundDelivery,
    Message,
    OutboxItem,
    Priority,
    Queue,
    Source,
    Status,
    Ticket,
    Visibility,
)

SUBJECT_MAX = 200
BODY_MAX = 20_000
PAGE_SIZE_MAX = 100

#: Status changes staff may make by hand. Replies move tickets too (see ``reply``).
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.TRIAGED, Status.IN_PROGRESS, Status.WAITING_ON_USER, Status.RESOLVED,
                           Status.CLOSED}),
    Status.TRIAGED: frozenset({Status.IN_PROGRESS, Status.WAITING_ON_USER, Status.RESOLVED, Status.CLOSED}),
    Status.IN_PROGRESS: frozenset({Status.TRIAGED, Status.WAITING_ON_USER, Status.RESOLVED, Status.CLOSED}),
    Status.WAITING_ON_USER: frozenset({Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED}),
    Status.RESOLVED: frozenset({Status.IN_PROGRESS, Status.CLOSED}),
    Status.CLOSED: frozenset({Status.IN_PROGRESS}),
}
#: Where a requester's reply moves a ticket: it needs a person again.
REOPENED_BY_REQUESTER = frozenset({Status.WAITING_ON_USER, Status.RESOLVED, Status.CLOSED})
#: Channels a public reply is sent back to through the outbox.
REPLY_CHANNELS = frozenset({Source.SLACK, Source.DISCOURSE})


@dataclass(frozen=True)
class DeliveryKey:
    """Identifies one inbound delivery for idempotency: (source, external id) plus a request digest."""

    source: str
    external_id: str
    fingerprint: str | None = None

    @classmethod
    def for_request(cls, source: str, external_id: str, payload: Any) -> DeliveryKey:
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
        return cls(source, external_id, digest)


@dataclass(frozen=True)
class Filed:
    ticket: Ticket
    created: bool


@dataclass(frozen=True)
class Page:
    items: list[Ticket]
    next_cursor: str | None


@dataclass(frozen=True)
class QueueSummary:
    queue: Queue | None
    open_count: int
    oldest_open_at: datetime | None


class TicketService:
    """The ticket core. Routes, the CLI and the channels call it; it never imports Flask."""

    def __init__(self, session: Session, clock: Callable[[], datetime] = utcnow) -> None:
        self.session = session
        self.clock = clock

    # -- filing ----------------------------------------------------------------------------------

    def file(
        self,
        requester: Person,
        subject: str,
        body: str,
        source: Source,
        *,
        external: dict[str, Any] | None = None,
        thread_key: str | None = None,
        delivery: DeliveryKey | None = None,
        queue_slug: str | None = None,
    ) -> Filed:
        """File a ticket, at most once per delivery key.

        Raises
        ------
        InvalidInputError
            Empty or oversized subject or body, or an unknown queue.
        ConflictError
            The delivery key was used before for a different request.
        """
        subject, body = _clean_text(subject, "subject", SUBJECT_MAX), _clean_text(body, "body", BODY_MAX)
        # No look-up first: the ledger's unique key decides, which is both the fast path for new
        # deliveries and the only check that holds when two deliveries race.
        queue = self._queue_by_slug(queue_slug) if queue_slug else None
        now = self.clock()
        ticket = Ticket(
            subject=subject, body=body, source=source, requester_id=requester.id, requester=requester,
            status=Status.TRIAGED if queue else Status.NEW, queue=queue, external=external or {},
            thread_key=thread_key, created_at=now, updated_at=now,
        )
        self.session.add(ticket)
        try:
            self.session.flush()
            # The ledger row and the audit row are never read back here: one round trip for both.
            writes = [insert(AuditEvent.__table__).values(
                action="ticket.filed", actor_id=requester.id, ticket_id=ticket.id, data={"source": source.value},
                created_at=now,
            )]
            if delivery is not None:
                writes.append(insert(InboundDelivery.__table__).values(
                    source=delivery.source, external_id=delivery.external_id,
                    fingerprint=delivery.fingerprint, ticket_id=ticket.id, received_at=now,
                ))
            execute_inserts(self.session, writes)
            self.session.commit()
        except IntegrityError:
            # A concurrent delivery with the same key (or the same thread) won the race.
            self.session.rollback()
            if delivery is not None and (previous := self._previous_delivery(delivery)) is not None:
                return Filed(previous, created=False)
            raise
        return Filed(ticket, created=True)

    def _previous_delivery(self, delivery: DeliveryKey) -> Ticket | None:
        row = self.session.scalar(select(InboundDelivery).where(
            InboundDelivery.source == delivery.source, InboundDelivery.external_id == delivery.external_id,
        ))
        if row is None:
            return None
        if delivery.fingerprint and row.fingerprint and row.fingerprint != delivery.fingerprint:
            raise ConflictError(
                "This Idempotency-Key was already used for a different request; use a new key.",
                code="idempotency_key_reused",
            )
        if row.ticket_id is None:  # pragma: no cover - a message delivery, not a ticket
            return None
        return self.session.get(Ticket, row.ticket_id)

    # -- reading ---------------------------------------------------------------------------------

    def get(self, viewer: Person, ticket_id: int) -> Ticket:
        """One ticket the viewer may see. Requesters see their own; staff see all."""
        ticket = self.session.get(Ticket, ticket_id)
        if ticket is None or not self._may_see(viewer, ticket):
            # Not telling a requester whether someone else's ticket exists.
            raise NotFoundError(f"No ticket {ticket_id}.")
        return ticket

    def visible_messages(self, viewer: Person, ticket: Ticket) -> list[Message]:
        if viewer.is_staff:
            return list(ticket.messages)
        return [m for m in ticket.messages if m.visibility is Visibility.PUBLIC]

    def list(
        self,
        viewer: Person,
        *,
        queue: str | None = None,
        status: Iterable[Status] | None = None,
        source: Source | None = None,
        cursor: str | None = None,
        limit: int = 25,
        unsorted: bool = False,
    ) -> Page:
        """Tickets newest first, a page at a time; the cursor is opaque to clients."""
        if not 1 <= limit <= PAGE_SIZE_MAX:
            raise InvalidInputError(f"limit must be between 1 and {PAGE_SIZE_MAX}.")
        query = select(Ticket).order_by(Ticket.id.desc()).limit(limit + 1)
        if not viewer.is_staff:
            query = query.where(Ticket.requester_id == viewer.id)
        if queue:
            query = query.where(Ticket.queue_id == self._queue_by_slug(queue).id)
        elif unsorted:
            query = query.where(Ticket.queue_id.is_(None))
        statuses = list(status or [])
        if statuses:
            query = query.where(Ticket.status.in_(statuses))
        if source:
            query = query.where(Ticket.source == source)
        if cursor:
            query = query.where(Ticket.id < decode_cursor(cursor))
        rows = list(self.session.scalars(query).unique())
        next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
        return Page(rows[:limit], next_cursor)

    def queue_summaries(self) -> list[QueueSummary]:
        """Every queue with its open tickets and the oldest of them; unsorted tickets first."""
        open_statuses = [s for s in Status if s.is_open]
        counts = {
            queue_id: (count, oldest)
            for queue_id, count, oldest in self.session.execute(
                select(Ticket.queue_id, func.count(Ticket.id), func.min(Ticket.created_at))
                .where(Ticket.status.in_(open_statuses))
                .group_by(Ticket.queue_id)
            )
        }
        summaries = [QueueSummary(None, *counts.get(None, (0, None)))]
        for queue in self.session.scalars(select(Queue).order_by(Queue.position, Queue.id)):
            summaries.append(QueueSummary(queue, *counts.get(queue.id, (0, None))))
        return summaries

    def queues(self) -> list[Queue]:
        return list(self.session.scalars(select(Queue).order_by(Queue.position, Queue.id)))

    # -- changing --------------------------------------------------------------------------------

    def reply(
        self, actor: Person, ticket_id: int, body: str, visibility: Visibility = Visibility.PUBLIC
    ) -> Message:
        """Add a reply. A public staff reply goes back to the ticket's channel through the outbox."""
        ticket = self.get(actor, ticket_id)
        body = _clean_text(body, "body", BODY_MAX)
        is_requester = actor.id == ticket.requester_id
        if not actor.is_staff and visibility is Visibility.INTERNAL:
            raise PermissionDeniedError("Only staff can add internal notes.")
        now = self.clock()
        from_staff = actor.is_staff and not is_requester
        message = Message(
            ticket=ticket, author_id=actor.id, author=actor, body=body, visibility=visibility,
            direction=Direction.OUTBOUND if from_staff else Direction.INBOUND, created_at=now,
        )
        self.session.add(message)
        previous = ticket.status
        if visibility is Visibility.PUBLIC:
            if from_staff:
                ticket.first_response_at = ticket.first_response_at or now
                if ticket.status in (Status.NEW, Status.TRIAGED, Status.IN_PROGRESS):
                    ticket.status = Status.WAITING_ON_USER
            elif ticket.status in REOPENED_BY_REQUESTER:
                ticket.status = Status.IN_PROGRESS
        ticket.updated_at = now
        self.session.flush()
        if from_staff and visibility is Visibility.PUBLIC and ticket.source in REPLY_CHANNELS:
            self._enqueue_reply(ticket, message)
        audit.record(
            self.session, "ticket.replied", actor_id=actor.id, ticket_id=ticket.id, message_id=message.id,
            visibility=visibility.value,
            **({"status": [previous.value, ticket.status.value]} if ticket.status is not previous else {}),
        )
        self.session.commit()
        return message

    def _enqueue_reply(self, ticket: Ticket, message: Message) -> None:
        self.session.add(OutboxItem(
            dedupe_key=f"reply:{message.id}", channel=ticket.source.value, kind="reply",
            ticket_id=ticket.id, message_id=message.id,
            payload={"external": ticket.external, "text": message.body},
            next_attempt_at=self.clock(),
        ))

    def update(self, actor: Person, ticket_id: int, changes: dict[str, Any]) -> Ticket:
        """Change queue, status, priority or assignee (staff only), each change audited.

        ``changes`` holds only the fields to change: ``queue`` (a slug or None), ``status``,
        ``priority``, ``assignee`` (a login or None).
        """
        if not actor.is_staff:
            raise PermissionDeniedError("Only staff can change a ticket.")
        ticket = self.get(actor, ticket_id)
        now = self.clock()
        applied: dict[str, list[Any]] = {}

        if "queue" in changes:
            queue = self._queue_by_slug(changes["queue"]) if changes["queue"] else None
            if queue is not ticket.queue:
                applied["queue"] = [ticket.queue.slug if ticket.queue else None, queue.slug if queue else None]
                ticket.queue = queue
                if queue is not None and ticket.status is Status.NEW and "status" not in changes:
                    applied["status"] = [Status.NEW.value, Status.TRIAGED.value]
                    ticket.status = Status.TRIAGED
        if "priority" in changes and (priority := Priority(changes["priority"])) is not ticket.priority:
            applied["priority"] = [ticket.priority.value, priority.value]
            ticket.priority = priority
        if "assignee" in changes:
            assignee = self._staff_by_login(changes["assignee"]) if changes["assignee"] else None
            if assignee is not ticket.assignee:
                applied["assignee"] = [ticket.assignee.handle if ticket.assignee else None,
                                       assignee.handle if assignee else None]
                ticket.assignee = assignee
        if "status" in changes:
            target = Status(changes["status"])
            if target is not ticket.status:
                if target not in TRANSITIONS[ticket.status]:
                    raise InvalidTransitionError(
                        f"A ticket cannot go from {ticket.status.value} to {target.value}. Allowed: "
                        + ", ".join(sorted(s.value for s in TRANSITIONS[ticket.status])) + "."
                    )
                if target is Status.TRIAGED and ticket.queue is None:
                    raise InvalidTransitionError("Choose a queue before marking a ticket triaged.")
                applied["status"] = [ticket.status.value, target.value]
                ticket.status = target
                if target is Status.RESOLVED:
                    ticket.resolved_at = now
        if applied:
            ticket.updated_at = now
            audit.record(self.session, "ticket.updated", actor_id=actor.id, ticket_id=ticket.id, changes=applied)
            self.session.commit()
        return ticket

    # -- helpers ---------------------------------------------------------------------------------

    def _queue_by_slug(self, slug: str) -> Queue:
        queue = self.session.scalar(select(Queue).where(Queue.slug == slug))
        if queue is None:
            known = ", ".join(q.slug for q in self.queues()) or "none loaded (run: helpdesk queues load)"
            raise InvalidInputError(f"Unknown queue {slug!r}. Known queues: {known}.")
        return queue

    def _staff_by_login(self, login: str) -> Person:
        identity = self.session.scalar(
            select(Identity).where(Identity.provider == Provider.GITHUB, Identity.external_id == login.lower())
        )
        if identity is None or not identity.person.is_staff:
            raise InvalidInputError(f"{login!r} is not a staff member; assign tickets to staff only.")
        return identity.person

    @staticmethod
    def _may_see(viewer: Person, ticket: Ticket) -> bool:
        return viewer.is_staff or ticket.requester_id == viewer.id


def _clean_text(value: str, field: str, limit: int) -> str:
    value = value.strip() if isinstance(value, str) else ""
    if not value:
        raise InvalidInputError(f"{field} must not be empty.", details={"field": field})
    if len(value) > limit:
        raise InvalidInputError(f"{field} is {len(value)} characters; the limit is {limit}.",
                                details={"field": field})
    return value


def encode_cursor(ticket_id: int) -> str:
    return base64.urlsafe_b64encode(f"t:{ticket_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        if kind != "t":
            raise ValueError(kind)
        return int(value)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInputError("The cursor is not one this API gave out; start again without it.") from exc
