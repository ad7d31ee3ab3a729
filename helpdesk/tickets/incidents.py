"""Incidents: many reports of the same failure, grouped so that staff answer once and every requester hears.

Grouping (:func:`link_to_incident`) runs in ``helpdesk worker`` for every newly filed ticket, from an
``incident_check`` outbox item the filing enqueues: comparing texts costs milliseconds, which intake (Slack's
three seconds, the intake benchmark) should not wait for. The new ticket is compared with a bounded set: open,
unmerged tickets of **any queue and any channel** filed within ``HELPDESK_INCIDENT_WINDOW_MINUTES`` of it (the
newest :data:`CANDIDATES_MAX`), plus the most recent tickets of open incidents. Any queue, because an outage is
reported in different words and triage may sort its reports into different queues. When one of the similar
tickets already belongs to an open incident the new ticket joins it; otherwise an incident forms once the
similar tickets come from at least ``HELPDESK_INCIDENT_MIN_REPORTS`` different requesters. Every ticket joining
an incident with at least that many reports is raised to urgent, with the reason recorded.

Answering (:meth:`IncidentService.answer`) makes one public reply per linked ticket through
:meth:`TicketService.reply <helpdesk.tickets.services.TicketService.reply>`, so each requester gets it in their
own Slack thread or forum topic through the outbox. The answer is stored under an idempotency key (the form
carries one), and each per-ticket reply is recorded in the same transaction as its message: answering twice with
the same key, or resuming an answer interrupted half-way, never sends a ticket the same answer twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from helpdesk import audit
from helpdesk.accounts.models import Person
from helpdesk.db import ID_MAX, utcnow
from helpdesk.exceptions import ConflictError, HelpdeskError, InvalidInputError, NotFoundError, PermissionDeniedError
from helpdesk.text import shorten, strict_text
from helpdesk.tickets.models import (
    Incident,
    IncidentAnswer,
    IncidentReply,
    IncidentStatus,
    IncidentTicket,
    Priority,
    Status,
    Ticket,
)
from helpdesk.tickets.similarity import similarity_matrix, ticket_text

if TYPE_CHECKING:
    from helpdesk.config import Settings
    from helpdesk.tickets.services import TicketService

#: At most this many tickets of the window are compared with a new one (the newest): a burst stays bounded.
CANDIDATES_MAX = 200
#: And at most this many recent tickets of open incidents, so an incident older than the window still gathers.
INCIDENT_TICKETS_MAX = 100
ANSWER_MAX = 20_000
TITLE_MAX = 200
#: What an idempotency key may look like (the console's form sends a UUID's hex digits).
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
OPEN_STATUSES = tuple(s for s in Status if s.is_open)


@dataclass(frozen=True)
class IncidentPolicy:
    """The grouping rule's settings (``HELPDESK_INCIDENT_*``)."""

    window: timedelta = timedelta(minutes=60)
    min_reports: int = 3
    min_similarity: float = 0.2

    @classmethod
    def from_settings(cls, settings: Settings) -> IncidentPolicy:
        return cls(timedelta(minutes=settings.incident_window_minutes), settings.incident_min_reports,
                   settings.incident_min_similarity)


@dataclass(frozen=True)
class Answered:
    """What :meth:`IncidentService.answer` did: the answer, how many tickets it replied on now, and whether the
    key was seen before (a double-click or a retry)."""

    answer: IncidentAnswer
    sent: int
    replayed: bool


