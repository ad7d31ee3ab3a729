"""The applications API under /api/v1 (administrators): list with filters, one application, approve,
decline with a reason, reclaim. Registered on the API blueprint by helpdesk.api.routes."""

from __future__ import annotations

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from helpdesk.api.routes import _parse, bp
from helpdesk.exceptions import InvalidInputError, PermissionDeniedError
from helpdesk.programs.admin import application_json
from helpdesk.programs.api_schemas import APPLICATIONS_PAGE_MAX, ApplicationApprove, ApplicationReason
from helpdesk.programs.models import ApplicationStatus
from helpdesk.programs.services import ProgramService
from helpdesk.web import current_user, get_factory


def _admin_service() -> ProgramService:
    if not current_user().is_admin:
        raise PermissionDeniedError("Only administrators use the applications API.")
    return get_factory().create_program_service()


@bp.get("/programs/<slug>/applications")
def list_applications(slug: str) -> ResponseReturnValue:
    """A programme's applications by id, filtered by state, group, pool and text, a page at a time."""
    service = _admin_service()
    try:
        statuses = [ApplicationStatus(s) for s in (request.args.get("status") or "").split(",") if s]
    except ValueError as exc:
        raise InvalidInputError.for_field(
            "status", f"Unknown state; use one of: {', '.join(s.value for s in ApplicationStatus)}.") from exc
    try:
        limit = int(request.args.get("limit", 50))
    except ValueError as exc:
        raise InvalidInputError.for_field("limit", "limit must be a whole number.") from exc
    if not 1 <= limit <= APPLICATIONS_PAGE_MAX:
        raise InvalidInputError.for_field("limit", f"limit must be from 1 to {APPLICATIONS_PAGE_MAX}.")
    cursor = request.args.get("cursor") or None
    if cursor is not None and not (cursor.isascii() and cursor.isdigit() and len(cursor) <= 10):
        raise InvalidInputError.for_field("cursor", "The cursor is not one this API gave out; start again without it.")
    for name, most in (("group", 64), ("pool", 64), ("q", 200)):
        if len(request.args.get(name) or "") > most:
            raise InvalidInputError.for_field(name, f"{name} is at most {most} characters.")
    rows = service.search(slug, statuses=statuses, group=request.args.get("group") or None,
                          pool=request.args.get("pool") or None, text=(request.args.get("q") or "").strip() or None,
                          after_id=int(cursor) if cursor else None, limit=limit + 1)
    page = rows[:limit]
    return jsonify({"items": [application_json(a) for a in page],
                    "next_cursor": str(page[-1].id) if len(rows) > limit else None})


@bp.get("/applications/<int:application_id>")
def get_application(application_id: int) -> ResponseReturnValue:
    return jsonify(application_json(_admin_service().application(application_id)))


@bp.post("/applications/<int:application_id>/approve")
def approve_application(application_id: int) -> ResponseReturnValue:
    """Data rights verified: the seat becomes active (every check ticked, or ticked by this call)."""
    service = _admin_service()
    data = _parse(ApplicationApprove)
    checks = [c.value for c in data.checks] if data.checks is not None else None
    return jsonify(application_json(service.decide(current_user(), application_id, "approve", checks=checks)))


@bp.post("/applications/<int:application_id>/decline")
def decline_application(application_id: int) -> ResponseReturnValue:
    service = _admin_service()
    data = _parse(ApplicationReason)
    return jsonify(application_json(service.decide(current_user(), application_id, "decline", data.reason)))


@bp.post("/applications/<int:application_id>/reclaim")
def reclaim_application(application_id: int) -> ResponseReturnValue:
    service = _admin_service()
    data = _parse(ApplicationReason)
    return jsonify(application_json(service.decide(current_user(), application_id, "reclaim", data.reason)))
