"""Tickets: the one module that writes tickets and messages, and reads them back.

Every entry point files and replies through :class:`TicketService`: the web form, the API, Slack, the
forum's webhooks, ``helpdesk discourse sync`` and the demo loader. Each shares the same parts: the text
policy of :mod:`helpdesk.text` (strict for the form and the API, lenient for webhooks), one audit
builder, one outbox enqueue (:class:`~helpdesk.tickets.models.OutboxKind`), one earlier-delivery
lookup and one rule for what a message does to a ticket's status (:func:`status_after_message`).

Idempotency rests on the inbound ledger (:class:`~helpdesk.tickets.models.InboundDelivery`, unique on
``(source, external_id)``) and on the ticket's unique ``(source, thread_key)``. Every key of a delivery
(Slack: ``msg:<channel>:<ts>`` and ``event:<event id>``; forum: ``post:<post id>``; API:
``<person>:<Idempotency-Key>``) is inserted in the transaction that stores the ticket or message. A
retry, a mention's twin ``message`` event, or a webhook racing the sync poll then hits a unique
constraint (on PostgreSQL the second insert waits for the first transaction and fails when it commits;
on SQLite writers queue behind ``BEGIN IMMEDIATE``), the whole transaction rolls back, and the earlier
delivery is reported instead: nothing new is stored.

Filing uses Core statements, not the ORM's unit of work: it runs for every Slack message, and the
unit of work costs more CPU than the SQL it sends.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Insert, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from helpdesk import audit
from helpdesk.accounts.models import Identity, Person, Provider
from helpdesk.accounts.services import AccountService
from helpdesk.db import ID_MAX, execute_inserts, utcnow
from helpdesk.exceptions import (
    ConflictError,
    HelpdeskError,
    InvalidInputError,
    InvalidTransitionError,
    NotFoundError,
    PermissionDeniedError,
)
from helpdesk.text import lenient_text, shorten, strict_text
from helpdesk.tickets import assignment, fulltext, intake, sla, tags
from helpdesk.tickets.attachments import AttachmentPolicy, AttachmentStore, Upload, store_rows
from helpdesk.tickets.gratitude import is_gratitude_only
from helpdesk.tickets.inbound import InboundMessage
from helpdesk.tickets.limits import HeldDelivery, LimitVerdict, TicketLimitError, TicketLimits
from helpdesk.tickets.limits import check as check_limits
from helpdesk.tickets.models import (
    Direction,
    InboundDelivery,
    Message,
    OutboxItem,
    OutboxKind,
    Priority,
    Queue,
    Source,
    Status,
    Ticket,
    Visibility,
)
from helpdesk.tickets.outbox import outbox_insert
from helpdesk.tickets.queue_cache import QUEUE_CACHE
from helpdesk.tickets.workspace import EmailOptOut, TicketRating, check_rating

if TYPE_CHECKING:
    from helpdesk.tickets.board import QueueSummary
    from helpdesk.triage import TriageEngine

log = logging.getLogger("helpdesk.tickets")

SUBJECT_MAX = 200
BODY_MAX = 20_000
PAGE_SIZE_MAX = 100
#: Column widths of what identifies a delivery; a longer key is refused, never cut (cut keys could collide).
DELIVERY_KEY_MAX = 255
THREAD_KEY_MAX = 200
EXTERNAL_ID_MAX = 200

#: Status changes staff may make by hand. Messages move tickets too (see ``status_after_message``).
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.TRIAGED, Status.IN_PROGRESS, Status.WAITING_ON_USER, Status.RESOLVED,
                           Status.CLOSED}),
    Status.TRIAGED: frozenset({Status.IN_PROGRESS, Status.WAITING_ON_USER, Status.RESOLVED, Status.CLOSED}),
    Status.IN_PROGRESS: frozenset({Status.TRIAGED, Status.WAITING_ON_USER, Status.RESOLVED, Status.CLOSED}),
    Status.WAITING_ON_USER: frozenset({Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED}),
    Status.RESOLVED: frozenset({Status.IN_PROGRESS, Status.CLOSED}),
    Status.CLOSED: frozenset({Status.IN_PROGRESS}),
}
#: Where a requester's public message moves a ticket: it needs a person again.
REOPENED_BY_REQUESTER = frozenset({Status.WAITING_ON_USER, Status.RESOLVED, Status.CLOSED})
#: Where a staff member's public answer moves a ticket: the requester's turn.
ANSWERED_BY_STAFF = frozenset({Status.NEW, Status.TRIAGED, Status.IN_PROGRESS})
#: Sources whose public replies go back out through the outbox (web and API requesters read them here).
REPLY_CHANNELS = frozenset({Source.SLACK, Source.DISCOURSE})
#: Sources whose requesters are told of a public reply by email (when email is configured).
EMAIL_CHANNELS = frozenset({Source.WEB, Source.API})

# Built once: every Slack message runs these, and building a statement costs more CPU than sending it.
# The identity on its unique index, its person by primary key in a scalar subquery: never a scan of the people,
# whatever the planner knows of the tables (as helpdesk.tickets.intake's INSERT ... SELECT of the requester).
PERSON_BY_IDENTITY = (
    select(Identity.person_id.label("id"))
    .where(Identity.provider == bindparam("provider"), Identity.external_id == bindparam("external_id"),
           select(Person.merged_into_id).where(Person.id == Identity.person_id).scalar_subquery().is_(None))
)
INSERT_TICKET = insert(Ticket.__table__).returning(Ticket.__table__.c.id)

#: What of a triage decision the ``ticket.filed`` audit event repeats (the ticket keeps all of it).
TRIAGE_AUDITED = ("queue", "confidence", "decided_by", "needs_person", "priority")

#: Attempts at storing one inbound message when a concurrent writer took its thread in between.
ATTEMPTS = 3




def status_after_message(status: Status, *, public: bool, by_requester: bool, by_staff: bool,
                         body: str | None = None) -> Status:
    """The one rule for what a new message does to a ticket's status, on every channel.

    A requester's public message reopens a ticket that waited on them or was solved, unless it only says
    thank you (:func:`helpdesk.tickets.gratitude.is_gratitude_only`: short, nothing but thanks; "thanks, but
    it still fails" is new work); a staff member's public answer hands the ticket to the requester.
    Internal notes change nothing.
    """
    if not public:
        return status
    if by_requester and status in REOPENED_BY_REQUESTER:
        return status if is_gratitude_only(body) else Status.IN_PROGRESS
    if by_staff and not by_requester and status in ANSWERED_BY_STAFF:
        return Status.WAITING_ON_USER
    return status


def triage_correction(ticket: Ticket, chosen: str | None) -> list[str | None] | None:
    """``[triage's queue, the queue a person chose]`` when a person sorted a ticket otherwise than triage
    would have (or sorted one triage left for a person); None when they agree or triage never saw it."""
    decision = ticket.triage or {}
    guess = decision.get("queue")
    if not guess or chosen is None:
        return None
    if guess == chosen and not decision.get("needs_person"):
        return None
    return [guess, chosen]


def forward_reply_writes(session: Session, ticket_id: int, message_id: int, now: datetime) -> list[Insert]:
    """Outbox items that deliver a public staff answer on a survivor into each merged ticket's own thread.

    One SELECT, nothing when nothing was merged: the worker reads the thread from the item's ticket (the
    merged one) and the text from the message (the survivor's), so the merged requester reads the answer
    where they asked.
    """
    rows = session.execute(select(Ticket.id, Ticket.source).where(
        Ticket.merged_into_id == ticket_id, Ticket.source.in_(REPLY_CHANNELS)))
    return [outbox_insert(OutboxKind.REPLY, source.value, f"reply:{message_id}:to:{merged_id}", now,
                          ticket_id=merged_id, message_id=message_id) for merged_id, source in rows]




@dataclass(frozen=True)
class DeliveryKey:
    """Identifies one delivery for idempotency: its source, one or more external ids, and a request digest.

    The digest (``fingerprint``) lets the API refuse an ``Idempotency-Key`` reused for another request.
    """

    source: str
    external_ids: tuple[str, ...]
    fingerprint: str | None = None

    @classmethod
    def for_request(cls, source: str, external_id: str, payload: Any) -> DeliveryKey:
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
        return cls(source, (external_id,), digest)

    @classmethod
    def of(cls, source: str, external_id: str) -> DeliveryKey:
        return cls(source, (external_id,))


@dataclass(frozen=True)
class Filed:
    ticket: Ticket
    created: bool


@dataclass(frozen=True)
class Received:
    """What the intake did with one inbound message."""

    ticket_id: int | None
    message_id: int | None = None
    created: bool = False
    duplicate: bool = False
    #: Held past the author's ticket limit (helpdesk.tickets.limits): kept, not filed, and what they were told.
    held_id: int | None = None
    notice: str | None = None

    @property
    def ignored(self) -> bool:
        return self.ticket_id is None and self.held_id is None


@dataclass(frozen=True)
class Page:
    items: list[Ticket]
    next_cursor: str | None


class TicketService:
    """The ticket core. Routes, the CLI, the worker and the channels' routes call it; it never imports Flask."""

    def __init__(self, session: Session, clock: Callable[[], datetime] = utcnow, *,
                 acknowledge: bool = True, triage: TriageEngine | None = None,
                 owner_strategy: assignment.Strategy = "least_loaded", incident_checks: bool = False,
                 email_replies: bool = False,
                 limits: TicketLimits | None = None,
                 attachments: AttachmentPolicy | None = None, triage_in_worker: bool = False) -> None:
        self.session = session
        #: Slack and forum tickets are sorted by the worker after the acknowledgement (an outbox item), not here.
        self.triage_in_worker = triage_in_worker
        #: What may be attached and where files are kept (HELPDESK_ATTACHMENT_*); None refuses attachments.
        self.attachments = attachments
        self.clock = clock
        #: Per-person ticket limits (HELPDESK_OPEN_TICKETS_PER_PERSON, HELPDESK_TICKETS_PER_DAY); staff exempt.
        self.limits = limits or TicketLimits()
        #: Post an acknowledgement into the thread of every ticket filed from a channel.
        self.acknowledge = acknowledge
        #: Sorts every new ticket as it is filed, the same way on every entry point; None leaves them unsorted.
        self.triage = triage
        #: How a new ticket's owner is picked among its queue's members (HELPDESK_ASSIGNMENT).
        self.owner_strategy = owner_strategy
        #: Queue an incident check (in the worker) for every new ticket.
        self.incident_checks = incident_checks
        #: Email public staff answers on web and API tickets to the requester (HELPDESK_SMTP_HOST is set).
        self.email_replies = email_replies

    # -- filing: the web form, the API, the demo loader (strict text) -----------------------------

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
        attachments: Sequence[Upload] = (),
    ) -> Filed:
        """File a ticket, at most once per delivery key, with its ``attachments`` in the same transaction.

        Raises
        ------
        InvalidInputError
            Empty, oversized or unstorable subject or body (naming the field), or an unknown queue; an empty
            attachment or too many (``attachments``).
        AttachmentTooLargeError, AttachmentTypeError
            An attachment over the size limit (413) or not of an allowed type (415); nothing is stored.
        ConflictError
            The delivery key was used before for a different request.
        TicketLimitError
            The requester is past a ticket limit (429); nothing is stored.
        """
        subject, body = strict_text(subject, "subject", SUBJECT_MAX), strict_text(body, "body", BODY_MAX)
        checked = self._check_attachments(attachments)
        queue = self._queue_by_slug(queue_slug) if queue_slug else None
        if delivery is not None:
            self._check_keys(delivery.external_ids)
        thread_key = _bounded(thread_key, THREAD_KEY_MAX, "thread key") if thread_key else None
        if self.limits.active and not requester.is_staff:
            # A replay of a request already filed is answered as before, whatever the limits say now.
            if delivery is not None and (earlier := self.earlier_delivery(delivery)) is not None \
                    and earlier.ticket_id is not None:
                self.session.rollback()
                return Filed(self.find(earlier.ticket_id), created=False)
            if (verdict := check_limits(self.session, requester.id, self.limits, self.clock())) is not None:
                self.session.rollback()  # releases the person's row
                raise TicketLimitError(verdict, self.clock())
        try:
            ticket = self._insert_ticket(
                requester_id=requester.id, subject=subject, body=body, source=source, external=external or {},
                thread_key=thread_key, queue=queue, delivery=delivery, acknowledge=False,
                audit_data={"source": source.value, **({"attachments": len(checked)} if checked else {})},
                returning_object=True,
            )
            written = self._store_attachments(checked, ticket.id, None, requester.id)
            self._commit_or_remove(written)
        except IntegrityError:
            # A concurrent delivery with the same key won the race: report its ticket.
            self.session.rollback()
            earlier = self.earlier_delivery(delivery) if delivery is not None else None
            if earlier is None or earlier.ticket_id is None:
                raise
            return Filed(self.find(earlier.ticket_id), created=False)
        return Filed(ticket, created=True)

    # -- attachments (helpdesk.tickets.attachments) ------------------------------------------------

    def _check_attachments(self, uploads: Sequence[Upload]) -> list[Any]:
        if not uploads:
            return []
        if self.attachments is None:
            raise InvalidInputError.for_field("attachments", "Attachments are not accepted here.")
        return self.attachments.check(uploads)

    def _store_attachments(self, checked: Sequence[Any], ticket_id: int, message_id: int | None,
                           uploader_id: int | None) -> list[str]:
        if not checked:
            return []
        assert self.attachments is not None
        return store_rows(self.session, AttachmentStore(self.attachments.directory), checked, ticket_id=ticket_id,
                          message_id=message_id, uploader_id=uploader_id, now=self.clock())

    def _commit_or_remove(self, written: Sequence[str]) -> None:
        """Commit; when the commit fails, the files this transaction wrote go too (no file without a row)."""
        try:
            self.session.commit()
        except BaseException:
            if written:
                assert self.attachments is not None
                AttachmentStore(self.attachments.directory).remove(written)
            raise

    def attach(self, actor: Person, ticket_id: int, uploads: Sequence[Upload]) -> list[Any]:
        """Attach files to a ticket the actor may see (its requester or staff); audited, one transaction.

        Returns the :class:`~helpdesk.tickets.attachments.Attachment` rows. Raises as :meth:`file` does for bad
        files (nothing stored), :class:`InvalidInputError` when no file was sent, and
        :class:`NotFoundError` for a ticket the actor may not see.
        """
        from helpdesk.tickets.attachments import Attachment

        ticket = self.get(actor, ticket_id)
        if not uploads:
            raise InvalidInputError.for_field("attachments", "Send at least one file (the form field `file`).")
        checked = self._check_attachments(uploads)
        written: list[str] = []
        try:
            written = self._store_attachments(checked, ticket.id, None, actor.id)
            audit.record(self.session, "ticket.attached", actor_id=actor.id, ticket_id=ticket.id,
                         files=[c.filename for c in checked])
            ticket.updated_at = self.clock()
            self._commit_or_remove(written)
        except BaseException:
            self.session.rollback()
            raise
        return list(self.session.scalars(select(Attachment).where(Attachment.stored_name.in_(written))
                                         .order_by(Attachment.id)))

    def attachment(self, viewer: Person, ticket_id: int, attachment_id: int) -> Any:
        """One attachment of a ticket the viewer may see (staff, or the ticket's requester), else 404."""
        from helpdesk.tickets.attachments import Attachment

        ticket = self.get(viewer, ticket_id)
        found = self.session.get(Attachment, attachment_id)
        if found is None or found.ticket_id != ticket.id:
            raise NotFoundError("No such attachment on this ticket.")
        return found


    # -- filing: Slack and the forum (lenient text) -----------------------------------------------

    def receive(self, inbound: InboundMessage) -> Received:
        """Store ``inbound`` once: a new ticket, a message on its thread's ticket, or nothing.

        Returns
        -------
        Received
            ``duplicate`` when any of its delivery keys was stored before; ``ticket_id`` None when the
            message only joins threads and its thread has no ticket.

        Raises
        ------
        InvalidInputError
            A delivery key, thread or message id longer than the desk stores (refused, never cut).
        """
        delivery = DeliveryKey(inbound.channel, tuple(lenient_text(key) for key in inbound.delivery_ids))
        self._check_keys(delivery.external_ids)
        for attempt in range(ATTEMPTS):
            try:
                return self._receive_once(inbound, delivery)
            except IntegrityError:
                self.session.rollback()
                if (earlier := self.earlier_delivery(delivery)) is not None:
                    return earlier
                if attempt == ATTEMPTS - 1:
                    raise
                # Someone filed a ticket for the same thread in between: try again, now joining it.
        raise AssertionError("unreachable")  # pragma: no cover

    def _receive_once(self, inbound: InboundMessage, delivery: DeliveryKey) -> Received:
        source = Source(inbound.channel)
        thread_key = _bounded(lenient_text(inbound.thread_key), THREAD_KEY_MAX, "thread key") or None
        ticket = None
        if thread_key and not inbound.opens_thread:
            ticket = self.session.scalar(
                select(Ticket).where(Ticket.source == source, Ticket.thread_key == thread_key))
            if ticket is None and self.limits.active and (held := self._held_for(source, thread_key)) is not None:
                # A follow-up in a thread held past its author's limit joins what was kept; it never counts.
                return self._add_to_held(held, inbound, delivery)
            if ticket is None and not inbound.starts_ticket:
                return Received(None)  # a reply in a thread that is no ticket
            if ticket is not None and ticket.merged_into_id is not None:
                # A duplicate's thread joins the ticket it was merged into (helpdesk.tickets.duplicates keeps
                # merges one step long).
                ticket = self.session.get(Ticket, ticket.merged_into_id) or ticket
        decided = None
        if ticket is None and not self.limits.active:
            # A known requester's new ticket: one statement (helpdesk.tickets.intake). A new person: below.
            received, decided = self._file_for_known_requester(inbound, delivery, source, thread_key)
            if received is not None:
                return received
        person_id = self._person_id(inbound)
        body = lenient_text(inbound.text) or "(no text)"
        if ticket is None:
            # The subject is a heading: shortened when long, since the body keeps the whole text.
            title = lenient_text(inbound.subject) or body.splitlines()[0]
            if len(title) > SUBJECT_MAX and title not in body:
                body = f"{title}\n\n{body}"
            if (verdict := check_limits(self.session, person_id, self.limits, self.clock())) is not None:
                return self._hold(inbound, delivery, person_id, verdict, shorten(title, SUBJECT_MAX) or "Question",
                                  body, thread_key)
            ticket_id = self._insert_ticket(
                requester_id=person_id, subject=shorten(title, SUBJECT_MAX) or "Question", body=body,
                source=source, external=dict(inbound.external), thread_key=thread_key, queue=None,
                delivery=delivery, acknowledge=self.acknowledge,
                audit_data={"source": source.value, "external_id": inbound.message_id}, decided=decided,
                triage_later=self.triage_in_worker,
            )
            self.session.commit()  # the delivery keys' unique constraint turns a duplicate into a rollback
            return Received(ticket_id, created=True)
        message = self._add_message(
            ticket, author_id=person_id, body=body, visibility=Visibility.PUBLIC,
            by_requester=person_id == ticket.requester_id, by_staff=False,
            external_id=_bounded(lenient_text(inbound.message_id), EXTERNAL_ID_MAX, "message id") or None,
            delivery=delivery, audit_data={"source": source.value},
        )
        self.session.commit()
        return Received(ticket.id, message.id)

    def _file_for_known_requester(
        self, inbound: InboundMessage, delivery: DeliveryKey, source: Source, thread_key: str | None,
    ) -> tuple[Received | None, tuple[dict[str, Any], Queue | None] | None]:
        """File a new ticket in one statement when its author is a known person (uncommitted work committed).

        Triage runs first, before any statement, so SQLite's write lock is held only for the INSERTs. Returns
        what was received, or None and the triage decision (to reuse) when the author is nobody yet.
        """
        body = lenient_text(inbound.text) or "(no text)"
        title = lenient_text(inbound.subject) or body.splitlines()[0]
        if len(title) > SUBJECT_MAX and title not in body:
            body = f"{title}\n\n{body}"
        subject = shorten(title, SUBJECT_MAX) or "Question"
        author_id = _bounded(lenient_text(inbound.author.external_id), EXTERNAL_ID_MAX, "author id")
        external = dict(inbound.external)
        now = self.clock()
        audit_data: dict[str, Any] = {"source": source.value, "external_id": inbound.message_id}
        priority, decision, queue = Priority.NORMAL, None, None
        if self.triage is not None and not self.triage_in_worker:
            decision, queue = self._triage(subject, body, source, external)
            priority = Priority(decision["priority"])
            audit_data["triage"] = {key: decision[key] for key in TRIAGE_AUDITED}
        queue_id = queue.id if queue is not None else None
        values = {
            "subject": subject, "body": body, "source": source.value,
            "status": (Status.TRIAGED if queue_id else Status.NEW).value, "priority": priority.value,
            "queue_id": queue_id, "thread_key": thread_key, "external": external, "triage": decision,
            "created_at": now, "updated_at": now,
            "first_response_due_at": sla.first_response_due(queue, now) if queue is not None else None,
        }
        kinds = []
        if self.acknowledge and source in REPLY_CHANNELS:
            kinds.append((OutboxKind.ACK.value, "ack"))
        if self.incident_checks:
            kinds.append((OutboxKind.INCIDENT_CHECK.value, "incident"))
        if self.triage is not None and self.triage_in_worker:
            kinds.append((OutboxKind.TRIAGE.value, "triage"))
        write = {"provider": Provider(inbound.channel).value, "author": author_id, "values": values,
                 "audit_data": audit_data, "delivery_source": delivery.source,
                 "delivery_keys": delivery.external_ids, "outbox_kinds": kinds, "now": now}
        if queue_id is None and intake.batches(self.session):
            # SQLite: written and committed with the deliveries this process has waiting (helpdesk.tickets.intake).
            ticket_id = intake.file_in_batch(self.session, **write)
            if ticket_id is None:
                return None, ((decision, queue) if decision is not None else None)
            return Received(ticket_id, created=True), None
        # Read before the insert (it may query the queues): when no owner is assigned, the INSERT is the whole
        # transaction, which PostgreSQL commits in the same round trip.
        assigns = queue_id is not None and QUEUE_CACHE.has_members(self.session, queue_id, now)
        with intake.writer_turn(self.session):
            ticket_id = intake.insert_new_ticket(self.session, **write, whole_transaction=not assigns)
            if ticket_id is None:
                return None, ((decision, queue) if decision is not None else None)
            if assigns:
                assignment.assign_owner(self.session, ticket_id, strategy=self.owner_strategy, now=now)
            self.session.commit()  # the delivery keys' unique constraint turns a duplicate into a rollback
        return Received(ticket_id, created=True), None

    # -- past a ticket limit: kept, not filed (helpdesk.tickets.limits) ---------------------------

    def _held_for(self, source: Source, thread_key: str) -> HeldDelivery | None:
        return self.session.scalars(
            select(HeldDelivery).where(HeldDelivery.source == source.value, HeldDelivery.thread_key == thread_key,
                                       HeldDelivery.released_at.is_(None)).order_by(HeldDelivery.id).limit(1)
        ).first()

    def _hold(self, inbound: InboundMessage, delivery: DeliveryKey, person_id: int, verdict: LimitVerdict,
              subject: str, body: str, thread_key: str | None) -> Received:
        """Keep a question that arrived past its author's limit, and tell them once, in their thread, when they
        may file again. Its delivery keys join the ledger, so a retry changes nothing."""
        now = self.clock()
        held = HeldDelivery(source=inbound.channel, thread_key=thread_key, person_id=person_id, subject=subject,
                            body=body, external=dict(inbound.external), reason=verdict.kind,
                            retry_at=verdict.retry_at, created_at=now)
        self.session.add(held)
        self.session.flush()
        notice = verdict.message(now)
        writes = [
            self._held_ledger(delivery, now),
            audit.insert_event("ticket.held", actor_id=person_id, created_at=now, held_id=held.id,
                               source=inbound.channel, **verdict.as_json(now)),
        ]
        if inbound.external.get("origin") != "command":
            # A slash command is answered in place (privately); every other asker reads it in their thread.
            writes.append(outbox_insert(OutboxKind.LIMIT_NOTICE, inbound.channel, f"limit:{held.id}", now,
                                        payload={"external": dict(inbound.external), "text": notice}))
        execute_inserts(self.session, writes)
        self.session.commit()
        return Received(None, held_id=held.id, notice=notice)

    def _add_to_held(self, held: HeldDelivery, inbound: InboundMessage, delivery: DeliveryKey) -> Received:
        now = self.clock()
        held.body = shorten(f"{held.body}\n\n{lenient_text(inbound.text) or '(no text)'}", BODY_MAX)
        execute_inserts(self.session, [self._held_ledger(delivery, now)])
        self.session.commit()
        return Received(None, held_id=held.id)

    @staticmethod
    def _held_ledger(delivery: DeliveryKey, now: datetime) -> Insert:
        """A held delivery's keys: in the ledger without a ticket, so a retry is recognised and stores nothing."""
        return insert(InboundDelivery.__table__).values([
            {"source": delivery.source, "external_id": key, "fingerprint": None, "received_at": now,
             "ticket_id": None, "message_id": None} for key in delivery.external_ids])

    def _person_id(self, inbound: InboundMessage) -> int:
        """The author's person: one light query when known; created (and looked up later) when new."""
        author = inbound.author
        provider = Provider(inbound.channel)
        author_id = _bounded(lenient_text(author.external_id), EXTERNAL_ID_MAX, "author id")
        row = self.session.execute(PERSON_BY_IDENTITY, {"provider": provider.value, "external_id": author_id}).first()
        if row is not None:
            return row.id
        person, new_person = AccountService(self.session, clock=self.clock).identify(
            provider, author_id, username=shorten(lenient_text(author.username), 200) or None,
            display_name=shorten(lenient_text(author.display_name), 200) or None,
            email=lenient_text(author.email)[:320] or None, email_verified=author.email_verified,
        )
        if new_person and inbound.lookup_profile and author.email is None:
            # The channel can tell the name and verified email later (in the worker), which may join
            # this person to one we already know.
            self.session.execute(outbox_insert(
                OutboxKind.PROFILE, inbound.channel, f"profile:{inbound.channel}:{author_id}", self.clock(),
                payload={"user": author_id}))
        return person.id

    # -- the shared write steps --------------------------------------------------------------------

    def _insert_ticket(
        self, *, requester_id: int, subject: str, body: str, source: Source, external: dict[str, Any],
        thread_key: str | None, queue: Queue | None, delivery: DeliveryKey | None, acknowledge: bool,
        audit_data: dict[str, Any], returning_object: bool = False,
        decided: tuple[dict[str, Any], Queue | None] | None = None, triage_later: bool = False,
    ) -> Any:
        """The ticket row, its delivery keys, its audit event and its acknowledgement: uncommitted.

        Returns the new ticket's id, or with ``returning_object`` the ticket itself. ``decided`` is a triage
        decision already made for this subject and body (not made again); ``triage_later`` queues the sorting
        for the worker (:meth:`triage_filed`) instead.
        """
        now = self.clock()
        priority, decision = Priority.NORMAL, None
        if self.triage is not None and queue is None and not triage_later:
            decision, queue = decided or self._triage(subject, body, source, external)
            priority = Priority(decision["priority"])
            audit_data = {**audit_data, "triage": {key: decision[key] for key in TRIAGE_AUDITED}}
        queue_id = queue.id if queue is not None else None
        values = {
            "subject": subject, "body": body, "source": source.value,
            "status": (Status.TRIAGED if queue_id else Status.NEW).value, "priority": priority.value,
            "queue_id": queue_id, "requester_id": requester_id, "thread_key": thread_key,
            "external": external, "triage": decision, "created_at": now, "updated_at": now,
            # The first-response clock starts when the ticket gets its queue: here, when triage was sure.
            "first_response_due_at": sla.first_response_due(queue, now) if queue is not None else None,
        }
        ticket = ticket_id = self.session.execute(INSERT_TICKET, values).scalar_one()
        if returning_object:
            ticket = self._as_persistent(ticket_id, values, queue)
        writes = [audit.insert_event("ticket.filed", actor_id=requester_id, ticket_id=ticket_id, created_at=now,
                                     **audit_data)]
        if (indexed := fulltext.filed(self.session.get_bind().dialect.name, ticket_id, subject, body)) is not None:
            writes.append(indexed)  # the search index row (helpdesk.tickets.fulltext), in the same round trip
        if delivery is not None:
            writes.append(self._ledger(delivery, now, ticket_id, None))
        if acknowledge and source in REPLY_CHANNELS:
            writes.append(outbox_insert(OutboxKind.ACK, source.value, f"ack:{ticket_id}", now, ticket_id=ticket_id))
        if self.incident_checks:
            # Grouping into incidents compares with the window's open tickets (tens of ms): the worker does it.
            writes.append(outbox_insert(OutboxKind.INCIDENT_CHECK, source.value, f"incident:{ticket_id}", now,
                                        ticket_id=ticket_id))
        if self.triage is not None and queue is None and triage_later:
            writes.append(outbox_insert(OutboxKind.TRIAGE, source.value, f"triage:{ticket_id}", now,
                                        ticket_id=ticket_id))
        # The rows are never read back here: one round trip for all of them.
        execute_inserts(self.session, writes)
        if queue_id is not None and QUEUE_CACHE.has_members(self.session, queue_id, now):
            assignment.assign_owner(self.session, ticket, strategy=self.owner_strategy, now=now)
        return ticket

    def _as_persistent(self, ticket_id: int, values: dict[str, Any], queue: Queue | None) -> Ticket:
        """The ticket just inserted, as an ORM object in the session, built from what was sent (no SELECT).

        The ORM's own INSERT … RETURNING costs more CPU than the SQL; every column is set, so nothing is
        loaded later, and the queue and requester come from the session, so answering needs no query.
        """
        row: dict[str, Any] = {column.key: None for column in Ticket.__table__.columns}
        row.update(values, id=ticket_id, source=Source(values["source"]), status=Status(values["status"]),
                   priority=Priority(values["priority"]))
        ticket = Ticket(**row)
        make_transient_to_detached(ticket)
        # A filing rolled back (a lost idempotency race) leaves its object behind, and SQLite hands out the
        # same id again: the new row replaces it.
        if (stale := self.session.identity_map.get(identity_key(Ticket, ticket_id))) is not None:
            self.session.expunge(stale)
        self.session.add(ticket)
        set_committed_value(ticket, "queue", queue)
        return ticket

    def triage_filed(self, ticket_id: int) -> bool:
        """Sort a ticket filed from a channel as filing would have (the worker's TRIAGE item); commits.

        The same decision, queue, status, priority, first-response clock and owner as triage at filing, and the
        ``ticket.triaged`` audit event carrying what ``ticket.filed`` carries then (a ticket an answer already
        moved past ``new`` keeps its status). A ticket a person already sorted, or one triage already saw, is
        left alone (False): redelivering the item changes nothing.
        """
        if self.triage is None:
            return False
        # Lock the row alone (FOR UPDATE cannot reach the outer-joined queue and people of Ticket's eager loads).
        self.session.execute(select(Ticket.id).where(Ticket.id == ticket_id).with_for_update())
        ticket = self.session.get(Ticket, ticket_id)
        if ticket is None or ticket.triage is not None or ticket.queue_id is not None:
            self.session.rollback()
            return False
        now = self.clock()
        decision, queue = self._triage(ticket.subject, ticket.body, ticket.source, ticket.external or {})
        ticket.triage, ticket.priority = decision, Priority(decision["priority"])
        if queue is not None:
            ticket.queue = queue
            if ticket.status is Status.NEW:  # an answer already moved it on: the status stays
                ticket.status = Status.TRIAGED
            # The clock runs from when they asked, as when triage sorts at filing.
            ticket.first_response_due_at = sla.first_response_due(queue, ticket.created_at)
        audit.record(self.session, "ticket.triaged", actor_id=None, ticket_id=ticket.id,
                     triage={key: decision[key] for key in TRIAGE_AUDITED})
        self.session.flush()
        if queue is not None and QUEUE_CACHE.has_members(self.session, queue.id, now):
            assignment.assign_owner(self.session, ticket, strategy=self.owner_strategy, now=now)
        self.session.commit()
        return True

    def _triage(self, subject: str, body: str, source: Source,
                external: Mapping[str, Any]) -> tuple[dict[str, Any], Queue | None]:
        """The triage decision for a new ticket, and the queue it goes to (None: it waits for a person)."""
        assert self.triage is not None
        # The Slack channel or forum category it was asked in; rules may map those to a queue.
        hint = external.get("category_id") or external.get("from_channel") or external.get("channel")
        decision = self.triage.decide(subject, body, source=source.value,
                                      channel_hint=str(hint) if hint is not None else None)
        queue = None if decision.needs_person else QUEUE_CACHE.get(self.session, decision.queue, self.clock())
        return decision.as_json(), queue

    def _add_message(
        self, ticket: Ticket, *, author_id: int | None, body: str, visibility: Visibility, by_requester: bool,
        by_staff: bool, external_id: str | None = None, delivery: DeliveryKey | None = None,
        audit_data: dict[str, Any] | None = None, author: Person | None = None,
    ) -> Message:
        """A message on ``ticket``, the status it leads to, its audit event and its delivery: uncommitted."""
        now = self.clock()
        public = visibility is Visibility.PUBLIC
        # Inbound means written on the requester's side; staff answers and internal notes are outbound.
        outbound = by_staff and not (by_requester and public)
        message = Message(
            ticket=ticket, author_id=author_id, body=body, visibility=visibility,
            direction=Direction.OUTBOUND if outbound else Direction.INBOUND, external_id=external_id,
            created_at=now,
        )
        if author is not None:
            message.author = author
        self.session.add(message)
        previous = ticket.status
        ticket.status = status_after_message(previous, public=public, by_requester=by_requester, by_staff=by_staff,
                                             body=body)
        if public and outbound:
            ticket.first_response_at = ticket.first_response_at or now
        sla.status_changed(ticket, previous, now)  # the requester's answer restarts a paused clock
        ticket.updated_at = now
        self.session.flush()
        data = dict(audit_data or {})
        if ticket.status is not previous:
            data["status"] = [previous.value, ticket.status.value]
        writes = [audit.insert_event("ticket.replied", actor_id=author_id, ticket_id=ticket.id, created_at=now,
                                     message_id=message.id, visibility=visibility.value, **data)]
        if (indexed := fulltext.message_added(self.session.get_bind().dialect.name, ticket.id, body,
                                              public=public)) is not None:
            writes.append(indexed)  # the message joins the ticket's search index row; a note only staff's
        if delivery is not None:
            writes.append(self._ledger(delivery, now, ticket.id, message.id))
        if public and outbound and ticket.source in REPLY_CHANNELS:
            writes.append(outbox_insert(OutboxKind.REPLY, ticket.source.value, f"reply:{message.id}", now,
                                        ticket_id=ticket.id, message_id=message.id))
        if public and outbound and self.email_replies and ticket.source in EMAIL_CHANNELS:
            writes.extend(self._email_writes(ticket, message.id, now))
        if public and outbound:
            # Tickets merged into this one keep their own threads: the answer goes to each of them too.
            writes.extend(forward_reply_writes(self.session, ticket.id, message.id, now))
        execute_inserts(self.session, writes)
        return message

    def _ledger(self, delivery: DeliveryKey, now: datetime, ticket_id: int, message_id: int | None) -> Insert:
        """The delivery's keys for the ledger; they commit (or collide) with what they describe."""
        return insert(InboundDelivery.__table__).values([
            {"source": delivery.source, "external_id": key, "fingerprint": delivery.fingerprint,
             "received_at": now, "ticket_id": ticket_id, "message_id": message_id}
            for key in delivery.external_ids
        ])

    def earlier_delivery(self, delivery: DeliveryKey) -> Received | None:
        """The one look-up of an earlier delivery, by any of its keys.

        Raises
        ------
        ConflictError
            The key was used before for a request with another fingerprint (an Idempotency-Key reused).
        """
        row = self.session.scalars(
            select(InboundDelivery).where(
                InboundDelivery.source == delivery.source, InboundDelivery.external_id.in_(delivery.external_ids),
            ).order_by(InboundDelivery.id).limit(1)
        ).first()
        if row is None:
            return None
        if delivery.fingerprint and row.fingerprint and row.fingerprint != delivery.fingerprint:
            raise ConflictError(
                "This Idempotency-Key was already used for a different request; use a new key.",
                code="idempotency_key_reused",
            )
        return Received(row.ticket_id, row.message_id, duplicate=True)

    @staticmethod
    def _check_keys(keys: Sequence[str]) -> None:
        for key in keys:
            _bounded(key, DELIVERY_KEY_MAX, "delivery id")
            if not key:
                raise InvalidInputError("A delivery without an id cannot be stored exactly once.")

    # -- reading ---------------------------------------------------------------------------------

    def get(self, viewer: Person, ticket_id: int) -> Ticket:
        """One ticket the viewer may see. Requesters see their own; staff see all."""
        ticket = self.session.get(Ticket, ticket_id) if 0 < ticket_id <= ID_MAX else None
        if ticket is None or not self._may_see(viewer, ticket):
            # Not telling a requester whether someone else's ticket exists.
            raise NotFoundError(f"No ticket {ticket_id}.")
        return ticket

    def find(self, ticket_id: int) -> Ticket:
        """A ticket by id, for the system's own use (no viewer to check)."""
        ticket = self.session.get(Ticket, ticket_id) if 0 < ticket_id <= ID_MAX else None
        if ticket is None:
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

    def queue_summaries(self, policy: sla.SlaPolicy | None = None) -> list[QueueSummary]:
        """Every queue with its open tickets, the oldest of them, its members' room and its clocks; unsorted first.

        ``policy`` is the SLA warning window (default: 20 % of each queue's target). Two statements: the queues
        with their members (:mod:`helpdesk.tickets.reference`) and the counts (:mod:`helpdesk.tickets.board`),
        the same reads the board and ``GET /api/v1/queues`` make.
        """
        from helpdesk.tickets.board import queue_summaries
        from helpdesk.tickets.reference import read_reference

        reference = read_reference(self.session, parts=("queues", "members"))
        return queue_summaries(self.session, reference, self.clock(), policy)

    def awaiting_triage(self, limit: int = 100) -> list[Ticket]:
        """Open tickets with no queue, oldest first: what triage left for a person (or never saw)."""
        return list(self.session.scalars(
            select(Ticket).where(Ticket.queue_id.is_(None), Ticket.status.in_([s for s in Status if s.is_open]))
            .order_by(Ticket.id).limit(limit)
        ).unique())

    def queues(self) -> list[Queue]:
        return list(self.session.scalars(select(Queue).order_by(Queue.position, Queue.id)))

    # -- changing --------------------------------------------------------------------------------

    def reply(
        self, actor: Person, ticket_id: int, body: str, visibility: Visibility = Visibility.PUBLIC, *,
        status: Status | None = None,
    ) -> Message:
        """Add a reply. A public staff reply goes back to the ticket's channel through the outbox.

        ``status`` (staff only) sets the ticket's status in the same transaction, after the message moved it
        (a public answer makes it wait on the requester): reply and resolve in one step. An impossible
        status is refused before anything is written.

        Raises
        ------
        InvalidTransitionError
            The status cannot follow the one the message leads to; neither the reply nor the change is stored.
        """
        ticket = self.get(actor, ticket_id)
        body = strict_text(body, "body", BODY_MAX)
        if not actor.is_staff and visibility is Visibility.INTERNAL:
            raise PermissionDeniedError("Only staff can add internal notes.")
        by_requester, public = actor.id == ticket.requester_id, visibility is Visibility.PUBLIC
        if status is not None:
            if not actor.is_staff:
                raise PermissionDeniedError("Only staff can change a ticket's status with a reply.")
            after = status_after_message(ticket.status, public=public, by_requester=by_requester,
                                         by_staff=True, body=body)
            self._check_transition(ticket, after, status)
        message = self._add_message(
            ticket, author_id=actor.id, author=actor, body=body, visibility=visibility,
            by_requester=by_requester, by_staff=actor.is_staff,
        )
        if status is not None and status is not ticket.status:
            self._set_status(ticket, status, actor_id=actor.id, message_id=message.id)
        self.session.commit()
        return message

    def _check_transition(self, ticket: Ticket, current: Status, target: Status) -> None:
        if target is current:
            return
        if target not in TRANSITIONS[current]:
            raise InvalidTransitionError(
                f"A ticket cannot go from {current.value} to {target.value}. Allowed: "
                + ", ".join(sorted(s.value for s in TRANSITIONS[current])) + "."
            )
        if target is Status.TRIAGED and ticket.queue is None:
            raise InvalidTransitionError("Choose a queue before marking a ticket triaged.")

    def _set_status(self, ticket: Ticket, target: Status, *, actor_id: int | None, **audit_data: Any) -> None:
        """Move the ticket to ``target`` (already checked), its clocks with it, and audit it: uncommitted."""
        now = self.clock()
        previous, ticket.status = ticket.status, target
        sla.status_changed(ticket, previous, now)
        if target is Status.RESOLVED:
            ticket.resolved_at = now
        ticket.updated_at = now
        audit.record(self.session, "ticket.updated", actor_id=actor_id, ticket_id=ticket.id,
                     changes={"status": [previous.value, target.value]}, **audit_data)

    # -- the requester's side: solving, rating, email opt-out, auto-close ---------------------------

    def mark_solved(self, actor: Person, ticket_id: int) -> Ticket:
        """The requester (or staff) says the ticket is solved: it becomes resolved, audited as theirs.

        Raises
        ------
        NotFoundError
            Not a ticket the actor may see.
        InvalidTransitionError
            The ticket is already resolved or closed.
        """
        ticket = self.get(actor, ticket_id)
        if not ticket.status.is_open:
            raise InvalidTransitionError(f"Ticket #{ticket.id} is already {ticket.status.value.replace('_', ' ')}.")
        self._set_status(ticket, Status.RESOLVED, actor_id=actor.id,
                         solved_by="requester" if actor.id == ticket.requester_id else "staff")
        self.session.commit()
        return ticket

    def rate(self, actor: Person, ticket_id: int, score: object, comment: object = None) -> TicketRating:
        """The requester's one satisfaction rating (1 to 5, optional comment) of a solved ticket.

        Raises
        ------
        NotFoundError, PermissionDeniedError, InvalidTransitionError, ConflictError, InvalidInputError
        """
        ticket = self.get(actor, ticket_id)
        if actor.id != ticket.requester_id:
            raise PermissionDeniedError("Only the requester rates a ticket.")
        if ticket.status.is_open:
            raise InvalidTransitionError("A ticket can be rated once it is solved.")
        value, text = check_rating(score, comment)
        if self.session.scalar(select(TicketRating.id).where(TicketRating.ticket_id == ticket.id)) is not None:
            raise ConflictError("You rated this ticket already; thank you.", code="already_rated")
        rating = TicketRating(ticket_id=ticket.id, person_id=actor.id, score=value, comment=text,
                              created_at=self.clock())
        self.session.add(rating)
        audit.record(self.session, "ticket.rated", actor_id=actor.id, ticket_id=ticket.id, score=value)
        try:
            self.session.commit()
        except IntegrityError as exc:  # a double submit raced this one
            self.session.rollback()
            raise ConflictError("You rated this ticket already; thank you.", code="already_rated") from exc
        return rating

    def rating_of(self, ticket_id: int) -> TicketRating | None:
        return self.session.scalar(select(TicketRating).where(TicketRating.ticket_id == ticket_id))

    def close_resolved(self, resolved_before: datetime, limit: int = 500) -> list[int]:
        """Close tickets resolved before ``resolved_before`` (HELPDESK_AUTO_CLOSE_DAYS ago), each audited.

        A ticket the requester reopened in between is no longer resolved and stays open.
        """
        ids = list(self.session.scalars(
            select(Ticket.id).where(Ticket.status == Status.RESOLVED, Ticket.resolved_at <= resolved_before)
            .order_by(Ticket.id).limit(limit)))
        now, closed = self.clock(), []
        for ticket_id in ids:
            result = self.session.execute(
                update(Ticket).where(Ticket.id == ticket_id, Ticket.status == Status.RESOLVED)
                .values(status=Status.CLOSED, updated_at=now).execution_options(synchronize_session=False))
            if result.rowcount == 1:
                closed.append(ticket_id)
                audit.record(self.session, "ticket.updated", actor_id=None, ticket_id=ticket_id,
                             changes={"status": [Status.RESOLVED.value, Status.CLOSED.value]}, reason="auto_close")
        self.session.commit()
        return closed

    def unsubscribe(self, person_id: int) -> bool:
        """Stop emailing ``person_id`` (the signed link in each email); False when they had already stopped."""
        if self.session.get(Person, person_id) is None:
            raise NotFoundError("No such person.")
        if self._opted_out(person_id):
            return False
        self.session.add(EmailOptOut(person_id=person_id, created_at=self.clock()))
        audit.record(self.session, "email.unsubscribed", actor_id=person_id)
        try:
            self.session.commit()
        except IntegrityError:
            self.session.rollback()
            return False
        return True

    def _opted_out(self, person_id: int) -> bool:
        return self.session.scalar(select(EmailOptOut.id).where(EmailOptOut.person_id == person_id)) is not None

    def _email_writes(self, ticket: Ticket, message_id: int, now: datetime) -> list[Insert]:
        """The email of a public answer, when the requester has an address and did not unsubscribe."""
        requester = ticket.requester
        if requester is None or not requester.email or self._opted_out(requester.id):
            return []
        return [outbox_insert(OutboxKind.EMAIL_REPLY, "email", f"email:{message_id}", now, ticket_id=ticket.id,
                              message_id=message_id)]

    def last_public_messages(self, ticket_ids: Sequence[int]) -> dict[int, Message]:
        """Each ticket's latest public message, in one query (the requester's "My tickets")."""
        if not ticket_ids:
            return {}
        latest = (select(func.max(Message.id)).where(Message.ticket_id.in_(ticket_ids),
                                                     Message.visibility == Visibility.PUBLIC)
                  .group_by(Message.ticket_id))
        return {m.ticket_id: m for m in self.session.scalars(select(Message).where(Message.id.in_(latest)))}

    def update(self, actor: Person, ticket_id: int, changes: dict[str, Any]) -> Ticket:
        """Change queue, status, priority or assignee (staff only), each change audited.

        ``changes`` holds only the fields to change: ``queue`` (a slug or None), ``status``,
        ``priority``, ``assignee`` (a login or None), and ``override_limit`` (an administrator assigning
        beyond the queue's limit per person, audited). A new queue starts or moves the first-response
        clock; waiting on the requester pauses it (:mod:`helpdesk.tickets.sla`).

        Raises
        ------
        WipLimitReachedError
            The assignee already has the queue's limit of open tickets (409); nothing is changed.
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
                sla.queue_changed(ticket, ticket.queue, queue, now)
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
                previous, ticket.status = ticket.status, target
                sla.status_changed(ticket, previous, now)
                if target is Status.RESOLVED:
                    ticket.resolved_at = now
        overridden = None
        if ticket.assignee is not None and ("assignee" in applied or "queue" in applied):
            try:
                overridden = assignment.ensure_room(self.session, ticket, actor,
                                                    override=bool(changes.get("override_limit")))
            except HelpdeskError:
                self.session.rollback()  # no half-applied change stays in the session
                raise
            if ticket.queue is not None:
                assignment.note_assigned(self.session, ticket.queue.id, ticket.assignee.id, now)
        if applied:
            ticket.updated_at = now
            audit.record(self.session, "ticket.updated", actor_id=actor.id, ticket_id=ticket.id, changes=applied)
            if overridden is not None:
                audit.record(self.session, "ticket.assignment_overridden", actor_id=actor.id, ticket_id=ticket.id,
                             **overridden)
            if "queue" in applied and (correction := triage_correction(ticket, applied["queue"][1])) is not None:
                # What triage would have done, against what a person chose: training data for the model.
                audit.record(self.session, "triage.corrected", actor_id=actor.id, ticket_id=ticket.id,
                             changes={"queue": correction}, confidence=(ticket.triage or {}).get("confidence"))
            self.session.commit()
        return ticket

    # -- tags (helpdesk.tickets.tags) -------------------------------------------------------------------

    def set_tags(self, actor: Person, ticket_id: int, names: Iterable[str] | str) -> list[str]:
        """Make the ticket's tags exactly ``names`` (staff only); audited as ``ticket.tagged``. Commits.

        Returns the ticket's tags afterwards, by name.

        Raises
        ------
        InvalidInputError
            A name that is no possible tag, or more tags than a ticket carries (naming ``tags``).
        """
        wanted = tags.normalise_all(names)
        current = tags.tags_of(self.session, [ticket_id]).get(ticket_id, []) if 0 < ticket_id <= ID_MAX else []
        return self._change_tags(actor, ticket_id, add=wanted, remove=[n for n in current if n not in wanted])

    def add_tags(self, actor: Person, ticket_id: int, names: Iterable[str] | str) -> list[str]:
        """Add tags to the ticket (those it has already stay once); audited. Commits."""
        return self._change_tags(actor, ticket_id, add=tags.normalise_all(names))

    def remove_tags(self, actor: Person, ticket_id: int, names: Iterable[str] | str) -> list[str]:
        """Take tags off the ticket (absent ones are ignored); audited. Commits."""
        return self._change_tags(actor, ticket_id, remove=tags.normalise_all(names))

    def tags_of(self, ticket_ids: Sequence[int]) -> dict[int, list[str]]:
        """The tags of each ticket, by name, in one statement (tickets without tags are left out)."""
        return tags.tags_of(self.session, ticket_ids)

    def _change_tags(self, actor: Person, ticket_id: int, *, add: Sequence[str] = (),
                     remove: Sequence[str] = ()) -> list[str]:
        if not actor.is_staff:
            raise PermissionDeniedError("Only staff tag tickets.")
        ticket = self.get(actor, ticket_id)
        now = self.clock()
        try:
            added, removed = tags.change(self.session, ticket, actor.id, add=add, remove=remove, now=now)
        except HelpdeskError:
            self.session.rollback()
            raise
        if added or removed:
            ticket.updated_at = now
        self.session.commit()
        return tags.tags_of(self.session, [ticket.id]).get(ticket.id, [])

    def record_delivery(self, item: OutboxItem, remote_id: str, started: Mapping[str, str] | None) -> None:
        """What a delivered outbox item tells about its ticket; the caller (the worker) commits.

        The message learns its remote id; a ticket without a thread (filed by slash command) adopts the
        thread its first message started, so later replies go there and the requester's answers in it
        come back to the ticket.
        """
        if item.message_id and remote_id:
            message = self.session.get(Message, item.message_id)
            if message is not None and not message.external_id:
                message.external_id = remote_id[:EXTERNAL_ID_MAX]
        if item.ticket_id and started:
            ticket = self.session.get(Ticket, item.ticket_id)
            if ticket is not None and ticket.thread_key is None:
                ticket.external = {**ticket.external, **started}
                ticket.thread_key = ":".join(started.values())[:THREAD_KEY_MAX]

    # -- deflection: the articles offered, and "this answered my question" ---------------------------

    def record_suggestions(self, ticket_id: int, suggestions: dict[str, Any], best_score: float | None) -> None:
        """Keep the knowledge-base articles offered for a ticket and its best match's score, once.

        A second call changes nothing, so a redelivered acknowledgement offers the same articles and the
        knowledge-gap report reads one stored score. ``updated_at`` is left alone (nobody changed the ticket).
        Commits.
        """
        self.session.execute(
            update(Ticket).where(Ticket.id == ticket_id, Ticket.suggestions.is_(None))
            .values(suggestions=suggestions, best_score=best_score, updated_at=Ticket.updated_at)
            .execution_options(synchronize_session=False)
        )
        self.session.commit()

    def resolve_self_served(self, ticket_id: int, *, via: str, requester: Person | None = None) -> SelfServed:
        """The requester says an offered article answered the question: the ticket is resolved as self-served.

        The one way "This answered my question" resolves a ticket, from the web page (``via="web"``), the Slack
        button (``"slack"``) or the forum's signed link (``"discourse"``). ``requester`` is who clicked when the
        channel tells (the signed-in person, the Slack user's person) and must be the ticket's requester; only
        the forum link has none (its signed token is the proof). Saying it twice is a no-op
        (``changed=False``); it is counted once (``self_served_at``) and audited.

        Raises
        ------
        NotFoundError, PermissionDeniedError
            No such ticket; someone other than the requester.
        ConflictError
            Staff already closed, resolved or merged the ticket: the requester is told so.
        """
        if via not in SELF_SERVED_VIA:
            raise InvalidInputError(f"Unknown channel {via!r} for a self-served answer.")
        ticket = self.find(ticket_id)
        if requester is None and via != "discourse":
            raise PermissionDeniedError("Sign in as the person who asked to say their question was answered.")
        if requester is not None and requester.id != ticket.requester_id:
            raise PermissionDeniedError("Only the person who asked can say that their question was answered.")
        if ticket.merged_into_id is not None:
            raise ConflictError(f"Ticket #{ticket.id} was merged into ticket #{ticket.merged_into_id} by the support "
                                "team; the answer will come on that ticket.")
        if ticket.status is Status.RESOLVED and ticket.self_served_at is not None:
            return SelfServed(ticket, changed=False)
        if not ticket.status.is_open:
            raise ConflictError(f"The support team already {ticket.status.value} ticket #{ticket.id}; if you still "
                                "need help, reply on it or ask a new question.")
        now, previous = self.clock(), ticket.status
        ticket.status, ticket.resolved_at, ticket.updated_at = Status.RESOLVED, now, now
        sla.status_changed(ticket, previous, now)
        if ticket.self_served_at is None:  # counted once, even if a reply reopened it and it is said again
            ticket.self_served_at, ticket.self_served_via = now, via
        audit.record(self.session, "ticket.self_served", actor_id=requester.id if requester else None,
                     ticket_id=ticket.id, via=via, changes={"status": [previous.value, Status.RESOLVED.value]})
        self.session.commit()
        return SelfServed(ticket, changed=True)

    # -- helpers ---------------------------------------------------------------------------------

    def _queue_by_slug(self, slug: str) -> Queue:
        queue = self.session.scalar(select(Queue).where(Queue.slug == slug))
        if queue is None:
            known = ", ".join(q.slug for q in self.queues()) or "none loaded (run: helpdesk queues load)"
            raise InvalidInputError.for_field("queue", f"Unknown queue {slug!r}. Known queues: {known}.")
        return queue

    def _staff_by_login(self, login: str) -> Person:
        person = AccountService(self.session).find_by_login(login) if isinstance(login, str) else None
        if person is None or not person.is_staff:
            raise InvalidInputError.for_field("assignee", f"{login!r} is not a staff member; assign tickets to "
                                              "staff only.")
        return person

    @staticmethod
    def _may_see(viewer: Person, ticket: Ticket) -> bool:
        return viewer.is_staff or ticket.requester_id == viewer.id


def _bounded(value: str, limit: int, what: str) -> str:
    """Identifiers are refused when too long for their column: cutting them could make two collide."""
    if len(value) > limit:
        raise InvalidInputError(f"The {what} is {len(value)} characters; the desk stores at most {limit}.")
    return value


def encode_cursor(ticket_id: int) -> str:
    return base64.urlsafe_b64encode(f"t:{ticket_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        # Cursors the API gave out are short; a long one would make int() parse a huge number.
        if kind != "t" or not value.isdigit() or len(value) > 12:
            raise ValueError(kind)
        ticket_id = int(value)
        if not 0 < ticket_id <= ID_MAX:
            raise ValueError(value)
        return ticket_id
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInputError.for_field(
            "cursor", "The cursor is not one this API gave out; start again without it.") from exc


#: Where a requester can say an offered article answered them (:meth:`TicketService.resolve_self_served`).
SELF_SERVED_VIA = ("web", "slack", "discourse")


@dataclass(frozen=True)
class SelfServed:
    """What "This answered my question" did: resolved the ticket (``changed``), or nothing, as said before."""

    ticket: Ticket
    changed: bool

    @property
    def message(self) -> str:
        if self.changed:
            return (f"Glad it helped! Ticket #{self.ticket.id} is resolved. If you need more help, reply on it "
                    "and it opens again.")
        return f"You already told us that ticket #{self.ticket.id} was answered; nothing more to do. Thank you!"
