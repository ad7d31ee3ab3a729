"""The staff ticket page's workspace: one timeline, delivery states, macros, knowledge-base links, the
requester panel and the colleague-presence warning.

Registered on the staff blueprint (``helpdesk.staff.routes.bp``). The page itself is ``staff.detail``; its
template calls :func:`ticket_workspace` once, which reads everything in a bounded number of queries
(messages, system events, deliveries, the requester's other tickets and seats, presence, macros), never
one per message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import flash, jsonify, redirect, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from helpdesk.accounts.models import Person, Provider
from helpdesk.audit import AuditEvent
from helpdesk.exceptions import HelpdeskError, InvalidInputError
from helpdesk.programs.models import Application
from helpdesk.staff.routes import bp
from helpdesk.tickets.models import Message, OutboxItem, OutboxKind, OutboxStatus, Source, Status, Ticket, Visibility
from helpdesk.tickets.workspace import MacroService, PresenceAction, PresenceService, render_placeholders
from helpdesk.web import current_user, get_factory, get_session, get_settings, staff_required

#: Outbox kinds that deliver a message of the ticket (their state is shown on the message).
MESSAGE_DELIVERIES = (OutboxKind.REPLY.value, OutboxKind.EMAIL_REPLY.value)
#: Audit actions shown on the timeline as system events (messages are shown as themselves).
TIMELINE_ACTIONS = ("ticket.updated", "ticket.replied", "ticket.assigned", "ticket.merged", "ticket.escalated",
                    "escalation.filed",
                    "escalation.state_changed", "escalation.failed", "incident.created", "incident.linked",
                    "incident.unlinked", "outbox.retried", "ticket.rated", "ticket.sla_warning",
                    "ticket.assignment_overridden", "ticket.tagged")
KB_LIMIT = 6


@dataclass
class Delivery:
    """One outbound delivery of a message: where to, and how it stands."""

    item: OutboxItem
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
    message: Message | None = None
    event: AuditEvent | None = None
    text: str = ""
    deliveries: list[Delivery] = field(default_factory=list)


def _changes_text(changes: dict[str, Any]) -> str:
    parts = []
    for name, values in (changes or {}).items():
        if isinstance(values, list | tuple) and len(values) == 2:
            before, after = (str(v).replace("_", " ") if v is not None else "none" for v in values)
            parts.append(f"{name} {before} → {after}")
    return "; ".join(parts)


def describe(event: AuditEvent) -> str:
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
    if action == "ticket.assigned":
        return f"assigned to {data.get('assignee')} automatically ({data.get('strategy', '').replace('_', ' ')})"
    if action == "ticket.merged":
        if "into" in data:
            return f"merged into #{data['into']}"
        return f"#{data.get('merged')} merged into this ticket"
    if action == "ticket.escalated":
        return f"escalated to {data.get('tracker')}: {data.get('summary', '')}"
    if action == "escalation.filed":
        return f"escalation filed as {data.get('key')}"
    if action == "escalation.state_changed":
        return "escalation " + _changes_text({"state": data.get("state")})
    if action == "escalation.failed":
        return "escalation could not be filed"
    if action in ("incident.created", "incident.linked"):
        return f"linked to incident {data.get('incident_id')}"
    if action == "incident.unlinked":
        return f"unlinked from incident {data.get('incident_id')}"
    if action == "outbox.retried":
        return f"delivery outbox-{data.get('outbox_id')} sent again"
    if action == "ticket.rated":
        return f"rated {data.get('score')} of 5 by the requester"
    if action == "ticket.sla_warning":
        return f"first response {str(data.get('state', '')).replace('_', ' ')}"
    if action == "ticket.assignment_overridden":
        return "queue limit overridden for the assignee"
    return action.replace(".", " ").replace("_", " ")


def _delivery_label_and_link(item: OutboxItem, ticket: Ticket) -> tuple[str, str | None]:
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


def timeline(ticket: Ticket) -> list[Entry]:
    """Messages, system events and each outbound reply's deliveries, oldest first: three queries."""
    session = get_session()
    messages = list(session.scalars(
        select(Message).where(Message.ticket_id == ticket.id).order_by(Message.id)
        .options(selectinload(Message.author).selectinload(Person.identities))))
    events = list(session.scalars(
        select(AuditEvent).where(AuditEvent.ticket_id == ticket.id, AuditEvent.action.in_(TIMELINE_ACTIONS))
        .order_by(AuditEvent.id)))
    items = session.scalars(
        select(OutboxItem).where(OutboxItem.ticket_id == ticket.id, OutboxItem.kind.in_(MESSAGE_DELIVERIES))
        .order_by(OutboxItem.id))
    by_message: dict[int, list[Delivery]] = {}
    for item in items:
        if item.message_id is not None:
            by_message.setdefault(item.message_id, []).append(Delivery(item, *_delivery_label_and_link(item, ticket)))
    actors = _people(session, {e.actor_id for e in events if e.actor_id and e.action != "ticket.replied"})
    entries = [Entry(m.created_at, "message", message=m, deliveries=by_message.get(m.id, [])) for m in messages]
    for event in events:
        if event.action == "ticket.replied" and not (event.data or {}).get("status"):
            continue  # the message itself is on the timeline; only the status it moved is an event
        actor = actors.get(event.actor_id) if event.actor_id else None
        entries.append(Entry(event.created_at, "event", event=event,
                             text=f"{actor.handle if actor else 'the desk'}: {describe(event)}"))
    entries.sort(key=lambda e: (e.at, 0 if e.kind == "message" else 1))
    return entries


def _people(session: Any, ids: set[int]) -> dict[int, Person]:
    if not ids:
        return {}
    return {p.id: p for p in session.scalars(select(Person).where(Person.id.in_(ids)))}