def link_to_incident(session: Session, ticket_id: int, policy: IncidentPolicy | None = None, *,
                     clock: Callable[[], datetime] = utcnow) -> Incident | None:
    """Group a newly filed ticket with reports of the same failure; uncommitted (the caller commits).

    Returns the incident the ticket is now in, or None. A ticket already in an incident, merged, solved or
    gone is left as it is. Two workers grouping at once cannot link a ticket twice (``incident_ticket`` is
    unique per ticket): the loser's commit fails and its outbox item is tried again.
    """
    policy = policy or IncidentPolicy()
    ticket = session.get(Ticket, ticket_id)
    if ticket is None or ticket.merged_into_id is not None or not ticket.status.is_open:
        return None
    existing = incident_of(session, ticket.id)
    if existing is not None:
        return existing
    candidates = _candidates(session, ticket, policy)
    if not candidates:
        return None
    texts = [ticket_text(t.subject, t.body) for t in (ticket, *(c for c, _ in candidates))]
    matrix = similarity_matrix(texts)
    now = clock()
    # Joining: the open incident of the most similar ticket that belongs to one.
    joined = [(incident, float(matrix[0, i + 1])) for i, (_, incident) in enumerate(candidates)
              if incident is not None and matrix[0, i + 1] >= policy.min_similarity]
    if joined:
        incident, score = max(joined, key=lambda pair: pair[1])
        _link(session, incident, ticket, score=round(score, 4), actor=None, now=now, policy=policy)
        return incident
    # Forming: the unlinked tickets reachable from the new one through similar pairs (single-link), since two
    # people rarely describe one failure alike, but each report is like some other one.
    free = [i + 1 for i, (_, incident) in enumerate(candidates) if incident is None]
    group, frontier = {0}, [0]
    while frontier:
        current = frontier.pop()
        for i in free:
            if i not in group and matrix[current, i] >= policy.min_similarity:
                group.add(i)
                frontier.append(i)
    if len(group) < 2:
        return None
    everyone = [ticket, *(c for c, _ in candidates)]
    # Each member's score: how alike it reads to its closest fellow report.
    members = [(everyone[i], round(max(float(matrix[i, j]) for j in group if j != i), 4)) for i in sorted(group)]
    requesters = {member.requester_id for member, _ in members}
    if len(requesters) < policy.min_reports:
        return None
    first = min((member for member, _ in members), key=lambda t: (t.created_at, t.id))
    incident = Incident(title=shorten(first.subject, TITLE_MAX), status=IncidentStatus.OPEN, created_at=now,
                        updated_at=now)
    session.add(incident)
    session.flush()
    audit.record(session, "incident.created", actor_id=None, ticket_id=ticket.id, incident_id=incident.id,
                 reports=len(members), requesters=len(requesters))
    for member, score in sorted(members, key=lambda pair: pair[0].id):
        _link(session, incident, member, score=score, actor=None, now=now, policy=policy)
    return incident


def incident_of(session: Session, ticket_id: int) -> Incident | None:
    """The incident a ticket is linked to, if any."""
    return session.scalar(
        select(Incident).join(IncidentTicket, IncidentTicket.incident_id == Incident.id)
        .where(IncidentTicket.ticket_id == ticket_id))


def report_count(session: Session, incident_id: int) -> int:
    return session.scalar(select(func.count()).select_from(IncidentTicket)
                          .where(IncidentTicket.incident_id == incident_id)) or 0


def _candidates(session: Session, ticket: Ticket, policy: IncidentPolicy) -> list[tuple[Ticket, Incident | None]]:
    """Tickets to compare with: the window's open unmerged tickets, and recent tickets of open incidents."""
    in_window = list(session.scalars(
        select(Ticket).where(
            Ticket.id != ticket.id, Ticket.merged_into_id.is_(None), Ticket.status.in_(OPEN_STATUSES),
            Ticket.created_at >= ticket.created_at - policy.window,
            Ticket.created_at <= ticket.created_at + policy.window,
        ).order_by(Ticket.id.desc()).limit(CANDIDATES_MAX)
    ).unique())
    links = {link.ticket_id: link.incident for link in session.scalars(
        select(IncidentTicket).join(Incident, Incident.id == IncidentTicket.incident_id)
        .where(Incident.status == IncidentStatus.OPEN, IncidentTicket.ticket_id != ticket.id)
        .order_by(IncidentTicket.id.desc()).limit(INCIDENT_TICKETS_MAX)
    )}
    # Linked tickets of the window belong to their incident (open or closed: a closed one gathers no more).
    linked_in_window = {row.ticket_id: row.incident_id for row in session.execute(
        select(IncidentTicket.ticket_id, IncidentTicket.incident_id)
        .where(IncidentTicket.ticket_id.in_([t.id for t in in_window]))
    )} if in_window else {}
    chosen: dict[int, tuple[Ticket, Incident | None]] = {}
    for candidate in in_window:
        if candidate.id in links:
            chosen[candidate.id] = (candidate, links[candidate.id])
        elif candidate.id not in linked_in_window:
            chosen[candidate.id] = (candidate, None)
    for ticket_id, incident in links.items():
        if ticket_id not in chosen:
            linked = session.get(Ticket, ticket_id)
            if linked is not None and linked.merged_into_id is None:
                chosen[ticket_id] = (linked, incident)
    return list(chosen.values())


def _link(session: Session, incident: Incident, ticket: Ticket, *, score: float | None, actor: Person | None,
          now: datetime, policy: IncidentPolicy) -> None:
    session.add(IncidentTicket(incident=incident, ticket_id=ticket.id, score=score,
                               linked_by_id=actor.id if actor else None, linked_at=now))
    session.flush()
    incident.updated_at = now
    reports = report_count(session, incident.id)
    audit.record(session, "incident.linked", actor_id=actor.id if actor else None, ticket_id=ticket.id,
                 incident_id=incident.id, score=score, reports=reports)
    if reports >= policy.min_reports:
        for member in [link.ticket for link in incident.links]:
            _raise_to_urgent(session, member, incident, reports, actor, now)


