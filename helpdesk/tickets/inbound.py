"""Intake from Slack and the forum: exactly one ticket per question, later messages join it.

Idempotency rests on the inbound ledger (:class:`~helpdesk.tickets.models.InboundDelivery`, unique on
``(source, external_id)``) and on the ticket's unique ``(source, thread_key)``. Every key of a message
(Slack: ``msg:<channel>:<ts>`` and ``event:<event id>``; forum: ``post:<post id>``) is inserted in the
same transaction that stores the ticket or message. A retry, a mention's twin ``message`` event, or a
webhook racing the sync poll then hits a unique constraint (on PostgreSQL the second insert waits for
the first transaction and fails when it commits; on SQLite writers queue behind ``BEGIN IMMEDIATE``),
the whole transaction rolls back, and the earlier delivery is reported instead: nothing new is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Insert, bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Identity, Person, Provider
from helpdesk.accounts.services import AccountService
from helpdesk.audit import AuditEvent
from helpdesk.channels.base import InboundMessage
from helpdesk.config import Settings
from helpdesk.db import execute_inserts, utcnow
from helpdesk.exceptions import HelpdeskError
from helpdesk.tickets.models import (
    Direction,
    InboundDelivery,
    Message,
    OutboxItem,
    OutboxStatus,
    Priority,
    Source,
    Status,
    Ticket,
    Visibility,
)
from helpdesk.tickets.services import BODY_MAX, REOPENED_BY_REQUESTER, SUBJECT_MAX

if TYPE_CHECKING:
    from helpdesk.channels.discourse import DiscourseChannel

log = logging.getLogger("helpdesk.intake")

# Built once: every Slack message runs these, and building a statement costs more CPU than sending it.
PERSON_BY_IDENTITY = (
    select(Person.id).join(Identity, Identity.person_id == Person.id)
    .where(Identity.provider == bindparam("provider"), Identity.external_id == bindparam("external_id"),
           Person.merged_into_id.is_(None))
)
INSERT_TICKET = insert(Ticket.__table__).returning(Ticket.__table__.c.id)

#: Attempts at storing one message when a concurrent writer took its thread in between.
ATTEMPTS = 3


@dataclass(frozen=True)
class Received:
    """What the intake did with one inbound message."""

    ticket_id: int | None
    message_id: int | None = None
    created: bool = False
    duplicate: bool = False

    @property
    def ignored(self) -> bool:
        return self.ticket_id is None


@dataclass
class SyncResult:
    """What ``helpdesk discourse sync`` did."""

    filed: int = 0
    joined: int = 0
    already: int = 0
    ignored: int = 0

    def __str__(self) -> str:
        return (f"{self.filed} tickets filed, {self.joined} replies added, {self.already} already stored, "
                f"{self.ignored} ignored")


class InboundService:
    """Stores verified inbound messages. Never imports Flask; the routes and ``discourse sync`` call it."""

    def __init__(self, session: Session, settings: Settings, clock: Callable[[], datetime] = utcnow) -> None:
        self.session = session
        self.settings = settings
        self.clock = clock

    def receive(self, inbound: InboundMessage) -> Received:
        """Store ``inbound`` once: a new ticket, a message on its thread's ticket, or nothing.

        Returns
        -------
        Received
            ``duplicate`` when any of its delivery keys was stored before; ``ticket`` None when the
            message only joins threads and its thread has no ticket.
        """
        for attempt in range(ATTEMPTS):
            try:
                return self._receive_once(inbound)
            except IntegrityError:
                self.session.rollback()
                if (previous := self._previous(inbound)) is not None:
                    return previous
                if attempt == ATTEMPTS - 1:
                    raise
                # Someone filed a ticket for the same thread in between: try again, now joining it.
        raise AssertionError("unreachable")  # pragma: no cover

    def file_command(self, inbound: InboundMessage) -> str:
        """File a slash command's question and return the private answer: its number and KB matches."""
        received = self.receive(inbound)
        ticket = self.session.get(Ticket, received.ticket_id) if received.ticket_id else None
        if ticket is None:  # pragma: no cover - commands always start tickets
            return "Nothing was filed."
        link = f"{self.settings.public_url.rstrip('/')}/tickets/{ticket.id}"
        lines = [f"Filed ticket #{ticket.id}: {ticket.subject} ({link}). "
                 "The support team will answer you in a direct message."]
        suggestions = suggestion_lines(self.settings, f"{ticket.subject}\n{ticket.body}")
        if suggestions:
            lines.append("Meanwhile, these knowledge-base articles may help:")
            lines.extend(f"• <{s['url']}|{s['title']}>" for s in suggestions)
        return "\n".join(lines)

    def sync_forum(self, channel: DiscourseChannel, pages: int) -> SyncResult:
        """File the forum posts the webhooks missed, oldest first, each exactly once.

        Reads the latest posts (``/posts.json``, ``pages`` pages); posts already stored are skipped by
        the same ledger keys the webhook uses, so running this next to live webhooks is safe.
        """
        result = SyncResult()
        posts = {int(post["id"]): post for post in channel.recent_posts(pages) if "id" in post}
        for post_id in sorted(posts):
            try:
                inbound = channel.message_from_post(posts[post_id])
            except HelpdeskError as exc:
                log.warning("forum post %s skipped: %s", post_id, exc.message)
                result.ignored += 1
                continue
            if not isinstance(inbound, InboundMessage):
                result.ignored += 1
                continue
            received = self.receive(inbound)
            if received.duplicate:
                result.already += 1
            elif received.created:
                result.filed += 1
            elif received.message_id is not None:
                result.joined += 1
            else:
                result.ignored += 1
        return result

    def _receive_once(self, inbound: InboundMessage) -> Received:
        source = Source(inbound.channel)
        now = self.clock()
        thread_key = _clean(inbound.thread_key)[:200] or None
        ticket = None
        if thread_key and not inbound.opens_thread:
            ticket = self._thread_ticket(source, thread_key)
            if ticket is None and not inbound.starts_ticket:
                return Received(None)  # a reply in a thread that is no ticket
        person_id = self._person_id(inbound, source)
        body = _clean(inbound.text)[:BODY_MAX] or "(no text)"
        if ticket is None:
            subject = _clean(inbound.subject or body.splitlines()[0])[:SUBJECT_MAX] or "Question"
            external = dict(inbound.external)
            # Core statements on this path: it runs for every Slack message, and the ORM's unit of work
            # costs more CPU than the SQL. A concurrent filer of the same thread waits here on the unique
            # thread key and fails once this transaction commits.
            ticket_id = self.session.execute(INSERT_TICKET, {
                "subject": subject, "body": body, "source": source.value, "status": Status.NEW.value,
                "priority": Priority.NORMAL.value, "requester_id": person_id, "thread_key": thread_key,
                "external": external, "created_at": now, "updated_at": now,
            }).scalar_one()
            writes = [
                self._record(inbound, source, now, ticket_id, None),
                self._audit("ticket.filed", person_id, ticket_id, now, source=source.value,
                            external_id=inbound.message_id),
            ]
            if self.settings.channel_acknowledge:
                writes.append(self._outbox_insert(source.value, "ack", f"ack:{ticket_id}", ticket_id, {
                    "external": external, "text": self._ack_text(ticket_id, source, thread_key)}))
            execute_inserts(self.session, writes)
            self.session.commit()  # the delivery keys' unique constraint turns a duplicate into a rollback
            return Received(ticket_id, created=True)

        message = Message(
            ticket=ticket, author_id=person_id, body=body, visibility=Visibility.PUBLIC,
            direction=Direction.INBOUND, external_id=_clean(inbound.message_id)[:200], created_at=now,
        )
        self.session.add(message)
        previous = ticket.status
        if person_id == ticket.requester_id and ticket.status in REOPENED_BY_REQUESTER:
            ticket.status = Status.IN_PROGRESS
        ticket.updated_at = now
        self.session.flush()
        execute_inserts(self.session, [
            self._record(inbound, source, now, ticket.id, message.id),
            self._audit(
                "ticket.replied", person_id, ticket.id, now, message_id=message.id,
                visibility=Visibility.PUBLIC.value, source=source.value,
                **({"status": [previous.value, ticket.status.value]} if ticket.status is not previous else {}),
            ),
        ])
        self.session.commit()
        return Received(ticket.id, message.id)

    def _person_id(self, inbound: InboundMessage, source: Source) -> int:
        """The author's person: one light query when known; created (and looked up later) when new."""
        author = inbound.author
        provider = Provider(inbound.channel)
        author_id = _clean(author.external_id)[:200]
        row = self.session.execute(PERSON_BY_IDENTITY, {"provider": provider.value, "external_id": author_id}).first()
        if row is not None:
            return row.id
        person, new_person = AccountService(self.session, clock=self.clock).identify(
            provider, author_id, username=_clean(author.username)[:200] or None,
            display_name=_clean(author.display_name)[:200] or None, email=_clean(author.email)[:320] or None,
            email_verified=author.email_verified,
        )
        if (new_person and source is Source.SLACK and author.email is None and self.settings.slack_profile_lookup
                and self.settings.slack_bot_token):
            # Slack events carry only the user id: the worker looks up the name and verified email
            # (users.info), which may join this person to one we already know.
            self._enqueue_raw("slack", "profile", f"profile:slack:{author_id}", None, {"user": author_id})
        return person.id

    # Core inserts on this path: it runs for every Slack message, and the ORM's unit of work costs more
    # CPU than the SQL. The statements are returned, to be sent together by execute_inserts.

    def _record(self, inbound: InboundMessage, source: Source, now: datetime, ticket_id: int,
                message_id: int | None) -> Insert:
        """The delivery keys for the ledger; they commit (or collide) with what they describe."""
        return insert(InboundDelivery.__table__).values([
            {"source": source.value, "external_id": _clean(key)[:255], "received_at": now, "ticket_id": ticket_id,
             "message_id": message_id}
            for key in inbound.delivery_ids
        ])

    def _audit(self, action: str, actor_id: int, ticket_id: int, now: datetime, **data: Any) -> Insert:
        """The same row as :func:`helpdesk.audit.record`, without the unit of work."""
        return insert(AuditEvent.__table__).values(
            action=action, actor_id=actor_id, ticket_id=ticket_id, data=data, created_at=now)

    def _previous(self, inbound: InboundMessage) -> Received | None:
        """The earlier delivery of ``inbound`` (by any of its keys), if there was one."""
        row = self.session.scalars(
            select(InboundDelivery).where(
                InboundDelivery.source == inbound.channel,
                InboundDelivery.external_id.in_([_clean(key)[:255] for key in inbound.delivery_ids]),
            ).order_by(InboundDelivery.id).limit(1)
        ).first()
        if row is None:
            return None
        return Received(row.ticket_id, row.message_id, duplicate=True)

    def _thread_ticket(self, source: Source, thread_key: str) -> Ticket | None:
        return self.session.scalar(select(Ticket).where(Ticket.source == source, Ticket.thread_key == thread_key))

    def _enqueue_raw(self, channel: str, kind: str, dedupe_key: str, ticket_id: int | None,
                     payload: dict[str, Any]) -> None:
        self.session.execute(self._outbox_insert(channel, kind, dedupe_key, ticket_id, payload))

    def _outbox_insert(self, channel: str, kind: str, dedupe_key: str, ticket_id: int | None,
                       payload: dict[str, Any]) -> Insert:
        now = self.clock()
        return insert(OutboxItem.__table__).values(
            dedupe_key=dedupe_key, channel=channel, kind=kind, ticket_id=ticket_id, payload=payload,
            status=OutboxStatus.PENDING.value, attempts=0, next_attempt_at=now, created_at=now,
        )

    def _ack_text(self, ticket_id: int, source: Source, thread_key: str | None) -> str:
        link = f"{self.settings.public_url.rstrip('/')}/tickets/{ticket_id}"
        where = "in this thread" if source is Source.SLACK and thread_key else (
            "in this topic" if source is Source.DISCOURSE else "here")
        return (f"Thanks! Your question is ticket #{ticket_id} in the DP0 Support Desk ({link}). "
                f"Someone from the support team will answer {where}.")


def _clean(value: str | None) -> str:
    """Text fit for every database: stripped, without NUL characters (PostgreSQL refuses them)."""
    return (value or "").replace("\x00", "").strip()


def suggestion_lines(settings: Settings, text: str, limit: int = 3) -> list[dict[str, Any]]:
    """The best knowledge-base matches for ``text`` as ``{"title", "url"}``; empty when search is unavailable."""
    from helpdesk.search.services import QUERY_MAX, SearchService

    try:
        hits = SearchService(settings.index_dir).query(" ".join(text.split())[:QUERY_MAX], limit=limit)
    except Exception as exc:  # noqa: BLE001 - suggestions are a courtesy; filing must not fail for them
        log.warning("knowledge-base search failed: %s", exc)
        return []
    base = settings.public_url.rstrip("/")
    return [{"title": hit.title, "url": hit.url if "://" in hit.url else f"{base}/{hit.url.lstrip('/')}"}
            for hit in hits]
