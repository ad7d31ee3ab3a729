"""Possible duplicates of a ticket, by text similarity across channels, and merging one ticket into another.

Candidates are found when a staff member opens a ticket, never at intake: the unmerged tickets of every channel
and status filed within :data:`LOOKBACK` of it (the newest :data:`CANDIDATES_MAX`), scored with
:mod:`helpdesk.tickets.similarity`, the best :data:`SHOWN` at or above ``HELPDESK_DUPLICATE_MIN_SIMILARITY``.
The ticket page does not score on every view (about 60 ms at 500 candidates): :func:`stored_duplicates` keeps the
best matches in ``ticket.duplicates`` with when they were found and the newest ticket number compared, and scores
again only when tickets were filed since, the ticket's window is still open and the stored result is older than
:data:`REFRESH` (a ticket's own text never changes after filing; merged candidates are left out as they are read).

Merging a ticket into a survivor keeps both conversations where they are, linked: the merged ticket is closed
and points at the survivor (``merged_into_id``), its messages stay its own and the survivor's page shows them.
Each requester keeps their own thread: a new message in the merged ticket's Slack thread or forum topic joins
the survivor (``TicketService.receive`` follows ``merged_into_id``), and every public staff answer on the
survivor is also delivered into each merged ticket's thread (:func:`forward_reply_writes`, one outbox item per
merged ticket, the same message). Both requesters are told through a public reply on each ticket, and
``ticket.merged`` is audited on both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Insert, func, select, update
from sqlalchemy.orm import Session

from helpdesk import audit
from helpdesk.accounts.models import Person
from helpdesk.db import ID_MAX, utcnow
from helpdesk.exceptions import InvalidInputError, InvalidTransitionError, PermissionDeniedError
from helpdesk.tickets import sla
from helpdesk.tickets.models import Source, Status, Ticket
from helpdesk.tickets.similarity import TEXT_LIMIT, similarities, ticket_text

if TYPE_CHECKING:
    from helpdesk.tickets.services import TicketService

#: How far apart in filing time two tickets may be and still be shown as possible duplicates.
LOOKBACK = timedelta(days=30)
#: At most this many tickets are compared when a ticket page opens (the newest of the look-back, read backwards
#: along the filing-time index: ordering by number instead walked the primary key through every newer ticket).
CANDIDATES_MAX = 500
#: Possible duplicates shown on a ticket page.
SHOWN = 5
#: A stored comparison older than this is made again on the next view, if tickets were filed since within reach.
REFRESH = timedelta(minutes=10)
#: Channels whose threads get a merged ticket's forwarded answers (web and API requesters read them here).
FORWARDED_SOURCES = frozenset({Source.SLACK, Source.DISCOURSE})

TOLD_MERGED = ("Your question looks the same as ticket #{survivor}, so we have joined the two: the answer will come "
               "here, and you can keep writing in this thread.")
TOLD_SURVIVOR = "A matching question (ticket #{merged}) was joined with this one; we will answer both together."


@dataclass(frozen=True)
class Candidate:
    ticket: Ticket
    score: float


def possible_duplicates(session: Session, ticket: Ticket, min_score: float = 0.25, *,
                        limit: int = SHOWN) -> list[Candidate]:
    """The tickets most like ``ticket``, best first, with their similarity (0 to 1)."""
    others = list(session.scalars(
        select(Ticket).where(
            Ticket.id != ticket.id, Ticket.merged_into_id.is_(None),
            Ticket.created_at >= ticket.created_at - LOOKBACK, Ticket.created_at <= ticket.created_at + LOOKBACK,
        ).order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(CANDIDATES_MAX)
    ).unique())
    scores = similarities(ticket_text(ticket.subject, ticket.body), [ticket_text(t.subject, t.body) for t in others])
    found = [Candidate(other, score) for other, score in zip(others, scores, strict=True) if score >= min_score]
    return sorted(found, key=lambda c: (-c.score, c.ticket.id))[:limit]


def _scores(session: Session, ticket: Ticket, min_score: float, limit: int) -> list[list[float]]:
    """``[[ticket id, score], ...]``, best first: the candidates read as bare columns (no ORM rows, no joins)."""
    rows = session.execute(
        select(Ticket.id, Ticket.subject, func.substr(Ticket.body, 1, TEXT_LIMIT)).where(
            Ticket.id != ticket.id, Ticket.merged_into_id.is_(None),
            Ticket.created_at >= ticket.created_at - LOOKBACK, Ticket.created_at <= ticket.created_at + LOOKBACK,
        ).order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(CANDIDATES_MAX)
    ).all()
    scores = similarities(ticket_text(ticket.subject, ticket.body), [ticket_text(s, b) for _, s, b in rows])
    found = sorted(((row.id, score) for row, score in zip(rows, scores, strict=True) if score >= min_score),
                   key=lambda pair: (-pair[1], pair[0]))
    return [[ticket_id, score] for ticket_id, score in found[:limit]]


def stored_duplicates(session: Session, ticket: Ticket, min_score: float = 0.25, *, now: datetime | None = None,
                      limit: int = SHOWN) -> tuple[list[Candidate], datetime]:
    """The ticket page's possible duplicates and when they were found: the stored comparison while it holds,
    else a new one, stored (and committed) for the next views. Two statements on a stored result."""
    found, at = stored_scores(session, ticket, min_score, now=now, limit=limit)
    rows = {t.id: t for t in session.scalars(
        select(Ticket).where(Ticket.id.in_([i for i, _ in found]), Ticket.merged_into_id.is_(None))).unique()
    } if found else {}
    return [Candidate(rows[i], score) for i, score in found if i in rows][:limit], at


def stored_scores(session: Session, ticket: Ticket, min_score: float = 0.25, *, now: datetime | None = None,
                  limit: int = SHOWN) -> tuple[list[tuple[int, float]], datetime]:
    """``[(ticket id, score), ...]`` best first: :func:`stored_duplicates` before it reads the tickets (the staff
    ticket page reads them with its other panels). No statement while the stored result is younger than
    :data:`REFRESH` or its look-back has closed; one (the newest ticket number) to check an older one."""
    now = now or utcnow()
    stored = ticket.duplicates or {}
    at = datetime.fromisoformat(stored["at"]) if stored.get("at") else None
    fresh = at is not None and stored.get("min_score") == min_score
    if fresh and at is not None and at < ticket.created_at + LOOKBACK and now - at >= REFRESH:
        newest = session.scalar(select(func.max(Ticket.id))) or 0
        fresh = newest <= stored.get("upto", 0)
    if not fresh:
        upto = session.scalar(select(func.max(Ticket.id))) or 0
        # A few more than shown, so that candidates merged meanwhile leave the list full.
        stored = {"at": now.isoformat(), "upto": upto, "min_score": min_score,
                  "found": _scores(session, ticket, min_score, limit * 2)}
        at = now
        # A cache of a read, written on a connection of its own and committed at once: the page's session and its
        # objects are left as they are, no audit, and the ticket's "last update" stays what it was.
        with session.get_bind().begin() as conn:
            conn.execute(update(Ticket).where(Ticket.id == ticket.id)
                         .values(duplicates=stored, updated_at=Ticket.updated_at))
    assert at is not None
    return [(int(ticket_id), float(score)) for ticket_id, score in stored.get("found", [])], at


def survivor_of(session: Session, ticket: Ticket) -> Ticket:
    """The ticket a merged ticket's thread now belongs to (itself when never merged)."""
    seen = {ticket.id}
    while ticket.merged_into_id is not None:
        survivor = session.get(Ticket, ticket.merged_into_id)
        if survivor is None or survivor.id in seen:  # pragma: no cover - merge() never makes a cycle
            break
        seen.add(survivor.id)
        ticket = survivor
    return ticket


