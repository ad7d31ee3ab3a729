"""JSON API routes under /api/v1. Authenticated by a bearer token or a signed-in session plus CSRF header."""

from __future__ import annotations

from typing import TypeVar

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ValidationError

from helpdesk.api.openapi import CURSOR_MAX, build_openapi, declared_query_parameters
from helpdesk.api.schemas import (
    IDEMPOTENCY_KEY_MAX,
    EscalationCreate,
    ProgramUpdate,
    ReplyCreate,
    TicketCreate,
    TicketUpdate,
    escalation_json,
    message_json,
    ticket_json,
)
from helpdesk.exceptions import AuthenticationRequiredError, HelpdeskError, InvalidInputError
from helpdesk.tickets.board import queue_summaries
from helpdesk.tickets.listing import ListQuery
from helpdesk.tickets.models import Source
from helpdesk.tickets.queues import load_queue_config
from helpdesk.tickets.reference import read_reference
from helpdesk.tickets.services import DeliveryKey
from helpdesk.tickets.sla import SlaPolicy
from helpdesk.uploads import allow_upload_body, read_uploads
from helpdesk.web import bearer_user, csrf, current_user, get_factory, get_settings

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # checked below, only for session-authenticated calls
bp.url_value_preprocessor(allow_upload_body)  # POST .../attachments may carry files (helpdesk.uploads)

M = TypeVar("M", bound=BaseModel)


class UnsupportedMediaTypeError(HelpdeskError):
    status_code = 415
    code = "unsupported_media_type"


@bp.before_request
def _known_query_parameters() -> None:
    """A query parameter the operation does not declare is a 422, not silently ignored: a misspelt filter
    (``?statuses=new``) would otherwise return every ticket. The list is the OpenAPI description's."""
    allowed = declared_query_parameters(request.endpoint)
    unknown = sorted(set(request.args) - set(allowed))
    if unknown:
        takes = f"it takes: {', '.join(allowed)}" if allowed else "it takes none"
        raise InvalidInputError(
            f"Unknown query parameter {', '.join(repr(u) for u in unknown)} for this operation; {takes}.",
            details=[{"field": name, "message": "unknown query parameter"} for name in unknown],
        )


@bp.before_request
def _authenticate() -> None:
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationRequiredError("Send the token as 'Authorization: Bearer <token>'.")
        person = bearer_user(token.strip())
        if person is None:
            raise AuthenticationRequiredError("That API token is unknown or revoked.", code="invalid_token")
        g.current_user = person
        return
    if current_user() is None:
        raise AuthenticationRequiredError(
            "Sign in, or send 'Authorization: Bearer <token>' (tokens: helpdesk staff create LOGIN --token)."
        )
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()


def _parse(model: type[M]) -> M:
    if not request.is_json:
        raise UnsupportedMediaTypeError("Send the body as JSON with 'Content-Type: application/json'.")
    try:
        payload = request.get_json(silent=True)
    except RecursionError as exc:  # json refuses very deep nesting this way, not with a ValueError
        raise HelpdeskError("The JSON body is nested too deeply.", code="invalid_json") from exc
    if payload is None:
        raise HelpdeskError("The body is not valid JSON.", code="invalid_json")
    if not isinstance(payload, dict):
        raise HelpdeskError("The body must be a JSON object.", code="invalid_json")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in err["loc"]) or None, "message": err["msg"]} for err in exc.errors()
        ]
        summary = "; ".join(f"{d['field']}: {d['message']}" if d["field"] else d["message"] for d in details)
        raise InvalidInputError(f"The request body is not valid: {summary}.", details=details) from exc


@bp.get("/tickets")
def list_tickets() -> ResponseReturnValue:
    """Tickets filtered, searched and sorted (helpdesk.tickets.listing), a keyset page at a time, both ways."""
    try:
        limit = int(request.args.get("limit", 25))
    except ValueError as exc:
        raise InvalidInputError.for_field("limit", "limit must be a whole number.") from exc
    cursor = request.args.get("cursor") or None
    if cursor is not None and len(cursor) > CURSOR_MAX:
        raise InvalidInputError.for_field("cursor", "The cursor is not one this API gave out; start again without it.")
    query = ListQuery.parse(request.args)
    page = get_factory().create_ticket_listing().page(current_user(), query, cursor=cursor, limit=limit)
    assert page.count is not None
    return jsonify({"items": [ticket_json(t) for t in page.items], "next_cursor": page.next_cursor,
                    "prev_cursor": page.prev_cursor, "count": page.count.value, "count_capped": page.count.capped})


@bp.get("/tickets/<int:ticket_id>")
def get_ticket(ticket_id: int) -> ResponseReturnValue:
    service = get_factory().create_ticket_service()
    ticket = service.get(current_user(), ticket_id)
    return jsonify(ticket_json(ticket, service.visible_messages(current_user(), ticket)))


@bp.post("/tickets")
def create_ticket() -> ResponseReturnValue:
    """File a ticket. With an Idempotency-Key header, repeating the request files nothing new."""
    data = _parse(TicketCreate)
    user = current_user()
    delivery = None
    key = request.headers.get("Idempotency-Key")
    if key is not None:
        key = key.strip()
        if not key or len(key) > IDEMPOTENCY_KEY_MAX or not key.isprintable():
            raise InvalidInputError(f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} printable characters.",
                                    details=[{"field": "Idempotency-Key", "message": "not 1 to "
                                              f"{IDEMPOTENCY_KEY_MAX} printable characters"}])
        delivery = DeliveryKey.for_request("api", f"{user.id}:{key}", data.model_dump())
    filed = get_factory().create_ticket_service().file(
        user, data.subject, data.body, Source.API, delivery=delivery
    )
    response = jsonify(ticket_json(filed.ticket, []))
    response.status_code = 201 if filed.created else 200
    response.headers["Location"] = f"/api/v1/tickets/{filed.ticket.id}"
    if not filed.created:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@bp.post("/tickets/<int:ticket_id>/replies")
