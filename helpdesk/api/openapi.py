"""The OpenAPI 3.1 description of /api/v1, served at /openapi.json and rendered in the docs."""

from __future__ import annotations

from typing import Any

from helpdesk.api.schemas import ProgramUpdate, ReplyCreate, TicketCreate, TicketUpdate
from helpdesk.tickets.models import Direction, Priority, Source, Status, Visibility


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    reasons = {
        400: "Malformed JSON or a CSRF failure.", 401: "No or an unknown credential.",
        403: "Signed in, but not allowed.", 404: "No such ticket (or not yours).",
        409: "A conflict: an impossible status change, or an Idempotency-Key reused for another request.",
        413: "The body is too large.", 415: "The body is not JSON.", 422: "The body or a parameter is invalid.",
    }
    return {str(s): _json(_ref("Error"), reasons[s]) for s in statuses}


def _schema(model: Any) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return schema


def build_openapi() -> dict[str, Any]:
    person = {
        "type": ["object", "null"],
        "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "login": {"type": "string"}},
    }
    message = {
        "type": "object",
        "required": ["id", "body", "visibility", "direction", "author", "created_at"],
        "properties": {
            "id": {"type": "integer"},
            "body": {"type": "string"},
            "visibility": {"enum": [v.value for v in Visibility]},
            "direction": {"enum": [d.value for d in Direction]},
            "author": _ref("Person"),
            "created_at": {"type": "string", "format": "date-time"},
        },
    }
    ticket = {
        "type": "object",
        "required": ["id", "subject", "body", "source", "queue", "status", "priority", "requester", "assignee",
                     "external", "created_at", "updated_at"],
        "properties": {
            "id": {"type": "integer"},
            "subject": {"type": "string"},
            "body": {"type": "string"},
            "source": {"enum": [s.value for s in Source]},
            "queue": {"type": ["string", "null"], "description": "Queue slug; null while unsorted."},
            "status": {"enum": [s.value for s in Status]},
            "priority": {"enum": [p.value for p in Priority]},
            "requester": _ref("Person"),
            "assignee": _ref("Person"),
            "external": {"type": ["object", "null"],
                         "description": "Where the ticket lives outside: Slack channel and thread, forum "
                                        "topic and post, or the documentation page asked about."},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "messages": {"type": "array", "items": _ref("Message")},
        },
    }
    error = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object", "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {}},
        }},
    }
    queue = {
        "type": "object",
        "properties": {
            "slug": {"type": ["string", "null"]}, "name": {"type": "string"}, "team": {"type": ["string", "null"]},
            "covers": {"type": ["string", "null"]}, "first_response_hours": {"type": ["integer", "null"]},
            "wip_limit_per_assignee": {"type": ["integer", "null"]}, "open_count": {"type": "integer"},
            "oldest_open_at": {"type": ["string", "null"], "format": "date-time"},
        },
    }
    ticket_id = {"name": "ticket_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    slug = {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"},
            "description": "The programme, for example `dp0`."}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "DP0 Support Desk API",
            "version": "1",
            "description": "Tickets and queues of the DP0 Support Desk. Authenticate with "
                           "`Authorization: Bearer <token>` (from `helpdesk staff create LOGIN --token`) or a "
                           "signed-in session plus an `X-CSRFToken` header. Every error is "
                           '`{"error": {"code", "message"}}` with a 4xx status.',
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": {
            "/tickets": {
                "get": {
                    "summary": "List tickets, newest first",
                    "description": "Staff see every ticket, others their own. Follow `next_cursor` for the "
                                   "next page; it is null on the last one.",
                    "parameters": [
                        {"name": "queue", "in": "query", "schema": {"type": "string"}, "description": "Queue slug."},
                        {"name": "status", "in": "query", "schema": {"type": "string"},
                         "description": "One status or several, comma-separated."},
                        {"name": "source", "in": "query", "schema": {"enum": [s.value for s in Source]}},
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                                      "maximum": 100, "default": 25}},
                    ],
                    "responses": {
                        "200": _json({"type": "object", "required": ["items", "next_cursor"], "properties": {
                            "items": {"type": "array", "items": _ref("Ticket")},
                            "next_cursor": {"type": ["string", "null"]}}}, "A page of tickets."),
                        **_errors(401, 422),
                    },
                },
                "post": {
                    "summary": "File a ticket",
                    "description": "With an `Idempotency-Key` header, a repeat of the same request returns the "
                                   "ticket it filed (200, `Idempotent-Replayed: true`) instead of filing another.",
                    "parameters": [{"name": "Idempotency-Key", "in": "header", "schema": {"type": "string",
                                                                                         "maxLength": 200}}],
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": _ref("TicketCreate")}}},
                    "responses": {
                        "201": _json(_ref("Ticket"), "The ticket filed."),
                        "200": _json(_ref("Ticket"), "Replayed: the ticket this Idempotency-Key filed before."),
                        **_errors(400, 401, 409, 413, 415, 422),
                    },
                },
            },
            "/tickets/{ticket_id}": {
                "get": {
                    "summary": "One ticket with its messages",
                    "parameters": [ticket_id],
                    "responses": {"200": _json(_ref("Ticket"), "The ticket."), **_errors(401, 404)},
                },
                "patch": {
                    "summary": "Change queue, status, priority or assignee (staff)",
                    "parameters": [ticket_id],
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": _ref("TicketUpdate")}}},
                    "responses": {"200": _json(_ref("Ticket"), "The ticket as changed."),
                                  **_errors(400, 401, 403, 404, 409, 415, 422)},
                },
            },
            "/tickets/{ticket_id}/replies": {
                "post": {
                    "summary": "Reply to a ticket",
                    "description": "A public staff reply goes back to the Slack thread or forum topic the ticket "
                                   "came from; an internal note stays with staff.",
                    "parameters": [ticket_id],
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": _ref("ReplyCreate")}}},
                    "responses": {"201": _json(_ref("Message"), "The message added."),
                                  **_errors(400, 401, 403, 404, 415, 422)},
                },
            },
            "/kb/search": {
                "get": {
                    "summary": "Search the knowledge base and the documentation",
                    "description": "The same results as `helpdesk kb search --json`: a list, best first.",
                    "parameters": [
                        {"name": "q", "in": "query", "required": True, "schema": {"type": "string", "maxLength": 300}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 50,
                                                                      "default": 5}},
                    ],
                    "responses": {
                        "200": _json({"type": "array", "items": _ref("SearchHit")}, "Matches, best first."),
                        **_errors(401, 422),
                        "503": _json(_ref("Error"), "The search index has not been built."),
                    },
                },
            },
            "/programs/{slug}": {
                "get": {
                    "summary": "Seats of a delegate programme",
                    "description": "`pending` seats are held while staff check data rights; `active` ones are "
                                   "confirmed; `waitlisted` people wait in the order they applied.",
                    "parameters": [slug],
                    "responses": {"200": _json(_ref("Program"), "The programme's counts."), **_errors(401, 404)},
                },
                "patch": {
                    "summary": "Change the cap (admins)",
                    "description": "Raising the cap promotes people from the head of the waitlist at once, in "
                                   "order. Lowering it removes nobody.",
                    "parameters": [slug],
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": _ref("ProgramUpdate")}}},
                    "responses": {"200": _json(_ref("Program"), "The counts after the change."),
                                  **_errors(400, 401, 403, 404, 415, 422)},
                },
            },
            "/queues": {
                "get": {
                    "summary": "Queues with open counts and the oldest open ticket",
                    "responses": {"200": _json({"type": "object", "properties": {
                        "items": {"type": "array", "items": _ref("Queue")}}}, "Every queue, unsorted first."),
                        **_errors(401)},
                },
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
            "schemas": {
                "SearchHit": {"type": "object", "required": ["title", "url", "kind", "score", "snippet"],
                              "properties": {"title": {"type": "string"}, "url": {"type": "string"},
                                             "kind": {"enum": ["kb", "docs"]}, "score": {"type": "number"},
                                             "snippet": {"type": "string"}}},
                "Ticket": ticket, "Message": message, "Person": person, "Queue": queue, "Error": error,
                "TicketCreate": _schema(TicketCreate), "ReplyCreate": _schema(ReplyCreate),
                "TicketUpdate": _schema(TicketUpdate), "ProgramUpdate": _schema(ProgramUpdate),
                "Program": {"type": "object", "required": ["slug", "cap", "active", "pending", "waitlisted"],
                            "properties": {"slug": {"type": "string"}, "name": {"type": "string"},
                                           "cap": {"type": "integer"}, "reserved": {"type": "integer"},
                                           "active": {"type": "integer"}, "pending": {"type": "integer"},
                                           "waitlisted": {"type": "integer"}}},
            },
        },
    }
