"""The OpenAPI 3.1 description of /api/v1, served at /openapi.json and rendered in the docs.

The description is the contract: a client generated from it works, and the suite fuzzes the API from it
(tests/api/test_fuzz.py). So it declares every parameter with its type and limits, and every status code
and content type that an operation can answer. ``QUERY_PARAMETERS`` is also what the API enforces: a query
parameter an operation does not declare is refused with 422 (see ``helpdesk.api.routes``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic.json_schema import models_json_schema

from helpdesk.api.schemas import (
    IDEMPOTENCY_KEY_MAX,
    EscalationCreate,
    ProgramUpdate,
    ReplyCreate,
    TicketCreate,
    TicketUpdate,
)
from helpdesk.db import ID_MAX
from helpdesk.programs.api_schemas import (
    ApplicationApprove,
    ApplicationReason,
    application_paths,
    application_schema,
)
from helpdesk.search.services import LIMIT_MAX as SEARCH_LIMIT_MAX
from helpdesk.search.services import QUERY_MAX as SEARCH_QUERY_MAX
from helpdesk.tickets.attachments import FILENAME_MAX, MAX_FILES, TYPES
from helpdesk.tickets.fulltext import QUERY_MAX
from helpdesk.tickets.listing import COUNT_CAP, SLA_STATES, SORTS
from helpdesk.tickets.models import Direction, EscalationState, Priority, Source, Status, Visibility
from helpdesk.tickets.queues import load_queue_config
from helpdesk.tickets.services import PAGE_SIZE_MAX
from helpdesk.tickets.sla import ClockState
from helpdesk.tickets.tags import TAG_MAX

#: The largest cursor the API accepts; the ones it gives out are under 50 characters.
CURSOR_MAX = 64
#: The longest search text (``q``) of a ticket list.
SEARCH_TEXT_MAX = QUERY_MAX
#: Slugs of programmes and queues (ProgramConfig and QueueConfig validate the same pattern).
SLUG_PATTERN = r"^[a-z][a-z0-9-]*$"
SLUG_MAX = 64
#: Text that must not be blank: at least one character that is not white space.
NOT_BLANK = r"\S"

#: The query parameters each operation takes, by Flask endpoint; any other is a 422.
QUERY_PARAMETERS: dict[str, tuple[str, ...]] = {
    "api.list_tickets": ("q", "queue", "status", "assignee", "priority", "source", "sla", "tag", "sort", "cursor",
                         "limit"),
    "api.kb_search": ("q", "limit"),
    "api.list_applications": ("status", "group", "pool", "q", "cursor", "limit"),
}

_REASONS = {
    400: "The body is not valid JSON (or nested too deeply), or a signed-in session sent no valid X-CSRFToken "
         "header (`csrf_failed`).",
    401: "No credential, or an unknown or revoked token.",
    403: "Signed in, but not allowed.",
    409: "A conflict.",
    413: "The request body is larger than the server accepts (`HELPDESK_MAX_REQUEST_BYTES`).",
    415: "The body is not sent as `application/json`.",
    429: "Too many writes by this person (`HELPDESK_RATE_LIMIT_API_WRITES`, shared by every POST and PATCH); "
         "wait `Retry-After` seconds.",
    422: "A parameter or the body is invalid, or the query string has a parameter this operation does not take; "
         "`details` names the fields.",
    503: "The database is unavailable; try again shortly.",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before the next write.", "required": True,
                                 "schema": {"type": "integer", "minimum": 0}}}


def _errors(*statuses: int, **reasons: str) -> dict[str, Any]:
    """Error responses; ``reasons`` (keyed ``e404`` and so on) replace the shared description."""
    return {str(s): _json(_ref("Error"), reasons.get(f"e{s}", _REASONS.get(s, "")),
                          _RETRY_AFTER if s == 429 else None) for s in statuses}


# Every operation can meet a bad credential, an undeclared query parameter and a database outage.
_ALWAYS = (401, 422, 503)
# Operations with a JSON body (the writes: POST and PATCH) can also meet bad JSON, a missing CSRF header, a
# large body, a wrong content type, and the per-person write limit.
_BODY = (400, 413, 415, 429)


def _request_schemas() -> dict[str, Any]:
    """The pydantic request models with the enums they use, as component schemas ($refs resolve)."""
    models = [TicketCreate, ReplyCreate, TicketUpdate, ProgramUpdate, EscalationCreate, ApplicationApprove,
              ApplicationReason]
    _, top = models_json_schema([(m, "validation") for m in models], ref_template="#/components/schemas/{model}")
    return dict(top.get("$defs", {}))


def _enum_schema(enum: Iterable[Any], description: str) -> dict[str, Any]:
    return {"type": "string", "enum": [e.value for e in enum], "description": description}


def build_openapi(queue_slugs: list[str] | None = None) -> dict[str, Any]:
    """The description; ``queue_slugs`` are the configured queues (default: the shipped queues.yaml)."""
    slugs = queue_slugs if queue_slugs is not None else [q.slug for q in load_queue_config()]
    queue_slug = {"type": "string", "enum": slugs}
    schemas = _request_schemas()
    # TicketUpdate: the queue is one of the configured slugs; status and priority may be left out but never
    # null; an empty object (or override_limit alone) changes nothing and is refused (as the model validator).
    update = schemas["TicketUpdate"]
    update["properties"]["queue"]["anyOf"] = [queue_slug, {"type": "null"}]
    for name in ("status", "priority"):
        prop = update["properties"][name]
        update["properties"][name] = {**_ref(name.capitalize()), **{k: v for k, v in prop.items()
                                                                     if k not in ("anyOf", "default")}}
    update["minProperties"] = 1
    # override_limit alone changes nothing: one of the four fields must come with it.
    update["anyOf"] = [{"required": [name]} for name in ("queue", "status", "priority", "assignee")]
    for name in ("subject", "body"):
        schemas["TicketCreate"]["properties"][name]["pattern"] = NOT_BLANK
    schemas["ReplyCreate"]["properties"]["body"]["pattern"] = NOT_BLANK
    for name in ("summary", "description"):  # null (or left out) takes the ticket's subject or question
        for branch in schemas["EscalationCreate"]["properties"][name]["anyOf"]:
            if branch.get("type") == "string":
                branch["pattern"] = NOT_BLANK
    schemas.update({
        "Status": _enum_schema(Status, "Where a ticket is in its life."),
        "Priority": _enum_schema(Priority, "How urgent a ticket is."),
        "Visibility": _enum_schema(Visibility, "`public` goes back to the requester; `internal` is a staff note."),
        "Source": _enum_schema(Source, "The channel a ticket came through."),
        "Direction": _enum_schema(Direction, "`inbound` from the requester, `outbound` from staff."),
    })

    person = {
        "type": ["object", "null"],
        "required": ["id", "name", "login"],
        "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                       "login": {"type": "string", "description": "The GitHub login when known, else the name."}},
    }
    message = {
        "type": "object",
        "required": ["id", "body", "visibility", "direction", "author", "created_at"],
        "properties": {
            "id": {"type": "integer"},
            "body": {"type": "string"},
            "visibility": _ref("Visibility"),
            "direction": _ref("Direction"),
            "author": _ref("Person"),
            "created_at": {"type": "string", "format": "date-time"},
        },
    }
    ticket = {
        "type": "object",
        "required": ["id", "subject", "body", "source", "queue", "status", "priority", "requester", "assignee",
                     "external", "created_at", "updated_at", "sla"],
        "properties": {
            "id": {"type": "integer", "minimum": 1, "maximum": ID_MAX},
            "subject": {"type": "string"},
            "body": {"type": "string"},
            "source": _ref("Source"),
            "queue": {"type": ["string", "null"],
                      "description": "Queue slug; null while unsorted. A ticket keeps the slug of a queue "
                                     "later removed from the queue file."},
            "status": _ref("Status"),
            "priority": _ref("Priority"),
            "requester": _ref("Person"),
            "assignee": _ref("Person"),
            "external": {"type": ["object", "null"],
                         "description": "Where the ticket lives outside: Slack channel and thread, forum "
                                        "topic and post, or the documentation page asked about."},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "sla": _ref("Sla"),
            "messages": {"type": "array", "items": _ref("Message"),
                         "description": "Only in answers about one ticket; a requester sees no internal notes."},
        },
    }
    sla_clock = {
        "type": "object",
        "required": ["state", "due_at", "first_response_at"],
        "description": "The first-response clock (the queue's `first_response_hours`), as of the answer.",
        "properties": {
            "state": {"enum": [*(s.value for s in ClockState), None],
                      "description": "`on_time`; `due_soon` inside the warning window (`HELPDESK_SLA_WARNING_"
                                     "PERCENT` or `_MINUTES`); `breached` past `due_at` unanswered; `paused` while "
                                     "waiting on the requester; `met` once staff answered publicly; null when no "
                                     "clock runs (unsorted, or closed without an answer)."},
            "due_at": {"type": ["string", "null"], "format": "date-time",
                       "description": "When the first public staff answer is due; null while unsorted."},
            "first_response_at": {"type": ["string", "null"], "format": "date-time",
                                  "description": "When staff first answered publicly."},
        },
    }
    escalation = {
        "type": "object",
        "required": ["id", "ticket_id", "tracker", "state", "key", "url", "remote_status", "summary", "created_by",
                     "created_at", "last_synced_at"],
        "properties": {
            "id": {"type": "integer"},
            "ticket_id": {"type": "integer"},
            "tracker": {"enum": ["jira", "github"]},
            "state": {"enum": [s.value for s in EscalationState],
                      "description": "`pending` until the worker has filed the issue; then the tracker's state as "
                                     "of `last_synced_at`: `open`, `resolved` (fixed) or `closed` (without a fix); "
                                     "`failed` when filing gave up."},
            "key": {"type": ["string", "null"], "description": "Jira issue key or GitHub issue number, once filed."},
            "url": {"type": ["string", "null"]},
            "remote_status": {"type": ["string", "null"], "description": "The tracker's own word for the state."},
            "summary": {"type": "string"},
            "created_by": _ref("Person"),
            "created_at": {"type": "string", "format": "date-time"},
            "last_synced_at": {"type": ["string", "null"], "format": "date-time"},
        },
    }
    error = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object", "required": ["code", "message"],
            "properties": {"code": {"type": "string", "description": "Stable, for clients to branch on."},
                           "message": {"type": "string", "description": "For people."},
                           "details": {"description": "Which fields were wrong, when known."}},
        }},
    }
    queue = {
        "type": "object",
        "required": ["slug", "name", "team", "covers", "first_response_hours", "wip_limit_per_assignee",
                     "open_count", "oldest_open_at", "members", "capacity_left", "due_soon", "breached",
                     "oldest_waiting_at"],
        "properties": {
            "slug": {"type": ["string", "null"], "description": "null for the unsorted tickets."},
            "name": {"type": "string"}, "team": {"type": ["string", "null"]},
            "covers": {"type": ["string", "null"]}, "first_response_hours": {"type": ["integer", "null"]},
            "wip_limit_per_assignee": {"type": ["integer", "null"]}, "open_count": {"type": "integer"},
            "oldest_open_at": {"type": ["string", "null"], "format": "date-time"},
            "members": {"type": "array", "description": "The staff who work the queue (empty for the unsorted "
                        "tickets), with their open tickets in it and the room left under the limit.",
                        "items": {"type": "object", "required": ["login", "assigned", "capacity_left"],
                                  "properties": {"login": {"type": "string"},
                                                 "assigned": {"type": "integer", "minimum": 0},
                                                 "capacity_left": {"type": "integer", "minimum": 0}}}},
            "capacity_left": {"type": ["integer", "null"], "minimum": 0,
                              "description": "Open tickets the members can still take under the limit; 0 is "
                                             "back-pressure (no room left); null for the unsorted tickets."},
            "due_soon": {"type": "integer", "minimum": 0,
                         "description": "Open tickets whose first response is due within the warning window."},
            "breached": {"type": "integer", "minimum": 0,
                         "description": "Open tickets whose first response is overdue."},
            "oldest_waiting_at": {"type": ["string", "null"], "format": "date-time",
                                  "description": "Filing time of the oldest open ticket that has no owner yet."},
        },
    }
    program = {
        "type": "object", "required": ["slug", "name", "cap", "reserved", "active", "pending", "waitlisted"],
        "properties": {"slug": {"type": "string"}, "name": {"type": "string"},
                       "cap": {"type": "integer"}, "reserved": {"type": "integer"},
                       "active": {"type": "integer"}, "pending": {"type": "integer"},
                       "waitlisted": {"type": "integer"}},
    }
    search_hit = {
        "type": "object", "required": ["title", "url", "kind", "score", "snippet"],
        "properties": {"title": {"type": "string"}, "url": {"type": "string"},
                       "kind": {"enum": ["kb", "docs"]}, "score": {"type": "number"},
                       "snippet": {"type": "string"}},
    }
    attachment = {
        "type": "object",
        "required": ["id", "ticket_id", "message_id", "filename", "content_type", "size", "sha256", "created_at",
                     "url"],
        "properties": {
            "id": {"type": "integer"}, "ticket_id": {"type": "integer"},
            "message_id": {"type": ["integer", "null"], "description": "null: attached to the ticket itself."},
            "filename": {"type": "string", "maxLength": FILENAME_MAX,
                         "description": "The name sent, cleaned for display (no directories or control characters)."},
            "content_type": {"enum": sorted(set(TYPES.values()))},
            "size": {"type": "integer", "minimum": 1}, "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "created_at": {"type": "string", "format": "date-time"},
            "url": {"type": "string", "description": "Where staff and the requester download it (signed in, on "
                                                     "the web side: `/tickets/{id}/attachments/{attachment id}`)."},
        },
    }
    ticket_id = {"name": "ticket_id", "in": "path", "required": True,
                 "schema": {"type": "integer", "minimum": 1, "maximum": ID_MAX},
                 "description": "A ticket id. A number outside this range names no ticket: 404."}
    slug = {"name": "slug", "in": "path", "required": True,
            "schema": {"type": "string", "pattern": SLUG_PATTERN, "maxLength": SLUG_MAX},
            "description": "The programme, for example `dp0`."}
    no_ticket = {"e404": "No such ticket, or not one you may see (a requester is not told whether another "
                         "person's ticket exists)."}
    no_program = {"e404": "No programme with that slug."}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "DP0 Support Desk API",
            "version": "1",
            "description": "Tickets and queues of the DP0 Support Desk. Authenticate with "
                           "`Authorization: Bearer <token>` (from `helpdesk staff create LOGIN --token`) or a "
                           "signed-in session plus an `X-CSRFToken` header on writes. Every error is "
                           '`{"error": {"code", "message"}}` as `application/json` with a 4xx status (503 '
                           "when the database or the search index is unavailable). A query parameter that an "
                           "operation does not list is refused with 422, and a method a path does not take "
                           "with 405 and an `Allow` header.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": {
            "/tickets": {
                "get": {
                    "operationId": "listTickets",
                    "summary": "List, search and sort tickets",
                    "description": "Staff see every ticket, others their own. Follow `next_cursor` for the "
                                   "next page and `prev_cursor` for the one before; each is null where there is "
                                   "none. `count` is the number of matching tickets, counted up to "
                                   f"{COUNT_CAP:,}: beyond that it is {COUNT_CAP} and `count_capped` is true. "
                                   "Filters combine (all must hold). An empty filter value is no filter; an "
                                   "unknown value is a 422 whose `details` name the parameter.",
                    "parameters": [
                        {"name": "q", "in": "query",
                         "schema": {"type": "string", "maxLength": SEARCH_TEXT_MAX},
                         "description": "Full-text search over the subject, the question and the messages (staff "
                                        "also match internal notes, requesters never). Every word must occur; "
                                        "words are stemmed (`queries` finds `query`). On PostgreSQL the web "
                                        "search syntax also works: `\"exact phrase\"`, `or`, `-word`."},
                        {"name": "queue", "in": "query", "schema": queue_slug,
                         "description": "Queue slug, one of the configured queues. The word `unsorted` is taken "
                                        "too: tickets without a queue."},
                        {"name": "status", "in": "query", "style": "form", "explode": False,
                         "schema": {"type": "array", "items": _ref("Status")},
                         "description": "One status or several, comma-separated."},
                        {"name": "assignee", "in": "query",
                         "schema": {"type": "string", "maxLength": 39, "pattern": r"^[A-Za-z0-9][A-Za-z0-9-]*$"},
                         "description": "`me` (the caller), `none` (nobody) or a staff member's login. A login "
                                        "that is no staff member is a 422."},
                        {"name": "priority", "in": "query", "style": "form", "explode": False,
                         "schema": {"type": "array", "items": _ref("Priority")},
                         "description": "One priority or several, comma-separated."},
                        {"name": "source", "in": "query", "schema": _ref("Source")},
                        {"name": "sla", "in": "query", "schema": {"enum": list(SLA_STATES)},
                         "description": "The first-response clock's state now: `on_time`, `due_soon` (inside the "
                                        "warning window), `breached`, `paused` (waiting on the requester) or "
                                        "`met`."},
                        {"name": "tag", "in": "query",
                         "schema": {"type": "string", "maxLength": TAG_MAX,
                                    "pattern": r"^\s*[A-Za-z0-9][A-Za-z0-9._ -]*$"},
                         "description": "Tickets carrying this tag (case is ignored; an unknown tag matches "
                                        "nothing)."},
                        {"name": "sort", "in": "query", "schema": {"enum": list(SORTS), "default": "newest"},
                         "description": "`newest` (ticket number, newest first), `oldest`, `updated` (last "
                                        "change first) or `due` (first-response due time, soonest first; "
                                        "tickets without one last)."},
                        {"name": "cursor", "in": "query", "schema": {"type": "string", "maxLength": CURSOR_MAX},
                         "description": "`next_cursor` or `prev_cursor` of a page of the same sort order; opaque. "
                                        "Any other value is a 422."},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                                      "maximum": PAGE_SIZE_MAX, "default": 25}},
                    ],
                    "responses": {
                        "200": _json(_ref("TicketPage"), "A page of tickets."),
                        **_errors(*_ALWAYS),
                    },
                },
                "post": {
                    "operationId": "createTicket",
                    "summary": "File a ticket",
                    "description": "With an `Idempotency-Key` header, a repeat of the same request returns the "
                                   "ticket it filed (200, `Idempotent-Replayed: true`) instead of filing another.",
                    "parameters": [{"name": "Idempotency-Key", "in": "header",
                                    "schema": {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX,
                                               "pattern": NOT_BLANK},
                                    "description": "Any string of yours, unique per ticket you mean to file; "
                                                   "white space around it is ignored."}],
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": _ref("TicketCreate")}}},
                    "responses": {
                        "201": _json(_ref("Ticket"), "The ticket filed.", {
                            "Location": {"description": "The ticket's address.", "schema": {"type": "string"}}}),
                        "200": _json(_ref("Ticket"), "Replayed: the ticket this Idempotency-Key filed before.", {
                            "Idempotent-Replayed": {"schema": {"const": "true"}},
                            "Location": {"description": "The ticket's address.", "schema": {"type": "string"}}}),
                        **_errors(*_BODY, *_ALWAYS, 409, e409="The Idempotency-Key was used before for a "
                                                                "different request (`idempotency_key_reused`).",
                                  e429="Too many writes (`rate_limited`, `HELPDESK_RATE_LIMIT_API_WRITES`), or the "
                                       "person is past a ticket limit (`ticket_limit`: "
                                       "`HELPDESK_OPEN_TICKETS_PER_PERSON` or `HELPDESK_TICKETS_PER_DAY`; `details` "
                                       "says which, `retry_at` and `retry_after`); wait `Retry-After` seconds."),
                    },
                },
            },
            "/tickets/{ticket_id}": {
                "get": {
                    "operationId": "getTicket",
                    "summary": "One ticket with its messages",
                    "parameters": [ticket_id],
                    "responses": {"200": _json(_ref("Ticket"), "The ticket, with `messages`."),
                                  **_errors(*_ALWAYS, 404, **no_ticket)},
                },
                "patch": {
                    "operationId": "updateTicket",
                    "summary": "Change queue, status, priority or assignee (staff)",
                    "description": "Only the fields sent change. Setting a queue on a `new` ticket makes it "
                                   "`triaged`. An assignee already at the queue's limit of open tickets is "
                                   "refused unless an administrator sends `override_limit: true`.",
                    "parameters": [ticket_id],
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": _ref("TicketUpdate")}}},
                    "responses": {"200": _json(_ref("Ticket"), "The ticket as changed, with `messages`."),
                                  **_errors(*_BODY, *_ALWAYS, 403, 404, 409, **no_ticket,
                                            e403="Only staff change tickets; only administrators override a "
                                                 "queue's limit per person (`override_forbidden`).",
                                            e409="A status change the ticket's life does not allow "
                                                 "(`invalid_transition`), or an assignee who already has the "
                                                 "queue's limit of open tickets (`wip_limit_reached`); nothing "
                                                 "was changed.")},
                },
            },
            "/tickets/{ticket_id}/replies": {
                "post": {
                    "operationId": "createReply",
                    "summary": "Reply to a ticket",
                    "description": "A public staff reply goes back to the Slack thread or forum topic the ticket "
                                   "came from; an internal note stays with staff.",
                    "parameters": [ticket_id],
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": _ref("ReplyCreate")}}},
                    "responses": {"201": _json(_ref("Message"), "The message added."),
                                  **_errors(*_BODY, *_ALWAYS, 403, 404, **no_ticket,
                                            e403="Only staff add internal notes.")},
                },
            },
            "/tickets/{ticket_id}/attachments": {
                "post": {
                    "operationId": "createAttachments",
                    "summary": "Attach files to a ticket (its requester, or staff)",
                    "description": "Send `multipart/form-data` with one to "
                                   f"{MAX_FILES} parts named `file`. Each file's extension must be one of "
                                   "`HELPDESK_ATTACHMENT_TYPES` (by default: " + ", ".join(TYPES) + ") and its "
                                   "bytes what the extension says; each is at most `HELPDESK_ATTACHMENT_MAX_BYTES` "
                                   "(10 MiB by default). Either every file is stored or none is. Files are "
                                   "never run: they are served back as downloads (raster images inline).",
                    "parameters": [ticket_id],
                    "requestBody": {"required": True, "content": {"multipart/form-data": {
                        "schema": {"type": "object", "required": ["file"], "properties": {
                            "file": {"type": "array", "minItems": 1, "maxItems": MAX_FILES,
                                     "items": {"type": "string", "format": "binary"}}}},
                        "encoding": {"file": {"contentType": "application/octet-stream"}}}}},
                    "responses": {
                        "201": _json({"type": "object", "required": ["items"], "properties": {
                            "items": {"type": "array", "items": _ref("Attachment")}}}, "The files stored."),
                        **_errors(*_BODY, *_ALWAYS, 404, **no_ticket,
                                  e413="A file is larger than `HELPDESK_ATTACHMENT_MAX_BYTES` "
                                       "(`attachment_too_large`), or the whole request is too large; nothing "
                                       "was stored.",
                                  e415="The body is not `multipart/form-data` (`unsupported_media_type`), or a "
                                       "file's type is not allowed or its bytes are not what its extension says "
                                       "(`attachment_type`); nothing was stored.",
                                  e422="No file, an empty file, more than " + str(MAX_FILES) + " files, or a "
                                       "query parameter this operation does not take; nothing was stored."),
                    },
                },
            },
            "/tickets/{ticket_id}/escalations": {
                "post": {
                    "operationId": "createEscalation",
                    "summary": "Escalate a confirmed bug to the engineering tracker (staff)",
                    "description": "Files a Jira or GitHub issue (`HELPDESK_ESCALATION_TRACKER`) through the outbox: "
                                   "the answer is `pending`, and the worker files the issue, keeps its link on the "
                                   "ticket and tells the requester. A ticket with a pending or open escalation is "
                                   "not escalated twice: that one is returned with 200. Send `{}` to use the "
                                   "ticket's subject and question.",
                    "parameters": [ticket_id],
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": _ref("EscalationCreate")}}},
                    "responses": {"201": _json(_ref("Escalation"), "The escalation made, `pending`."),
                                  "200": _json(_ref("Escalation"), "The ticket's escalation already pending or "
                                                                   "open; nothing new is filed."),
                                  **_errors(*_BODY, *_ALWAYS, 403, 404, 409, **no_ticket,
                                            e403="Only staff escalate tickets.",
                                            e409="No engineering tracker is configured, or it lacks its "
                                                 "settings (`escalation_not_configured`).")},
                },
            },
            "/kb/search": {
                "get": {
                    "operationId": "searchKnowledgeBase",
                    "summary": "Search the knowledge base and the documentation",
                    "description": "The same results as `helpdesk kb search --json`: a list, best first. `q` may "
                                   "be a whole question of several paragraphs; its most distinctive words are "
                                   "searched. Staff find every page; other people do not get the operator "
                                   "guide and the helpdesk's operator reference (`helpdesk kb search "
                                   "--audience delegates` shows what they get).",
                    "parameters": [
                        {"name": "q", "in": "query", "required": True,
                         "schema": {"type": "string", "minLength": 1, "maxLength": SEARCH_QUERY_MAX,
                                    "pattern": NOT_BLANK}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                                      "maximum": SEARCH_LIMIT_MAX, "default": 5}},
                    ],
                    "responses": {
                        "200": _json({"type": "array", "items": _ref("SearchHit")}, "Matches, best first.",
                                     {"X-Search-Suggestion": {
                                         "description": "A corrected spelling of a short search whose words "
                                                        "the index does not know; absent otherwise.",
                                         "schema": {"type": "string"}}}),
                        **_errors(401, 422),
                        "503": _json(_ref("Error"), "The search index has not been built "
                                                    "(`search_unavailable`), or the database is unavailable."),
                    },
                },
            },
            "/programs/{slug}": {
                "get": {
                    "operationId": "getProgram",
                    "summary": "Seats of a delegate programme",
                    "description": "`pending` seats are held while staff check data rights; `active` ones are "
                                   "confirmed; `waitlisted` people wait in the order they applied.",
                    "parameters": [slug],
                    "responses": {"200": _json(_ref("Program"), "The programme's counts."),
                                  **_errors(*_ALWAYS, 404, **no_program)},
                },
                "patch": {
                    "operationId": "updateProgram",
                    "summary": "Change the cap (admins)",
                    "description": "Raising the cap promotes people from the head of the waitlist at once, in "
                                   "order. Lowering it removes nobody. `reserved` may not exceed the cap (422).",
                    "parameters": [slug],
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": _ref("ProgramUpdate")}}},
                    "responses": {"200": _json(_ref("Program"), "The counts after the change."),
                                  **_errors(*_BODY, *_ALWAYS, 403, 404, **no_program,
                                            e403="Only administrators change a programme's cap.")},
                },
            },
            **application_paths(json=_json, errors=_errors, ref=_ref, always=_ALWAYS, body=_BODY, slug=slug,
                                cursor_max=CURSOR_MAX),
            "/queues": {
                "get": {
                    "operationId": "listQueues",
                    "summary": "Queues with open counts, room left, first-response clocks and the oldest "
                               "open ticket",
                    "responses": {"200": _json({"type": "object", "required": ["items"], "properties": {
                        "items": {"type": "array", "items": _ref("Queue")}}}, "Every queue, unsorted first."),
                        **_errors(*_ALWAYS)},
                },
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
            "schemas": {
                "Ticket": ticket, "Sla": sla_clock,
                "Message": message, "Person": person, "Queue": queue, "Error": error,
                "TicketPage": {"type": "object", "required": ["items", "next_cursor", "prev_cursor", "count",
                                                              "count_capped"], "properties": {
                    "items": {"type": "array", "items": _ref("Ticket")},
                    "next_cursor": {"type": ["string", "null"]},
                    "prev_cursor": {"type": ["string", "null"]},
                    "count": {"type": "integer", "minimum": 0, "maximum": COUNT_CAP,
                              "description": f"Matching tickets, counted up to {COUNT_CAP:,}."},
                    "count_capped": {"type": "boolean",
                                     "description": f"True when more than {COUNT_CAP:,} tickets match."}}},
                "SearchHit": search_hit, "Program": program, "Escalation": escalation, "Attachment": attachment,
                "Application": application_schema(),
                **dict(sorted(schemas.items())),
            },
        },
    }


def declared_query_parameters(endpoint: str | None) -> tuple[str, ...]:
    """The query parameters the operation at this Flask endpoint takes (none when it declares none)."""
    return QUERY_PARAMETERS.get(endpoint or "", ())