@dataclass
class RequesterPanel:
    person: Person
    other_tickets: list[Any]
    identities: list[Any]
    seats: list[Application]


def requester_panel(ticket: Ticket) -> RequesterPanel:
    """The requester's other tickets (latest ten), their identities and their seat applications."""
    session, person = get_session(), ticket.requester
    others = list(session.execute(
        select(Ticket.id, Ticket.subject, Ticket.status, Ticket.created_at)
        .where(Ticket.requester_id == person.id, Ticket.id != ticket.id).order_by(Ticket.id.desc()).limit(10)))
    seats = list(session.scalars(select(Application).where(Application.person_id == person.id)
                                 .order_by(Application.id)))
    return RequesterPanel(person, others, sorted(person.identities, key=lambda i: i.provider.value), seats)


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


@bp.context_processor
def _ticket_workspace() -> dict[str, object]:
    """``ticket_workspace(ticket, reply_form)`` for staff/detail.html, computed only when the page asks."""

    def ticket_workspace(ticket: Ticket, reply_form: Any = None) -> dict[str, object]:
        user = current_user()
        assert user is not None
        service = get_factory().create_ticket_service()
        macros = MacroService(get_session()).visible(user)
        values = placeholder_values(ticket, user)
        kb_query = request.args.get("kb", "")
        hits = [{**hit, "markdown": f"[{hit['title']}]({absolute(str(hit['url']))})"} for hit in kb_hits(kb_query)]
        chosen = request.args.get("macro", "")
        if reply_form is not None and not reply_form.body.data and chosen.isdigit():
            # Without JavaScript, choosing a macro reloads the page with it filled into the reply box.
            macro = next((m for m in macros if m.id == int(chosen)), None)
            if macro is not None:
                reply_form.body.data = render_placeholders(macro.body, values)
        presence = PresenceService(get_session(), get_factory().clock).others(user, ticket.id)
        return {
            "timeline": timeline(ticket), "panel": requester_panel(ticket), "macros": macros,
            "macro_texts": {m.id: render_placeholders(m.body, values) for m in macros},
            "kb_query": kb_query, "kb_hits": hits, "presence": presence,
            "rating": service.rating_of(ticket.id),
            "tags": _tags(ticket), "statuses": list(Status),
        }

    return {"ticket_workspace": ticket_workspace, "identity_label": identity_label}


def _tags(ticket: Ticket) -> list[str]:
    """The ticket's tags, by name (one statement)."""
    return get_factory().create_ticket_service().tags_of([ticket.id]).get(ticket.id, [])


# -- routes ------------------------------------------------------------------------------------------


@bp.get("/kb.json")
@staff_required
def kb_json() -> Response:
    """Knowledge-base articles for the reply box: title, absolute URL and the Markdown link to insert."""
    hits = kb_hits(request.args.get("q", ""))
    return jsonify([{**hit, "url": absolute(str(hit["url"])),
                     "markdown": f"[{hit['title']}]({absolute(str(hit['url']))})"} for hit in hits])


@bp.post("/tickets/<int:ticket_id>/presence")
@staff_required
def presence(ticket_id: int) -> Response:
    """Heartbeat of an open ticket page (helpdesk/static/presence.js): who else is viewing or replying."""
    user = current_user()
    assert user is not None
    get_factory().create_ticket_service().get(user, ticket_id)  # 404 for a ticket that does not exist
    payload = request.get_json(silent=True) or {}
    raw = payload.get("action", "viewing") if isinstance(payload, dict) else "viewing"
    service = PresenceService(get_session(), get_factory().clock)
    if raw == "leaving":
        service.leave(user, ticket_id)
        return jsonify({"others": []})
    try:
        action = PresenceAction(raw)
    except ValueError as exc:
        raise InvalidInputError.for_field("action", "action is viewing, replying or leaving.") from exc
    others = service.beat(user, ticket_id, action)
    return jsonify({"others": [{"name": c.name, "action": c.action.value} for c in others]})


@bp.post("/tickets/<int:ticket_id>/tags")
@staff_required
def ticket_tags(ticket_id: int) -> Response:
    """Make the ticket's tags exactly those typed (comma-separated); audited by the ticket service."""
    # The CSRF token was checked before this view ran (helpdesk.web.csrf guards every POST).
    try:
        names = get_factory().create_ticket_service().set_tags(current_user(), ticket_id,
                                                               request.form.get("tags", "")[:2000])
    except HelpdeskError as exc:
        if exc.status_code == 404:
            raise
        flash(exc.message, "error")
    else:
        flash("Tags: " + (", ".join(names) if names else "none") + ".", "success")
    return redirect(url_for("staff.detail", ticket_id=ticket_id))


@bp.post("/tickets/<int:ticket_id>/deliveries/<int:item_id>/retry")
@staff_required
def delivery_retry(ticket_id: int, item_id: int) -> Response:
    """Send a failed delivery of this ticket again (the outbox page's retry, from the timeline)."""
    service = get_factory().create_outbox_service()
    item = get_session().get(OutboxItem, item_id)
    try:
        if item is None or item.ticket_id != ticket_id:
            raise InvalidInputError(f"Delivery {item_id} is not one of ticket #{ticket_id}.")
        service.retry(current_user(), item_id)
    except HelpdeskError as exc:
        flash(exc.message, "error")
    else:
        flash(f"Delivery outbox-{item_id} will be sent again.", "success")
    return redirect(url_for("staff.detail", ticket_id=ticket_id))


def visibility_label(message: Message) -> str:
    return "internal note" if message.visibility is Visibility.INTERNAL else "public"
