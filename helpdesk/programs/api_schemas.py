"""Request bodies and the OpenAPI fragment of the applications API (kept apart from the routes so that
helpdesk.api.openapi can import it without importing the blueprint)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from helpdesk.db import ID_MAX
from helpdesk.programs.models import ApplicationStatus
from helpdesk.programs.services import DATA_RIGHTS_CHECKS, REASON_MAX

#: The largest page of applications.
APPLICATIONS_PAGE_MAX = 200
CheckKey = StrEnum("CheckKey", {key.upper(): key for key, _ in DATA_RIGHTS_CHECKS})  # type: ignore[misc]


class ApplicationApprove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checks: list[CheckKey] | None = Field(  # type: ignore[valid-type]
        None, description="Data-rights checks to tick before approving (the others are unticked); leave out to "
                          "approve on the checks already ticked. Approval needs every check ticked.")


class ApplicationReason(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: StrictStr = Field(min_length=1, max_length=REASON_MAX, pattern=r"\S",
                              description="Why: shown to the applicant, emailed to them and kept on the record.")


def application_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["id", "program", "status", "status_label", "name", "email", "institution", "login", "group",
                     "pool", "position", "checks", "reason", "applied_at", "decided_at"],
        "properties": {
            "id": {"type": "integer", "minimum": 1, "maximum": ID_MAX},
            "program": {"type": "string"},
            "status": {"enum": [s.value for s in ApplicationStatus],
                       "description": "`pending` holds a seat while staff check data rights (not yet accepted); "
                                      "`entered` waits for a lottery's draw."},
            "status_label": {"type": "string", "description": "The state in words, as the pages show it."},
            "name": {"type": "string"}, "email": {"type": "string"}, "institution": {"type": "string"},
            "login": {"type": "string"},
            "group": {"type": ["string", "null"], "description": "The lottery group chosen."},
            "pool": {"type": "string", "description": "`open`, or the slug of the reserved pool whose seat it holds."},
            "position": {"type": ["integer", "null"], "description": "Waitlist order key (lower moves up first); "
                                                                      "null unless waitlisted."},
            "checks": {"type": "object", "additionalProperties": {"type": "boolean"},
                       "description": "The data-rights checklist: " + "; ".join(
                           f"`{k}`: {label}" for k, label in DATA_RIGHTS_CHECKS) + "."},
            "reason": {"type": ["string", "null"], "description": "Why it was declined or its seat reclaimed."},
            "applied_at": {"type": "string", "format": "date-time"},
            "decided_at": {"type": ["string", "null"], "format": "date-time"},
        },
    }


def application_paths(*, json: Any, errors: Any, ref: Any, always: tuple[int, ...], body: tuple[int, ...],
                      slug: dict[str, Any], cursor_max: int) -> dict[str, Any]:
    """The paths of the applications API, built with helpdesk.api.openapi's helpers."""
    application_id = {"name": "application_id", "in": "path", "required": True,
                      "schema": {"type": "integer", "minimum": 1, "maximum": ID_MAX},
                      "description": "An application id. A number outside this range names no application: 404."}
    admins = {"e403": "Only administrators use the applications API."}
    missing = {"e404": "No application with that id."}
    transition = ("The application's state does not allow this (`invalid_transition`), or, to approve, a "
                  "data-rights check is still unticked (`checks_incomplete`); nothing was changed.")

    def decision(operation: str, summary: str, description: str, schema: str) -> dict[str, Any]:
        return {"post": {
            "operationId": operation, "summary": summary, "description": description,
            "parameters": [application_id],
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref(schema)}}},
            "responses": {"200": json(ref("Application"), "The application as decided."),
                          **errors(*body, *always, 403, 404, 409, **admins, **missing, e409=transition)},
        }}

    return {
        "/programs/{slug}/applications": {"get": {
            "operationId": "listApplications",
            "summary": "A programme's applications, by id (admins)",
            "description": "Filters combine; an empty value is no filter. Follow `next_cursor` for the next page.",
            "parameters": [
                slug,
                {"name": "status", "in": "query", "style": "form", "explode": False,
                 "schema": {"type": "array", "items": {"enum": [s.value for s in ApplicationStatus]}},
                 "description": "One state or several, comma-separated."},
                {"name": "group", "in": "query", "schema": {"type": "string", "maxLength": 64}},
                {"name": "pool", "in": "query", "schema": {"type": "string", "maxLength": 64},
                 "description": "`open`, or a reserved pool's slug."},
                {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 200},
                 "description": "Part of the name, e-mail address or institution."},
                {"name": "cursor", "in": "query", "schema": {"type": "string", "maxLength": cursor_max},
                 "description": "`next_cursor` of the page before; any other value is a 422."},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                              "maximum": APPLICATIONS_PAGE_MAX, "default": 50}},
            ],
            "responses": {"200": json({"type": "object", "required": ["items", "next_cursor"], "properties": {
                "items": {"type": "array", "items": ref("Application")},
                "next_cursor": {"type": ["string", "null"]}}}, "A page of applications."),
                **errors(*always, 403, 404, **admins, e404="No programme with that slug.")},
        }},
        "/applications/{application_id}": {"get": {
            "operationId": "getApplication", "summary": "One application (admins)",
            "parameters": [application_id],
            "responses": {"200": json(ref("Application"), "The application."),
                          **errors(*always, 403, 404, **admins, **missing)},
        }},
        "/applications/{application_id}/approve": decision(
            "approveApplication", "Approve: data rights verified, the seat becomes active (admins)",
            "Only an application being checked (`pending`) can be approved, and only once every data-rights "
            "check is ticked (send `checks` to tick them). The applicant is told.", "ApplicationApprove"),
        "/applications/{application_id}/decline": decision(
            "declineApplication", "Decline with a reason (admins)",
            "An application being checked, waitlisted or entered in a draw is declined; the reason is shown to "
            "the applicant with what they may do next, and kept. A freed seat goes to the head of the waitlist "
            "at once.", "ApplicationReason"),
        "/applications/{application_id}/reclaim": decision(
            "reclaimApplication", "Reclaim an active delegate's seat, with a reason (admins)",
            "The seat goes to the head of the waitlist at once; the delegate is told why.", "ApplicationReason"),
    }
