"""The staff ticket page's workspace: one timeline, delivery states, macros, knowledge-base links, the
requester panel, the colleague-presence warning and the side panels (attachments, merged conversations,
incident, possible duplicates, escalations).

No routes here: the page's small actions are in :mod:`helpdesk.staff.ticket_actions`. The page itself is
``staff.detail``; its view reads the ticket with :func:`load_ticket` (one statement) and everything else with
:func:`ticket_workspace`: each list the page shows is a query read back as JSON (:mod:`helpdesk.json_rows`), all
of them side by side in one statement, with people's handles read by join. So the page sends the same few
statements however many messages, events, tags, files or other tickets there are (issue #12;
tests/workspace/test_ticket_page_statements.py).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from types import SimpleNamespace
from typing import Any

from flask import request
from sqlalchemy import ColumnElement, bindparam, func, or_, select
from sqlalchemy.orm import aliased, joinedload

from helpdesk.accounts.models import Person, Provider
from helpdesk.audit import AuditEvent
from helpdesk.db import ID_MAX
from helpdesk.json_rows import JsonPanels, JsonRows, json_rows
from helpdesk.programs.models import Application, Program
from helpdesk.tickets import duplicates
from helpdesk.tickets.attachments import INLINE_TYPES, Attachment
from helpdesk.tickets.models import (
    Escalation,
    Incident,
    IncidentTicket,
    Message,
    OutboxItem,
    OutboxKind,
    OutboxStatus,
    Source,
    Status,
    Ticket,
    Visibility,
)
from helpdesk.tickets.reference import login_of, read_reference
from helpdesk.tickets.tags import Tag, TicketTag
from helpdesk.tickets.workspace import (
    Macro,
    PresenceService,
    TicketPresence,
    TicketRating,
    render_placeholders,
)
from helpdesk.web import get_factory, get_session, get_settings

#: Outbox kinds that deliver a message of the ticket (their state is shown on the message).
MESSAGE_DELIVERIES = (OutboxKind.REPLY.value, OutboxKind.EMAIL_REPLY.value)
#: Audit actions shown on the timeline as system events (messages are shown as themselves).
TIMELINE_ACTIONS = ("ticket.updated", "ticket.replied", "ticket.assigned", "ticket.merged", "ticket.escalated",
                    "escalation.filed",
                    "escalation.state_changed", "escalation.failed", "incident.created", "incident.linked",
                    "incident.unlinked", "outbox.retried", "ticket.rated", "ticket.sla_warning",
                    "ticket.assignment_overridden", "ticket.tagged")
KB_LIMIT = 6
#: The requester's other tickets shown in their panel (the latest).
OTHER_TICKETS = 10


@dataclass
class Delivery:
    """One outbound delivery of a message: where to, and how it stands (``item``: its outbox row's columns)."""

    item: Any
    label: str
    link: str | None = None

    @property
    def state(self) -> str:
        return {OutboxStatus.PENDING: "queued", OutboxStatus.DELIVERED: "delivered",
                OutboxStatus.DEAD: "failed"}[self.item.status]

    @property
    def retrying(self) -> bool:
        return self.item.status is OutboxStatus.PENDING and self.item.last_error is not None


@dataclass
class Entry:
    """One line of the timeline: a message (with its deliveries) or a system event."""

    at: datetime
    kind: str  # "message" or "event"
    message: Any = None  # the message's columns, with its author's handle (``author``)
    event: Any = None  # the audit event's columns, with its actor's handle (``actor``)
    text: str = ""
    deliveries: list[Delivery] = field(default_factory=list)


def _changes_text(changes: dict[str, Any]) -> str:
    parts = []
    for name, values in (changes or {}).items():
        if isinstance(values, list | tuple) and len(values) == 2:
            before, after = (str(v).replace("_", " ") if v is not None else "none" for v in values)
            parts.append(f"{name} {before} → {after}")
    return "; ".join(parts)


#: What a system event says, filled from its data (a value it lacks reads "None"); the events whose words take
#: more than filling in are told by :func:`describe` itself.
EVENT_WORDS = {
    "ticket.assigned": "assigned to {assignee} automatically ({strategy})",
    "ticket.escalated": "escalated to {tracker}: {summary}",
    "escalation.filed": "escalation filed as {key}",
    "escalation.failed": "escalation could not be filed",
    "incident.created": "linked to incident {incident_id}",
    "incident.linked": "linked to incident {incident_id}",
    "incident.unlinked": "unlinked from incident {incident_id}",
    "outbox.retried": "delivery outbox-{outbox_id} sent again",
    "ticket.rated": "rated {score} of 5 by the requester",
    "ticket.sla_warning": "first response {state}",
    "ticket.assignment_overridden": "queue limit overridden for the assignee",
}


def _filled(words: str, data: dict[str, Any]) -> str:
    values: defaultdict[str, Any] = defaultdict(lambda: "None", {"summary": "", **data})
    for name in ("strategy", "state"):  # enum-like values ("least_loaded", "due_soon"): shown as words
        values[name] = str(data.get(name, "")).replace("_", " ")
    return words.format_map(values)


def describe(event: Any) -> str:
    """What a system event says on the timeline, in words."""
    data, action = event.data or {}, event.action
    if action == "ticket.updated":
        text = _changes_text(data.get("changes") or {})
        if data.get("reason") == "auto_close":
            return f"{text} (closed automatically)"
        if data.get("solved_by") == "requester":
            return f"{text} (marked solved by the requester)"
        return text or "updated"
    if action == "ticket.replied":
        return _changes_text({"status": data.get("status")}) + " (by the message)"
    if action == "ticket.tagged":
        added, removed = data.get("added") or [], data.get("removed") or []
        parts = ([f"tagged {', '.join(added)}"] if added else []) + ([f"untagged {', '.join(removed)}"] if removed
                                                                     else [])
        return "; ".join(parts) or "tags unchanged"
    if action == "ticket.merged":
        return f"merged into #{data['into']}" if "into" in data else f"#{data.get('merged')} merged into this ticket"
    if action == "escalation.state_changed":
        return "escalation " + _changes_text({"state": data.get("state")})
    if action in EVENT_WORDS:
        return _filled(EVENT_WORDS[action], data)
    return action.replace(".", " ").replace("_", " ")


def _delivery_label_and_link(item: Any, ticket: Ticket) -> tuple[str, str | None]:
    settings = get_settings()
    if item.kind == OutboxKind.EMAIL_REPLY.value:
        return "email to the requester", None
    if item.channel == Source.SLACK.value:
        link = None
        if item.remote_id:
            from helpdesk.channels.slack import permalink

            external = ticket.external or {}
            channel = str(external.get("channel") or "")
            link = permalink(external.get("team_domain"), channel, item.remote_id,
                             external.get("thread_ts")) if channel else None
        return "Slack thread", link
    if item.channel == Source.DISCOURSE.value:
        link = f"{settings.discourse_url.rstrip('/')}/p/{item.remote_id}" if (
            item.remote_id and settings.discourse_url) else None
        return "forum topic", link
    return item.channel, None


def handle_of(person: Any) -> ColumnElement[str]:
    """:attr:`Person.handle` in SQL, for ``person`` (the entity or an alias of it) in the enclosing query: the
    GitHub login, else the display name. Read with the row, never by loading each person's identities."""
    return func.coalesce(login_of(person.id), person.display_name)


def load_ticket(viewer: Person, ticket_id: int) -> Ticket:
    """The ticket, its queue, requester and assignee, and those two people's identities, in one statement.

    The identities are joined here because the mapping loads them with a statement of their own per relationship
    (``selectin``), and the page needs them: the handles and the requester's panel."""
    # Held in a variable: the session's identity map keeps only weak references, and the service's get below
    # must find the ticket there (no statement) to apply its rule (and its 404) to it.
    loaded = get_session().get(Ticket, ticket_id, options=[
        joinedload(Ticket.requester).joinedload(Person.identities),
        joinedload(Ticket.assignee).joinedload(Person.identities),
    ]) if 0 < ticket_id <= ID_MAX else None  # a larger id names no row (and is out of range on PostgreSQL)
    ticket = get_factory().create_ticket_service().get(viewer, ticket_id)
    assert ticket is loaded
    return ticket


def _conversation(condition: ColumnElement[bool]) -> JsonRows:
    """Messages, oldest first, with their author's handle (None: written by the system)."""
    author = aliased(Person)
    return json_rows(
        select(Message.id, Message.ticket_id, Message.body, Message.visibility, Message.direction, Message.created_at,
               handle_of(author).label("author"))
        .outerjoin(author, author.id == Message.author_id).where(condition), Message.id)


#: What each page view binds into :func:`_panels`' statement.
TICKET, REQUESTER, VIEWER = bindparam("ticket_id"), bindparam("requester_id"), bindparam("viewer_id")
PRESENCE_SINCE, DUPLICATE_IDS = bindparam("presence_since"), bindparam("duplicate_ids", expanding=True)


@cache
def _panels() -> JsonPanels:
    """Every list the page shows beside the ticket itself, each a query read as JSON, in one statement.

    Built once per process: constructing these queries took longer than the database takes to run them. A view
    binds the ticket, its requester, the viewer, the presence window's start and the stored duplicates' ids.
    """
    actor, creator, requester, colleague = (aliased(Person) for _ in range(4))
    links = aliased(IncidentTicket)
    return JsonPanels.of({
        # The timeline: messages, system events and the deliveries of outbound replies.
        "messages": _conversation(Message.ticket_id == TICKET),
        "events": json_rows(
            select(AuditEvent.id, AuditEvent.action, AuditEvent.data, AuditEvent.created_at,
                   handle_of(actor).label("actor"))
            .outerjoin(actor, actor.id == AuditEvent.actor_id)
            .where(AuditEvent.ticket_id == TICKET, AuditEvent.action.in_(TIMELINE_ACTIONS)), AuditEvent.id),
        "deliveries": json_rows(
            select(OutboxItem.id, OutboxItem.message_id, OutboxItem.kind, OutboxItem.channel, OutboxItem.status,
                   OutboxItem.last_error, OutboxItem.remote_id, OutboxItem.delivered_at)
            .where(OutboxItem.ticket_id == TICKET, OutboxItem.kind.in_(MESSAGE_DELIVERIES),
                   OutboxItem.message_id.is_not(None)), OutboxItem.id),
        # The conversations of tickets merged into this one.
        "merged": json_rows(
            select(Ticket.id, Ticket.subject, Ticket.body, Ticket.source, Ticket.created_at,
                   handle_of(requester).label("requester"))
            .join(requester, requester.id == Ticket.requester_id).where(Ticket.merged_into_id == TICKET),
            Ticket.id),
        "merged_messages": _conversation(
            Message.ticket_id.in_(select(Ticket.id).where(Ticket.merged_into_id == TICKET))),
        # The small panels.
        "rating": json_rows(select(TicketRating.score, TicketRating.comment)
                            .where(TicketRating.ticket_id == TICKET), TicketRating.id),
        "tags": json_rows(select(Tag.name).join(TicketTag, TicketTag.tag_id == Tag.id)
                          .where(TicketTag.ticket_id == TICKET), Tag.name),
        "attachments": json_rows(
            select(Attachment.id, Attachment.filename, Attachment.content_type, Attachment.size,
                   Attachment.created_at).where(Attachment.ticket_id == TICKET), Attachment.id),
        "incident": json_rows(
            select(Incident.id, Incident.title, Incident.status,
                   select(func.count(links.id)).where(links.incident_id == Incident.id).scalar_subquery()
                   .label("reports"))
            .join(IncidentTicket, IncidentTicket.incident_id == Incident.id)
            .where(IncidentTicket.ticket_id == TICKET), Incident.id),
        "escalations": json_rows(
            select(Escalation.id, Escalation.tracker, Escalation.remote_key, Escalation.url, Escalation.state,
                   Escalation.remote_status, Escalation.summary, Escalation.created_at, Escalation.last_synced_at,
                   handle_of(creator).label("created_by"))
            .outerjoin(creator, creator.id == Escalation.created_by_id)
            .where(Escalation.ticket_id == TICKET), Escalation.id),
        "presence": json_rows(
            select(handle_of(colleague).label("name"), TicketPresence.action)
            .join(colleague, colleague.id == TicketPresence.person_id)
            .where(TicketPresence.ticket_id == TICKET, TicketPresence.person_id != VIEWER,
                   TicketPresence.last_seen_at >= PRESENCE_SINCE), TicketPresence.id),
        # The requester's panel.
        "seats": json_rows(
            select(Application.id, Application.status, Program.name.label("program"))
            .join(Program, Program.id == Application.program_id)
            .where(Application.person_id == REQUESTER), Application.id),
        "other_tickets": json_rows(
            select(Ticket.id, Ticket.subject, Ticket.status, Ticket.created_at)
            .where(Ticket.requester_id == REQUESTER, Ticket.id != TICKET).limit(OTHER_TICKETS),
            Ticket.id.desc()),
        # The shared macros and the viewer's own (MacroService.visible's rule), by title.
        "macros": json_rows(select(Macro.id, Macro.title, Macro.body, Macro.shared)
                            .where(or_(Macro.shared.is_(True), Macro.owner_id == VIEWER)), Macro.title, Macro.id),
        # The stored possible duplicates that are not merged meanwhile (as duplicates.stored_duplicates reads them).
        "duplicates": json_rows(
            select(Ticket.id, Ticket.subject, Ticket.source, Ticket.status)
            .where(Ticket.id.in_(DUPLICATE_IDS), Ticket.merged_into_id.is_(None)), Ticket.id),
    })


def timeline(ticket: Ticket, messages: list[Any], events: list[Any], deliveries: list[Any]) -> list[Entry]:
    """Messages (each with its deliveries) and system events, oldest first; a message before an event at the
    same moment."""
    by_message: dict[int, list[Delivery]] = {}
    for item in deliveries:
        by_message.setdefault(item.message_id, []).append(Delivery(item, *_delivery_label_and_link(item, ticket)))
    entries = [Entry(m.created_at, "message", message=m, deliveries=by_message.get(m.id, [])) for m in messages]
    for event in events:
        if event.action == "ticket.replied" and not (event.data or {}).get("status"):
            continue  # the message itself is on the timeline; only the status it moved is an event
        entries.append(Entry(event.created_at, "event", event=event,
                             text=f"{event.actor or 'the desk'}: {describe(event)}"))
    entries.sort(key=lambda e: (e.at, 0 if e.kind == "message" else 1))
    return entries


@dataclass
class RequesterPanel:
    person: Person
    other_tickets: list[Any]
    identities: list[Any]
    seats: list[Any]


def identity_label(identity: Any) -> str:
    names = {Provider.GITHUB: "GitHub", Provider.SLACK: "Slack", Provider.DISCOURSE: "Forum", Provider.EMAIL: "Email"}
    return f"{names.get(identity.provider, identity.provider.value)}: {identity.username or identity.external_id}"


def placeholder_values(ticket: Ticket, agent: Person) -> dict[str, str]:
    return {
        "requester_name": ticket.requester.display_name,
        "ticket_id": str(ticket.id),
        "ticket_url": f"{get_settings().public_url.rstrip('/')}/tickets/{ticket.id}",
        "agent_name": agent.display_name,
    }


def kb_hits(query: str) -> list[dict[str, object]]:
    query = query.strip()[:200]
    if not query:
        return []
    try:
        result = get_factory().create_search_service().search(query, KB_LIMIT, "delegates", suggest=False)
    except Exception:  # noqa: BLE001 - no index yet, or a broken one: the reply box works without it
        return []
    return [{"title": hit.title, "url": hit.url, "markdown": f"[{hit.title}]({hit.url})"} for hit in result.hits]


def absolute(url: str) -> str:
    return url if url.startswith(("http://", "https://")) else f"{get_settings().public_url.rstrip('/')}{url}"


def ticket_workspace(ticket: Ticket, viewer: Person, reply_form: Any = None) -> dict[str, Any]:
    """Everything staff/detail.html shows beside the ticket, as ``ws``: one statement (see :func:`_panels`), and
    one more only when the stored possible duplicates are old enough to be checked against newer tickets."""
    factory, session = get_factory(), get_session()
    duplicate_scores: list[tuple[int, float]] = []
    if ticket.merged_into_id is None:  # a merged ticket's page shows where it went instead
        duplicate_scores, _at = duplicates.stored_scores(session, ticket, factory.settings.duplicate_min_similarity,
                                                         now=factory.clock())
    # The update form's queues and staff: the staff pages' shared reference data (one statement of its own).
    reference = read_reference(session, parts=("queues", "staff"))
    rows = _panels().read(session, {
        "ticket_id": ticket.id, "requester_id": ticket.requester_id, "viewer_id": viewer.id,
        "presence_since": factory.clock() - PresenceService(session, factory.clock).window,
        "duplicate_ids": [i for i, _ in duplicate_scores],
    })

    for attachment in rows["attachments"]:
        attachment.inline = attachment.content_type in INLINE_TYPES  # as Attachment.inline
    merged_messages: defaultdict[int, list[Any]] = defaultdict(list)
    for message in rows["merged_messages"]:
        merged_messages[message.ticket_id].append(message)
    for merged in rows["merged"]:
        merged.messages = merged_messages[merged.id]
    candidates = {c.id: c for c in rows["duplicates"]}
    escalations = factory.create_escalation_service()

    macros = rows["macros"]
    values = placeholder_values(ticket, viewer)
    kb_query = request.args.get("kb", "")
    hits = [{**hit, "markdown": f"[{hit['title']}]({absolute(str(hit['url']))})"} for hit in kb_hits(kb_query)]
    chosen = request.args.get("macro", "")
    if reply_form is not None and not reply_form.body.data and chosen.isdigit():
        # Without JavaScript, choosing a macro reloads the page with it filled into the reply box.
        macro = next((m for m in macros if m.id == int(chosen)), None)
        if macro is not None:
            reply_form.body.data = render_placeholders(macro.body, values)
    return {
        "timeline": timeline(ticket, rows["messages"], rows["events"], rows["deliveries"]),
        "panel": RequesterPanel(ticket.requester, rows["other_tickets"],
                                sorted(ticket.requester.identities, key=lambda i: i.provider.value), rows["seats"]),
        "macros": macros, "macro_texts": {m.id: render_placeholders(m.body, values) for m in macros},
        "kb_query": kb_query, "kb_hits": hits, "presence": rows["presence"],
        "rating": next(iter(rows["rating"]), None), "tags": [t.name for t in rows["tags"]],
        "statuses": list(Status), "attachments": rows["attachments"], "merged": rows["merged"],
        "incident": next(iter(rows["incident"]), None),
        "duplicates": [SimpleNamespace(ticket=candidates[i], score=score) for i, score in duplicate_scores
                       if i in candidates][:duplicates.SHOWN],
        "escalations": {"escalations": rows["escalations"], "service": escalations, "name": escalations.issue_name,
                        "active": any(e.state.is_active for e in rows["escalations"])},
        "reference": reference,
    }


def visibility_label(message: Message) -> str:
    return "internal note" if message.visibility is Visibility.INTERNAL else "public"
