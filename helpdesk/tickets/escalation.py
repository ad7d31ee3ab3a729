"""Escalation to engineering: a tier-two expert files a confirmed bug in the engineering tracker in one action.

The flow, each step in its own transaction:

1. **Escalate** (:meth:`EscalationService.escalate`, from the staff page or ``POST /api/v1/tickets/<id>/
   escalations``). An :class:`~helpdesk.tickets.models.Escalation` row (state ``pending``), its outbox item
   (kind ``escalation``, dedupe key ``escalation:<ticket>:<escalation>``) and the ``ticket.escalated`` audit
   event commit together. Nothing talks to the tracker yet, so a slow or broken tracker never fails the click.
2. **Deliver** (:meth:`EscalationService.deliver`, called by the worker for that item). The issue is filed
   with the escalation's marker as a label and a line of text. When the item was attempted before (a crash,
   a lost answer), the tracker is first searched for the marker and an issue found is recorded instead of
   filing a second one. The link, the state, the item's ``delivered`` and a public reply to the requester
   ("We have reported this … as DM-123") commit together through :meth:`TicketService.reply`, so the
   requester hears of the issue exactly once, in their Slack thread or forum topic.
3. **Sync** (:meth:`EscalationService.sync`, ``helpdesk escalations sync``). Each open escalation's state is
   read from the tracker; when it becomes resolved or closed the requester is told, once.

This module knows no transport: the factory hands it ``tracker_for``, which builds the clients of
:mod:`helpdesk.channels.trackers`; their errors reach the worker unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk import audit
from helpdesk.accounts.models import Person
from helpdesk.db import utcnow
from helpdesk.exceptions import ConflictError, HelpdeskError, PermissionDeniedError
from helpdesk.text import strict_text
from helpdesk.tickets.models import Escalation, EscalationState, OutboxItem, OutboxKind, OutboxStatus, Ticket
from helpdesk.tickets.services import BODY_MAX, TicketService, outbox_insert

log = logging.getLogger("helpdesk.escalation")

SUMMARY_MAX = 250
#: The trackers escalation can file in, with what people call them.
TRACKERS = {"jira": "Jira", "github": "GitHub"}


class EscalationNotConfiguredError(ConflictError):
    """No engineering tracker is chosen, or the chosen one lacks its settings (409: the desk, not the request)."""

    code = "escalation_not_configured"


def marker_for(escalation_id: int) -> str:
    """The label and line of text that find the issue of one escalation again, in either tracker."""
    return f"helpdesk-escalation-{escalation_id}"


@dataclass(frozen=True)
class IssueDraft:
    """What to file: title, description, the marker that finds it again, and labels for people."""

    title: str
    description: str
    marker: str
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class RemoteIssue:
    """An issue as the tracker describes it."""

    key: str
    url: str
    #: open, resolved (fixed, done) or closed (closed without a fix).
    state: EscalationState
    #: The tracker's own word: Jira's status name ("In Progress"), GitHub's state and reason ("closed: completed").
    status: str


class Tracker(Protocol):
    """What escalation needs of a tracker (:class:`helpdesk.channels.trackers.Tracker` implements it)."""

    name: str
    label: str

    def create(self, draft: IssueDraft) -> RemoteIssue: ...

    def find(self, marker: str) -> RemoteIssue | None: ...

    def fetch(self, key: str) -> RemoteIssue: ...


@dataclass
class SyncResult:
    """What ``helpdesk escalations sync`` did."""

    checked: int = 0
    changed: int = 0
    told: int = 0
    failed: int = 0

    def __str__(self) -> str:
        return (f"{self.checked} checked, {self.changed} changed state, {self.told} requesters told, "
                f"{self.failed} could not be read")


class EscalationService:
    """Escalates tickets, files their issues (for the worker) and follows the tracker's state. No Flask."""

    def __init__(self, session: Session, tickets: TicketService, *, tracker: str, missing: list[str],
                 tracker_for: Callable[[str], Tracker], public_url: str,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.session = session
        self.tickets = tickets
        #: The configured tracker (``HELPDESK_ESCALATION_TRACKER``): jira, github or none.
        self.tracker = tracker
        #: Settings the configured tracker still needs (empty when it is ready).
        self.missing = missing
        self.tracker_for = tracker_for
        self.public_url = public_url.rstrip("/")
        self.clock = clock

    # -- reading ---------------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        return self.tracker in TRACKERS and not self.missing

    @property
    def tracker_label(self) -> str:
        return TRACKERS.get(self.tracker, "none")

    def not_configured_reason(self) -> str | None:
        """Why staff cannot escalate now, in words for them; None when they can."""
        if self.tracker not in TRACKERS:
            return ("No engineering tracker is configured: an operator sets HELPDESK_ESCALATION_TRACKER to jira or "
                    "github, with that tracker's settings (operator guide: Escalation to engineering).")
        if self.missing:
            return (f"Escalation to {self.tracker_label} is not ready: an operator still has to set "
                    + ", ".join(self.missing) + ".")
        return None

    def for_ticket(self, ticket_id: int) -> list[Escalation]:
        return list(self.session.scalars(
            select(Escalation).where(Escalation.ticket_id == ticket_id).order_by(Escalation.id)))

    # -- 1. escalate -----------------------------------------------------------------------------

    def escalate(self, actor: Person, ticket_id: int, summary: str | None = None,
                 description: str | None = None) -> tuple[Escalation, bool]:
        """Escalate ticket ``ticket_id``; the escalation and whether it is new.

        A ticket whose escalation is still pending or open is not escalated again: that escalation is
        returned (``False``), so a double click or a retried request files one issue. Once the tracker has
        resolved or closed it (or its delivery failed), escalating again files a new issue.

        Raises
        ------
        PermissionDeniedError
            The actor is not staff (403).
        NotFoundError
            No such ticket (404).
        EscalationNotConfiguredError
            No tracker is configured, or it lacks settings (409).
        InvalidInputError
            A blank or too long summary or description (422).
        """
        if not actor.is_staff:
            raise PermissionDeniedError("Only staff escalate tickets to engineering.")
        ticket = self.tickets.get(actor, ticket_id)
        reason = self.not_configured_reason()
        if reason:
            raise EscalationNotConfiguredError(reason)
        title = strict_text(ticket.subject if summary is None else summary, "summary", SUMMARY_MAX)
        text = strict_text(ticket.body if description is None else description, "description", BODY_MAX)
        # Lock the ticket's row so that two clicks at once make one escalation (SQLite: writers queue anyway).
        self.session.execute(select(Ticket.id).where(Ticket.id == ticket.id).with_for_update())
        active = self.session.scalar(
            select(Escalation).where(Escalation.ticket_id == ticket.id,
                                     Escalation.state.in_([EscalationState.PENDING, EscalationState.OPEN]))
            .order_by(Escalation.id.desc()).limit(1))
        if active is not None:
            self.session.rollback()
            return active, False
        now = self.clock()
        escalation = Escalation(ticket_id=ticket.id, tracker=self.tracker, summary=title, created_by_id=actor.id,
                                state=EscalationState.PENDING, created_at=now)
        self.session.add(escalation)
        self.session.flush()
        self.session.execute(outbox_insert(
            OutboxKind.ESCALATION, self.tracker, f"escalation:{ticket.id}:{escalation.id}", now, ticket_id=ticket.id,
            payload={"escalation": escalation.id, "description": self._issue_text(ticket, text)},
        ))
        audit.record(self.session, "ticket.escalated", actor_id=actor.id, ticket_id=ticket.id,
                     escalation_id=escalation.id, tracker=self.tracker, summary=title)
        self.session.commit()
        return escalation, True

    def _issue_text(self, ticket: Ticket, description: str) -> str:
        """The issue's description: the expert's words, then where it came from (no requester's name or email:
        the tracker may be public)."""
        queue = ticket.queue.name if ticket.queue else "unsorted"
        return (f"{description}\n\n---\nEscalated from DP0 Support Desk ticket #{ticket.id} (via "
                f"{ticket.source.value}, queue {queue}): {self.public_url}/staff/tickets/{ticket.id}")

    # -- 2. deliver (the worker) -----------------------------------------------------------------

    def deliver(self, item_id: int, *, attempted_before: bool) -> RemoteIssue | None:
        """File the issue of outbox item ``item_id`` (kind ``escalation``), exactly once; commits.

        Returns the issue, or None when there was nothing to do (the item or its escalation is gone, or was
        delivered already). Tracker errors propagate for the worker to retry or give up.
        """
        item = self.session.get(OutboxItem, item_id)
        if item is None or item.status is not OutboxStatus.PENDING:
            self.session.rollback()
            return None
        escalation = self._escalation_of(item)
        if escalation is None:  # a payload naming no escalation: nothing can ever deliver it
            item.status, item.locked_until, item.last_error = OutboxStatus.DEAD, None, "no such escalation"
            self.session.commit()
            return None
        if escalation.remote_key:  # recorded by an attempt whose outbox write was lost: nothing to file
            self._mark_delivered(item, escalation.remote_key)
            self.session.commit()
            return None
        draft = IssueDraft(title=escalation.summary, description=str((item.payload or {}).get("description") or
                                                                    escalation.summary),
                           marker=marker_for(escalation.id), labels=("helpdesk", f"helpdesk-ticket-"
                                                                                 f"{escalation.ticket_id}"))
        tracker_name, escalation_id = escalation.tracker, escalation.id
        self.session.rollback()  # no transaction stays open across the network calls

        tracker = self.tracker_for(tracker_name)
        issue = None
        if attempted_before:
            issue = tracker.find(draft.marker)
            if issue is not None:
                log.info("escalation %s was filed before as %s; recording it", escalation_id, issue.key)
        if issue is None:
            issue = tracker.create(draft)
        self._record_filed(item_id, escalation_id, issue, tracker.label)
        return issue

    def _escalation_of(self, item: OutboxItem | None) -> Escalation | None:
        escalation_id = (item.payload or {}).get("escalation") if item is not None else None
        return self.session.get(Escalation, int(escalation_id)) if isinstance(escalation_id, int) else None

    def _record_filed(self, item_id: int, escalation_id: int, issue: RemoteIssue, label: str) -> None:
        """The link on the ticket, the item delivered, and the requester told: one commit."""
        item = self.session.get(OutboxItem, item_id)
        escalation = self._locked(escalation_id)
        if item is None or escalation is None or item.status is not OutboxStatus.PENDING:
            self.session.rollback()  # pragma: no cover - staff or a cascade removed it meanwhile
            return
        self._mark_delivered(item, issue.key)
        if escalation.remote_key:  # pragma: no cover - a concurrent attempt recorded it first
            self.session.commit()
            return
        now = self.clock()
        escalation.remote_key, escalation.url = issue.key[:64], issue.url[:500]
        escalation.state, escalation.remote_status, escalation.last_synced_at = (
            issue.state, issue.status[:100] or None, now)
        audit.record(self.session, "escalation.filed", actor_id=None, ticket_id=escalation.ticket_id,
                     escalation_id=escalation.id, tracker=escalation.tracker, key=issue.key, url=issue.url)
        name = self.issue_name(escalation)
        self._tell_requester(escalation, f"We have reported this to the engineering team as {name} ({issue.url}). "
                                         "We will tell you here when it is fixed.")
        log.info("escalation %s filed in %s as %s", escalation.id, label, issue.key)

    def _mark_delivered(self, item: OutboxItem, remote_id: str) -> None:
        item.status, item.remote_id, item.delivered_at, item.locked_until = (
            OutboxStatus.DELIVERED, remote_id[:255], self.clock(), None)

    def failed(self, item_id: int) -> None:
        """After the worker gave up on an item: its escalation is failed, and staff may escalate again."""
        item = self.session.get(OutboxItem, item_id)
        escalation = self._escalation_of(item)
        if item is not None and escalation is not None and item.status is OutboxStatus.DEAD \
                and escalation.state is EscalationState.PENDING:
            escalation.state, escalation.remote_status = EscalationState.FAILED, (item.last_error or "")[:100] or None
            audit.record(self.session, "escalation.failed", actor_id=None, ticket_id=escalation.ticket_id,
                         escalation_id=escalation.id, error=item.last_error)
            self.session.commit()
        else:
            self.session.rollback()

    # -- 3. sync ---------------------------------------------------------------------------------

    def sync(self, limit: int = 500) -> SyncResult:
        """Read each open escalation's state from its tracker; tell requesters once their issue is done."""
        result = SyncResult()
        rows = self.session.execute(
            select(Escalation.id, Escalation.tracker, Escalation.remote_key)
            .where(Escalation.state == EscalationState.OPEN, Escalation.remote_key.is_not(None))
            .order_by(Escalation.last_synced_at.is_not(None), Escalation.last_synced_at, Escalation.id)
            .limit(limit)).all()
        self.session.rollback()
        trackers: dict[str, Tracker] = {}
        for escalation_id, tracker_name, key in rows:
            result.checked += 1
            try:
                if tracker_name not in trackers:
                    trackers[tracker_name] = self.tracker_for(tracker_name)
                issue = trackers[tracker_name].fetch(key)
            except Exception as exc:  # noqa: BLE001 - one unreadable issue (or tracker) must not stop the rest
                result.failed += 1
                log.warning("escalation %s (%s %s): cannot read its state: %s", escalation_id, tracker_name, key, exc)
                continue
            changed, told = self.apply(escalation_id, issue)
            result.changed += changed
            result.told += told
        return result

    def apply(self, escalation_id: int, issue: RemoteIssue) -> tuple[bool, bool]:
        """Record what the tracker says of one escalation's issue; (state changed, requester told). Commits."""
        escalation = self._locked(escalation_id)
        if escalation is None:  # pragma: no cover - the ticket was deleted meanwhile
            self.session.rollback()
            return False, False
        now = self.clock()
        previous = escalation.state
        escalation.last_synced_at, escalation.remote_status = now, issue.status[:100] or None
        escalation.url = issue.url[:500] or escalation.url
        if issue.state is previous:
            self.session.commit()
            return False, False
        escalation.state = issue.state
        audit.record(self.session, "escalation.state_changed", actor_id=None, ticket_id=escalation.ticket_id,
                     escalation_id=escalation.id, state=[previous.value, issue.state.value], status=issue.status)
        told = False
        if issue.state in (EscalationState.RESOLVED, EscalationState.CLOSED) and escalation.resolved_at is None:
            escalation.resolved_at = now
            name, url = self.issue_name(escalation), escalation.url
            if issue.state is EscalationState.RESOLVED:
                text = (f"The engineering team has marked {name} ({url}) as fixed. If you still see the problem, "
                        "reply here and we will look again.")
            else:
                text = (f"The engineering team closed {name} ({url}) without a change. If the problem still "
                        "matters to you, reply here and we will look again.")
            told = self._tell_requester(escalation, text)
        else:
            self.session.commit()
        return True, told

    # -- helpers ---------------------------------------------------------------------------------

    def _locked(self, escalation_id: int) -> Escalation | None:
        """The escalation, its row locked until the commit (PostgreSQL; SQLite's writers queue anyway) and read
        afresh, so two workers or syncs never both record or tell. The lock names the row alone: PostgreSQL
        refuses FOR UPDATE over the outer join that loads ``created_by``."""
        self.session.execute(select(Escalation.id).where(Escalation.id == escalation_id).with_for_update())
        return self.session.get(Escalation, escalation_id, populate_existing=True)

    @staticmethod
    def issue_name(escalation: Escalation) -> str:
        """How the requester is told of the issue: ``DM-123`` in Jira, ``GitHub issue #42``."""
        if escalation.tracker == "github":
            return f"GitHub issue #{escalation.remote_key}"
        return f"Jira issue {escalation.remote_key}"

    def _tell_requester(self, escalation: Escalation, text: str) -> bool:
        """A public reply through the one write path (it commits what the session holds); the reply goes back
        to the ticket's Slack thread or forum topic by the outbox. Written as the expert who escalated, else the
        ticket's owner; with neither on the staff any more, the requester is not told (logged)."""
        ticket = self.session.get(Ticket, escalation.ticket_id)
        author = next((p for p in (escalation.created_by, ticket.assignee if ticket else None)
                       if p is not None and p.is_staff), None)
        if ticket is None or author is None:
            log.warning("escalation %s: nobody on the staff to tell the requester as; not told", escalation.id)
            self.session.commit()
            return False
        try:
            self.tickets.reply(author, ticket.id, text)
        except HelpdeskError as exc:  # pragma: no cover - refused before writing: keep the state change regardless
            log.warning("escalation %s: could not tell the requester: %s", escalation.id, exc.message)
            self.session.commit()
            return False
        return True
