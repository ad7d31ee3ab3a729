"""Ticket models."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, ForeignKey, Index, String, Text, UniqueConstraint, literal_column, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.accounts.models import Person
from helpdesk.db import Base, utcnow
from helpdesk.models_common import enum_column


class Source(enum.StrEnum):
    SLACK = "slack"
    DISCOURSE = "discourse"
    WEB = "web"
    API = "api"


class Status(enum.StrEnum):
    NEW = "new"
    TRIAGED = "triaged"
    IN_PROGRESS = "in_progress"
    WAITING_ON_USER = "waiting_on_user"
    RESOLVED = "resolved"
    CLOSED = "closed"

    @property
    def is_open(self) -> bool:
        return self not in (Status.RESOLVED, Status.CLOSED)


class Priority(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Visibility(enum.StrEnum):
    PUBLIC = "public"
    INTERNAL = "internal"


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class OutboxKind(enum.StrEnum):
    """What an outbox item delivers; the worker handles each kind its own way."""

    #: A staff member's public answer, posted into the ticket's thread.
    REPLY = "reply"
    #: The ticket number, posted into the thread of a ticket filed from a channel.
    ACK = "ack"
    #: A look-up of a new channel user's name and verified email (Slack's users.info).
    PROFILE = "profile"
    #: A warning that a ticket nears (or passed) its first-response due time, posted into the staff Slack
    #: channel (``HELPDESK_SLA_SLACK_CHANNEL``); the payload holds the channel id and the text.
    SLA_WARNING = "sla_warning"
    #: A confirmed bug reported to the engineering tracker (Jira or GitHub); the payload holds the
    #: escalation's id (helpdesk.tickets.escalation).
    ESCALATION = "escalation"
    #: Look for an incident a newly filed ticket belongs to (helpdesk.tickets.incidents.link_to_incident),
    #: after the acknowledgement, so that intake never waits for the text comparison.
    INCIDENT_CHECK = "incident_check"
    #: Sort a ticket filed from Slack or the forum (queue, priority, clock, owner), after the acknowledgement:
    #: the request only stores it (HELPDESK_TRIAGE_IN_WORKER).
    TRIAGE = "triage"
    #: A change to a person's programme application, told to them by email or by a Slack direct message
    #: (the item's channel); the payload holds ``application_id``, ``to``, ``subject`` and ``text``.
    PROGRAMME_NOTICE = "programme_notice"
    #: Tell someone past their ticket limit, in their thread, when they may file again (helpdesk.tickets.limits);
    #: the payload holds the thread (the delivery's ``external``) and the text.
    LIMIT_NOTICE = "limit_notice"
    #: Add a delegate to (or remove them from) the GitHub team of the roster (helpdesk.channels.github_team);
    #: the payload holds the GitHub user id, login and ``action`` (``add`` or ``remove``).
    TEAM_SYNC = "team_sync"
    #: A public staff answer on a web or API ticket, emailed to the requester (helpdesk.channels.email) with a
    #: link back to the ticket and an unsubscribe link; queued only when email is configured.
    EMAIL_REPLY = "email_reply"


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


#: The open statuses as SQL, for the partial indexes of open tickets; a query on open tickets must name the
#: statuses the same way (as literals) for the database to use them (:func:`open_condition`).
OPEN_STATUS_SQL = "status IN ('new', 'triaged', 'in_progress', 'waiting_on_user')"
#: Open tickets whose first-response clock runs (due, unanswered, not paused): the SLA counts read only these.
CLOCK_RUNNING_SQL = (f"{OPEN_STATUS_SQL} AND first_response_at IS NULL AND sla_paused_at IS NULL "
                     "AND first_response_due_at IS NOT NULL")


def open_condition() -> ColumnElement[bool]:
    """Open tickets, the statuses written as literals: so the database can use the partial indexes of open tickets
    (a condition with bound parameters does not prove a partial index's predicate in a generic plan)."""
    return Ticket.status.in_([literal_column(f"'{s.value}'") for s in Status if s.is_open])


class Queue(Base):
    """A tier-two queue: one expert team. Loaded from queues.yaml."""

    __tablename__ = "queue"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    team: Mapped[str] = mapped_column(String(200))
    covers: Mapped[str] = mapped_column(Text)
    first_response_hours: Mapped[int]
    wip_limit_per_assignee: Mapped[int]
    position: Mapped[int] = mapped_column(default=0)


class QueueMember(Base):
    """A staff member who works a queue: assignment picks owners among a queue's members."""

    __tablename__ = "queue_member"
    __table_args__ = (UniqueConstraint("queue_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queue.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: When assignment last gave this member a ticket of this queue: round-robin takes the member who
    #: waited longest, and least-loaded breaks ties the same way.
    last_assigned_at: Mapped[datetime | None]

    queue: Mapped[Queue] = relationship(lazy="joined")
    person: Mapped[Person] = relationship(lazy="joined")


class Ticket(Base):
    __tablename__ = "ticket"
    __table_args__ = (
        # The Slack thread ("C123:1700000000.000100") or forum topic ("123") a ticket lives in:
        # later messages in the same thread join it.
        UniqueConstraint("source", "thread_key"),
        # The staff lists (helpdesk.tickets.listing): a queue's tickets of some statuses by number, the "last
        # update" order, and open tickets newest first and by first-response due time, in all queues and in one
        # (partial: only the open tickets, which a desk keeps few of however many it has closed).
        Index("ix_ticket_queue_status_id", "queue_id", "status", "id"),
        Index("ix_ticket_updated_at_id", "updated_at", "id"),
        Index("ix_ticket_open_id", "id", postgresql_where=text(OPEN_STATUS_SQL), sqlite_where=text(OPEN_STATUS_SQL)),
        Index("ix_ticket_open_due_id", "first_response_due_at", "id",
              postgresql_where=text(OPEN_STATUS_SQL), sqlite_where=text(OPEN_STATUS_SQL)),
        Index("ix_ticket_open_queue_due_id", "queue_id", "first_response_due_at", "id",
              postgresql_where=text(OPEN_STATUS_SQL), sqlite_where=text(OPEN_STATUS_SQL)),
        Index("ix_ticket_first_response_due_at", "first_response_due_at"),
        # The queue summaries (the board, GET /api/v1/queues) from index-only scans of the open tickets: counts,
        # oldest and oldest unassigned per queue, members' loads; and the clocks still running (due soon, breached).
        # Assignee first: the "mine" and "unassigned" counts of the console read its prefix.
        Index("ix_ticket_open_assignee_queue_created", "assignee_id", "queue_id", "created_at",
              postgresql_where=text(OPEN_STATUS_SQL), sqlite_where=text(OPEN_STATUS_SQL)),
        # A source filter and a queue's "last update" order read in index order (no sort of a quarter of the table).
        Index("ix_ticket_source_id", "source", "id"),
        Index("ix_ticket_queue_updated_id", "queue_id", "updated_at", "id"),
        Index("ix_ticket_clock_running", "queue_id", "first_response_due_at",
              postgresql_where=text(CLOCK_RUNNING_SQL), sqlite_where=text(CLOCK_RUNNING_SQL)),
        # Per-person ticket limits count a requester's recent and open tickets (helpdesk.tickets.limits).
        Index("ix_ticket_requester_created", "requester_id", "created_at"),
        # The knowledge-gap report (helpdesk.deflection.services): recent tickets whose best match scored low.
        Index("ix_ticket_best_score_created_at", "best_score", "created_at"),
        # The dashboard's tickets out per day (helpdesk.tickets.reporting) reads resolutions by time.
        Index("ix_ticket_resolved_at", "resolved_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    source: Mapped[Source] = mapped_column(enum_column(Source, "ticket_source"))
    status: Mapped[Status] = mapped_column(enum_column(Status, "ticket_status"), default=Status.NEW, index=True)
    priority: Mapped[Priority] = mapped_column(enum_column(Priority, "ticket_priority"), default=Priority.NORMAL)
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queue.id"))
    requester_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), index=True)
    thread_key: Mapped[str | None] = mapped_column(String(200))
    #: Where the ticket came from outside: Slack channel/thread, forum topic/post, or the docs page.
    external: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    first_response_at: Mapped[datetime | None]
    #: When the first public staff answer is due (helpdesk.tickets.sla): set when the ticket gets a queue,
    #: moved later by the time spent waiting on the requester. None while unsorted.
    first_response_due_at: Mapped[datetime | None]
    #: Since when the clock stands still because the ticket waits on the requester; None while it runs.
    sla_paused_at: Mapped[datetime | None]
    #: When staff were warned that the first response nears its due time (once per due time).
    sla_warned_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    #: The triage decision made at filing: queue, confidence, reasons, priority reasons, the two best
    #: guesses and whether a person must sort it (helpdesk.triage.Decision.as_json()).
    triage: Mapped[dict[str, Any] | None]
    #: The ticket this one was merged into as a duplicate (helpdesk.tickets.duplicates): it is closed, and a
    #: new message in its thread joins that survivor. None for tickets never merged.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id", ondelete="SET NULL"), index=True)
    #: The knowledge-base articles offered for this ticket, worked out once (helpdesk.deflection): the
    #: acknowledgement in its thread, the requester's page and a redelivered acknowledgement all show the same
    #: ones. ``{"articles": [{"title", "url", "score"}, ...]}``; None until they were looked for.
    suggestions: Mapped[dict[str, Any] | None]
    #: The score of the best match the search found for the question (0 when nothing matched); None until
    #: searched or while search was down. Low scores are the knowledge-gap report's candidates.
    best_score: Mapped[float | None]
    #: When the requester said a suggested article answered the question (the ticket was then resolved as
    #: self-served), and where: ``web``, ``slack`` or ``discourse``. Set once; /metrics counts them.
    self_served_at: Mapped[datetime | None]
    self_served_via: Mapped[str | None] = mapped_column(String(16), index=True)
    #: The possible duplicates the ticket page showed last (helpdesk.tickets.duplicates.stored_duplicates):
    #: ``{"at", "upto", "min_score", "found": [[ticket id, score], ...]}``, so a view does not score again.
    duplicates: Mapped[dict[str, Any] | None]

    queue: Mapped[Queue | None] = relationship(lazy="joined")
    requester: Mapped[Person] = relationship(foreign_keys=[requester_id], lazy="joined")
    assignee: Mapped[Person | None] = relationship(foreign_keys=[assignee_id], lazy="joined")
    messages: Mapped[list[Message]] = relationship(
        back_populates="ticket", order_by="Message.id", cascade="all, delete-orphan"
    )


class Message(Base):
    __tablename__ = "message"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    body: Mapped[str] = mapped_column(Text)
    visibility: Mapped[Visibility] = mapped_column(enum_column(Visibility, "message_visibility"))
    direction: Mapped[Direction] = mapped_column(enum_column(Direction, "message_direction"))
    #: The message's id where it lives outside (Slack ts, forum post id), once known.
    external_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="messages")
    author: Mapped[Person | None] = relationship(lazy="joined")


class InboundDelivery(Base):
    """The idempotency ledger: one row per (source, external id) ever accepted.

    The row is inserted in the same transaction that files the ticket or message, so a retried or
    concurrent delivery of the same thing hits the unique constraint and changes nothing.
    """

    __tablename__ = "inbound_delivery"
    __table_args__ = (UniqueConstraint("source", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(255))
    #: A digest of the request, so reusing an idempotency key for a different request is refused.
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxItem(Base):
    """A delivery still to make (or made): a reply or acknowledgement bound for a channel."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Makes enqueueing idempotent: one delivery per (kind, message) however often it is asked for.
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    channel: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[OutboxStatus] = mapped_column(
        enum_column(OutboxStatus, "outbox_status"), default=OutboxStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: A worker that claimed the item holds it until then; a crashed worker's claim expires.
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    remote_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]


class EscalationState(enum.StrEnum):
    """Where an escalation stands, in the desk's words (the tracker's own status is kept beside it)."""

    #: Waiting in the outbox: the tracker has no issue yet (or the desk has not heard back).
    PENDING = "pending"
    #: The tracker has the issue and it is not done.
    OPEN = "open"
    #: The tracker says the issue is done (Jira status category "done", GitHub closed as completed).
    RESOLVED = "resolved"
    #: The tracker closed it without a fix (GitHub "not planned").
    CLOSED = "closed"
    #: The outbox gave up (dead item): the issue was never created; staff may escalate again.
    FAILED = "failed"

    @property
    def is_active(self) -> bool:
        return self in (EscalationState.PENDING, EscalationState.OPEN)


class Escalation(Base):
    """A ticket's bug report in the engineering tracker: the link and the tracker's last known state."""

    __tablename__ = "escalation"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    #: "jira" or "github", as configured when the escalation was made (kept even if the setting changes).
    tracker: Mapped[str] = mapped_column(String(16))
    #: Jira issue key ("DM-1234") or GitHub issue number ("42"); None until the tracker answered.
    remote_key: Mapped[str | None] = mapped_column(String(64))
    url: Mapped[str | None] = mapped_column(String(500))
    state: Mapped[EscalationState] = mapped_column(
        enum_column(EscalationState, "escalation_state"), default=EscalationState.PENDING
    )
    #: The tracker's own word for the state ("In Progress", "open", "closed").
    remote_status: Mapped[str | None] = mapped_column(String(100))
    summary: Mapped[str] = mapped_column(String(250))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_synced_at: Mapped[datetime | None]
    #: When the requester was told the tracker finished with it (once).
    resolved_at: Mapped[datetime | None]

    ticket: Mapped[Ticket] = relationship()
    created_by: Mapped[Person | None] = relationship(lazy="joined")


class IncidentStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Incident(Base):
    """Many reports of the same failure, grouped (helpdesk.tickets.incidents): staff answer it once."""

    __tablename__ = "incident"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[IncidentStatus] = mapped_column(
        enum_column(IncidentStatus, "incident_status"), default=IncidentStatus.OPEN, index=True
    )
    #: Who grouped it; None when the desk did, from the reports' text.
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None]
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))

    links: Mapped[list[IncidentTicket]] = relationship(
        back_populates="incident", order_by="IncidentTicket.id", cascade="all, delete-orphan"
    )
    answers: Mapped[list[IncidentAnswer]] = relationship(
        back_populates="incident", order_by="IncidentAnswer.id", cascade="all, delete-orphan"
    )


class IncidentTicket(Base):
    """One ticket's link to its incident; a ticket belongs to at most one."""

    __tablename__ = "incident_ticket"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"), index=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), unique=True)
    #: The text similarity that linked it (0 to 1); None when a person linked it by hand.
    score: Mapped[float | None]
    linked_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)

    incident: Mapped[Incident] = relationship(back_populates="links")
    ticket: Mapped[Ticket] = relationship(lazy="joined")


class IncidentAnswer(Base):
    """Staff's one answer to an incident; unique per idempotency key, so a double-click sends once."""

    __tablename__ = "incident_answer"
    __table_args__ = (UniqueConstraint("incident_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    incident: Mapped[Incident] = relationship(back_populates="answers")
    author: Mapped[Person | None] = relationship(lazy="joined")
    replies: Mapped[list[IncidentReply]] = relationship(order_by="IncidentReply.id", cascade="all, delete-orphan")


class IncidentReply(Base):
    """The public reply an incident answer made on one linked ticket: at most one per (answer, ticket)."""

    __tablename__ = "incident_reply"
    __table_args__ = (UniqueConstraint("answer_id", "ticket_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("incident_answer.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