def merged_into(session: Session, ticket_id: int) -> list[Ticket]:
    """Tickets merged into ``ticket_id``, oldest first: the survivor's page shows their conversations."""
    return list(session.scalars(select(Ticket).where(Ticket.merged_into_id == ticket_id).order_by(Ticket.id)).unique())


def forward_reply_writes(session: Session, ticket_id: int, message_id: int, now: datetime) -> list[Insert]:
    """See :func:`helpdesk.tickets.services.forward_reply_writes`, which the ticket service calls for every answer."""
    from helpdesk.tickets.services import forward_reply_writes as writes

    return writes(session, ticket_id, message_id, now)


class DuplicateService:
    """Finds and merges duplicates. Never imports Flask."""

    def __init__(self, session: Session, tickets: TicketService, *, min_score: float = 0.25,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.session = session
        self.tickets = tickets
        self.min_score = min_score
        self.clock = clock

    def candidates(self, actor: Person, ticket_id: int) -> list[Candidate]:
        ticket = self.tickets.get(actor, ticket_id)
        return possible_duplicates(self.session, ticket, self.min_score)

    def merge(self, actor: Person, merged_id: int, survivor_id: int) -> Ticket:
        """Merge ticket ``merged_id`` into ``survivor_id``; returns the survivor.

        The merged ticket is closed and points at the survivor; tickets merged into it before now point at the
        survivor too (chains stay one step long). Both requesters are told with a public reply.

        Raises
        ------
        PermissionDeniedError, NotFoundError
        InvalidInputError
            A ticket merged into itself.
        InvalidTransitionError
            Either ticket was merged already (a second click merges nothing and tells nobody twice).
        """
        if not actor.is_staff:
            raise PermissionDeniedError("Only staff merge tickets.")
        if not (0 < merged_id <= ID_MAX and 0 < survivor_id <= ID_MAX):
            raise InvalidInputError.for_field("into", f"Ticket ids are whole numbers from 1 to {ID_MAX}.")
        if merged_id == survivor_id:
            raise InvalidInputError.for_field("into", "A ticket cannot be merged into itself.")
        merged, survivor = self.tickets.get(actor, merged_id), self.tickets.get(actor, survivor_id)
        if survivor.merged_into_id is not None:
            raise InvalidTransitionError(f"Ticket #{survivor.id} was itself merged into #{survivor.merged_into_id}; "
                                         "merge into that one.")
        now, previous = self.clock(), merged.status
        # One conditional UPDATE: of two staff merging the same ticket at once, exactly one wins.
        won = self.session.execute(
            update(Ticket).where(Ticket.id == merged.id, Ticket.merged_into_id.is_(None))
            .values(merged_into_id=survivor.id, status=Status.CLOSED, updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if won != 1:
            self.session.rollback()
            raise InvalidTransitionError(f"Ticket #{merged_id} was already merged into another ticket.")
        self.session.refresh(merged)
        sla.status_changed(merged, previous, now)
        repointed = list(self.session.scalars(select(Ticket.id).where(Ticket.merged_into_id == merged.id)))
        if repointed:
            self.session.execute(update(Ticket).where(Ticket.id.in_(repointed)).values(merged_into_id=survivor.id)
                                 .execution_options(synchronize_session=False))
        audit.record(self.session, "ticket.merged", actor_id=actor.id, ticket_id=merged.id, into=survivor.id,
                     status=[previous.value, Status.CLOSED.value], repointed=repointed)
        audit.record(self.session, "ticket.merged", actor_id=actor.id, ticket_id=survivor.id, merged=merged.id,
                     source=merged.source.value)
        # The merged requester's notice commits with the merge (TicketService.reply commits the session); the
        # survivor's follows. Once merged, the survivor's answers also reach the merged thread, this notice too.
        self.tickets.reply(actor, merged.id, TOLD_MERGED.format(survivor=survivor.id))
        self.tickets.reply(actor, survivor.id, TOLD_SURVIVOR.format(merged=merged.id))
        return survivor