def _raise_to_urgent(session: Session, ticket: Ticket, incident: Incident, reports: int, actor: Person | None,
                     now: datetime) -> None:
    """Urgent, with the reason beside triage's own (``triage.priority_reasons``) and in the audit trail."""
    if ticket.priority is Priority.URGENT or not ticket.status.is_open:
        return
    reason = f"raised to urgent: incident #{incident.id} has {reports} reports of the same failure"
    previous, ticket.priority, ticket.updated_at = ticket.priority, Priority.URGENT, now
    if ticket.triage is not None:
        # A new dict: the JSON column notices a replaced value, not one changed in place.
        ticket.triage = {**ticket.triage,
                         "priority_reasons": [*ticket.triage.get("priority_reasons", []), reason]}
    audit.record(session, "ticket.updated", actor_id=actor.id if actor else None, ticket_id=ticket.id,
                 changes={"priority": [previous.value, Priority.URGENT.value]}, reason=reason,
                 incident_id=incident.id)


class IncidentService:
    """Staff's incident work: list, link and unlink, answer once for all, close. Never imports Flask."""

    def __init__(self, session: Session, tickets: TicketService, *, policy: IncidentPolicy | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.session = session
        self.tickets = tickets
        self.policy = policy or IncidentPolicy()
        self.clock = clock

    # -- reading ---------------------------------------------------------------------------------

    def list(self, limit: int = 100) -> list[tuple[Incident, int]]:
        """Incidents with their report counts: open ones first, newest first."""
        counts = (select(IncidentTicket.incident_id, func.count().label("reports"))
                  .group_by(IncidentTicket.incident_id).subquery())
        rows = self.session.execute(
            select(Incident, func.coalesce(counts.c.reports, 0))
            .outerjoin(counts, counts.c.incident_id == Incident.id)
            .order_by((Incident.status == IncidentStatus.OPEN).desc(), Incident.id.desc()).limit(limit)
        )
        return [(incident, reports) for incident, reports in rows]

    def get(self, actor: Person, incident_id: int) -> Incident:
        self._staff(actor)
        incident = self.session.get(Incident, incident_id) if 0 < incident_id <= ID_MAX else None
        if incident is None:
            raise NotFoundError(f"No incident {incident_id}.")
        return incident

    # -- changing --------------------------------------------------------------------------------

    def create(self, actor: Person, ticket_id: int, title: str | None = None) -> Incident:
        """Start an incident by hand from one ticket (others are linked to it later)."""
        self._staff(actor)
        ticket = self.tickets.get(actor, ticket_id)
        self._linkable(ticket)
        now = self.clock()
        title = strict_text(title, "title", TITLE_MAX, required=False) or shorten(ticket.subject, TITLE_MAX)
        incident = Incident(title=title, status=IncidentStatus.OPEN, created_by_id=actor.id, created_at=now,
                            updated_at=now)
        self.session.add(incident)
        self.session.flush()
        audit.record(self.session, "incident.created", actor_id=actor.id, ticket_id=ticket.id,
                     incident_id=incident.id, reports=1)
        _link(self.session, incident, ticket, score=None, actor=actor, now=now, policy=self.policy)
        self._commit()
        return incident

    def link(self, actor: Person, incident_id: int, ticket_id: int) -> IncidentTicket:
        """Link a ticket by hand; it is raised to urgent when the incident has enough reports."""
        incident = self._open(actor, incident_id)
        ticket = self.tickets.get(actor, ticket_id)
        self._linkable(ticket)
        _link(self.session, incident, ticket, score=None, actor=actor, now=self.clock(), policy=self.policy)
        self._commit()
        return next(link for link in incident.links if link.ticket_id == ticket.id)

    def unlink(self, actor: Person, incident_id: int, ticket_id: int) -> None:
        """Take a ticket out of an incident (its priority stays as it is: a person may lower it)."""
        incident = self.get(actor, incident_id)
        link = next((link for link in incident.links if link.ticket_id == ticket_id), None)
        if link is None:
            raise NotFoundError(f"Ticket {ticket_id} is not part of incident {incident_id}.")
        incident.links.remove(link)
        incident.updated_at = self.clock()
        audit.record(self.session, "incident.unlinked", actor_id=actor.id, ticket_id=ticket_id,
                     incident_id=incident.id)
        self._commit()

    def answer(self, actor: Person, incident_id: int, body: str, key: str) -> Answered:
        """One public reply on every linked ticket, each to its requester's own channel; once per ``key``.

        A merged ticket is answered on its survivor when that is linked too (the survivor's answers reach the
        merged thread), else on itself.

        Raises
        ------
        ConflictError
            ``key`` was used for a different answer to this incident.
        """
        incident = self.get(actor, incident_id)
        body = strict_text(body, "body", ANSWER_MAX)
        if not isinstance(key, str) or not KEY_PATTERN.match(key):
            raise InvalidInputError.for_field("key", "The answer has no valid idempotency key (8 to 64 letters, "
                                              "digits, - or _); reload the page and send again.")
        now = self.clock()
        answer, replayed = IncidentAnswer(incident_id=incident.id, idempotency_key=key, body=body,
                                          author_id=actor.id, created_at=now), False
        self.session.add(answer)
        try:
            self.session.flush()
            audit.record(self.session, "incident.answered", actor_id=actor.id, incident_id=incident.id,
                         answer_id=answer.id, tickets=[link.ticket_id for link in incident.links])
            incident.updated_at = now
            self.session.commit()
        except IntegrityError:
            self.session.rollback()
            answer = self.session.scalars(select(IncidentAnswer).where(
                IncidentAnswer.incident_id == incident_id, IncidentAnswer.idempotency_key == key)).one()
            if answer.body != body:
                raise ConflictError("This answer's key was already used for a different answer; reload the page.",
                                    code="idempotency_key_reused") from None
            replayed = True
        sent = 0
        for ticket_id in self._answer_targets(incident_id):
            if self.session.scalar(select(IncidentReply.id).where(
                    IncidentReply.answer_id == answer.id, IncidentReply.ticket_id == ticket_id)) is not None:
                continue  # this ticket has it already (a double-click, or a resumed answer)
            # The record commits with the reply's message (TicketService.reply commits both), or neither does.
            reply = IncidentReply(answer_id=answer.id, ticket_id=ticket_id, created_at=now)
            self.session.add(reply)
            try:
                message = self.tickets.reply(actor, ticket_id, body)
            except IntegrityError:
                self.session.rollback()  # a concurrent request with the same key replied on this ticket first
                continue
            except HelpdeskError:
                self.session.rollback()
                raise
            reply = self.session.get(IncidentReply, reply.id) or reply
            reply.message_id = message.id
            self.session.commit()
            sent += 1
        return Answered(answer, sent, replayed)

    def close(self, actor: Person, incident_id: int, *, resolve_tickets: bool = False) -> Incident:
        """Close the incident (it gathers no more reports); optionally resolve its open tickets too."""
        incident = self._open(actor, incident_id)
        now = self.clock()
        incident.status, incident.closed_at, incident.closed_by_id, incident.updated_at = (
            IncidentStatus.CLOSED, now, actor.id, now)
        ticket_ids = [link.ticket_id for link in incident.links]
        audit.record(self.session, "incident.closed", actor_id=actor.id, incident_id=incident.id,
                     resolve_tickets=resolve_tickets, tickets=ticket_ids)
        self._commit()
        if resolve_tickets:
            for ticket_id in ticket_ids:
                ticket = self.tickets.find(ticket_id)
                if ticket.status.is_open and ticket.merged_into_id is None:
                    self.tickets.update(actor, ticket_id, {"status": Status.RESOLVED.value})
        return incident

    # -- helpers ---------------------------------------------------------------------------------

    def _answer_targets(self, incident_id: int) -> list[int]:
        rows = self.session.execute(
            select(Ticket.id, Ticket.merged_into_id).join(IncidentTicket, IncidentTicket.ticket_id == Ticket.id)
            .where(IncidentTicket.incident_id == incident_id).order_by(Ticket.id)
        ).all()
        linked = {row.id for row in rows}
        return [row.id for row in rows if row.merged_into_id is None or row.merged_into_id not in linked]

    def _open(self, actor: Person, incident_id: int) -> Incident:
        incident = self.get(actor, incident_id)
        if incident.status is not IncidentStatus.OPEN:
            raise ConflictError(f"Incident {incident_id} is closed.", code="incident_closed")
        return incident

    def _linkable(self, ticket: Ticket) -> None:
        current = incident_of(self.session, ticket.id)
        if current is not None:
            raise ConflictError(f"Ticket {ticket.id} is already part of incident #{current.id}; unlink it there "
                                "first.", code="already_linked")
        if ticket.merged_into_id is not None:
            raise ConflictError(f"Ticket {ticket.id} was merged into #{ticket.merged_into_id}; link that one.",
                                code="merged")

    def _commit(self) -> None:
        try:
            self.session.commit()
        except IntegrityError:
            self.session.rollback()
            raise ConflictError("Someone changed this incident at the same time; reload and try again.",
                                code="concurrent_change") from None

    @staticmethod
    def _staff(actor: Person) -> None:
        if not actor.is_staff:
            raise PermissionDeniedError("Only staff work incidents.")


def incident_json(incident: Incident, reports: int | None = None) -> dict[str, Any]:
    """An incident as the console's pages and logs describe it."""
    return {"id": incident.id, "title": incident.title, "status": incident.status.value,
            "reports": reports if reports is not None else len(incident.links),
            "created_at": incident.created_at.isoformat(), "tickets": [link.ticket_id for link in incident.links]}