def create_reply(ticket_id: int) -> ResponseReturnValue:
    data = _parse(ReplyCreate)
    message = get_factory().create_ticket_service().reply(current_user(), ticket_id, data.body, data.visibility)
    return jsonify(message_json(message)), 201


@bp.post("/tickets/<int:ticket_id>/attachments")
def create_attachments(ticket_id: int) -> ResponseReturnValue:
    """Attach files (multipart/form-data, field ``file``, one or more) to a ticket: its requester or staff."""
    from helpdesk.tickets.attachments import as_json

    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaTypeError("Send the files as multipart/form-data, each in a part named 'file'.")
    service = get_factory().create_ticket_service()
    stored = service.attach(current_user(), ticket_id, read_uploads("file"))
    return jsonify({"items": [as_json(a, f"/tickets/{ticket_id}/attachments/{a.id}") for a in stored]}), 201


@bp.post("/tickets/<int:ticket_id>/escalations")
def create_escalation(ticket_id: int) -> ResponseReturnValue:
    """Staff: file the ticket's bug in the engineering tracker (through the outbox); 200 when already escalated."""
    data = _parse(EscalationCreate)
    escalation, created = get_factory().create_escalation_service().escalate(
        current_user(), ticket_id, data.summary, data.description)
    return jsonify(escalation_json(escalation)), 201 if created else 200


@bp.patch("/tickets/<int:ticket_id>")
def update_ticket(ticket_id: int) -> ResponseReturnValue:
    data = _parse(TicketUpdate)
    changes = {name: getattr(data, name) for name in data.model_fields_set}
    service = get_factory().create_ticket_service()
    ticket = service.update(current_user(), ticket_id, changes)
    return jsonify(ticket_json(ticket, service.visible_messages(current_user(), ticket)))


@bp.get("/queues")
def list_queues() -> ResponseReturnValue:
    """Each queue with its open count, limits, members' room, first-response clocks and oldest waiting ticket."""
    items = []
    factory = get_factory()
    # Three statements in all: the sign-in, the queues with their members (one, helpdesk.tickets.reference), and
    # the open tickets and clocks per queue (one, helpdesk.tickets.board).
    reference = read_reference(factory.session, parts=("queues", "members"))
    policy = SlaPolicy.from_settings(get_settings())
    for summary in queue_summaries(factory.session, reference, factory.clock(), policy):
        queue = summary.queue
        items.append({
            "slug": queue.slug if queue else None,
            "name": queue.name if queue else "Unsorted (waiting for a queue)",
            "team": queue.team if queue else None,
            "covers": queue.covers if queue else None,
            "first_response_hours": queue.first_response_hours if queue else None,
            "wip_limit_per_assignee": queue.wip_limit_per_assignee if queue else None,
            "open_count": summary.open_count,
            "oldest_open_at": summary.oldest_open_at.isoformat() if summary.oldest_open_at else None,
            "members": [{"login": m.person.handle, "assigned": m.assigned, "capacity_left": m.room}
                        for m in summary.members],
            "capacity_left": summary.capacity_left,
            "due_soon": summary.due_soon,
            "breached": summary.breached,
            "oldest_waiting_at": summary.oldest_waiting_at.isoformat() if summary.oldest_waiting_at else None,
        })
    return jsonify({"items": items})


@bp.get("/kb/search")
def kb_search() -> ResponseReturnValue:
    """Knowledge base and documentation together, best first: the same list as `helpdesk kb search --json`."""
    try:
        limit = int(request.args.get("limit", 5))
    except ValueError as exc:
        raise InvalidInputError("limit must be a whole number.") from exc
    # Operator pages are for staff; delegates typing a question are not offered them.
    audience = "staff" if current_user().is_staff else "delegates"
    result = get_factory().create_search_service().search(request.args.get("q", ""), limit, audience)
    response = jsonify([hit.to_dict() for hit in result.hits])
    if result.suggestion:
        # The body stays a list of hits (its shape is public); "did you mean" travels beside it.
        response.headers["X-Search-Suggestion"] = result.suggestion
    return response


@bp.get("/programs/<slug>")
def get_program(slug: str) -> ResponseReturnValue:
    """Seats of a delegate programme: cap, active, pending (held while data rights are checked), waitlisted."""
    return jsonify(get_factory().create_program_service().counts(slug).to_dict())


@bp.patch("/programs/<slug>")
def update_program(slug: str) -> ResponseReturnValue:
    """Admins change the cap (and the reserved seats); raising it promotes from the waitlist at once, in order."""
    data = _parse(ProgramUpdate)
    counts = get_factory().create_program_service().set_cap(current_user(), slug, data.cap, data.reserved)
    return jsonify(counts.to_dict())


def openapi() -> ResponseReturnValue:
    """The description of this deployment: the queue slugs are those of its queues file."""
    return jsonify(build_openapi([q.slug for q in load_queue_config(get_settings().queues_file)]))

