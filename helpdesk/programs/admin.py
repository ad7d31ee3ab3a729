"""Staff pages of the delegate programmes: the seat meter and chart, settings (admins), the draw (admins),
applications with filters and bulk approval, the waitlist in order, the audit trail, and roster exports."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from pydantic import ValidationError
from werkzeug.wrappers import Response as BaseResponse

from helpdesk.db import utcnow
from helpdesk.exceptions import HelpdeskError, InvalidInputError
from helpdesk.programs.chart import seat_chart
from helpdesk.programs.forms import BulkDecisionForm, DecisionForm, DrawForm, ProgrammeForm
from helpdesk.programs.models import ApplicationStatus, Program, SelectionMode
from helpdesk.programs.routes import bp, csv_response
from helpdesk.programs.services import DATA_RIGHTS_CHECKS, PoolConfig, ProgramService, ProgramSettings
from helpdesk.web import admin_required, current_user, get_factory, staff_required

#: The filters of the applications page; any other value of ``status`` is ignored with a message.
STATUS_FILTERS = [s.value for s in ApplicationStatus]


def _service() -> ProgramService:
    return get_factory().create_program_service()


def application_json(application: object) -> dict[str, object]:
    """An application as the roster export and the API show it."""
    a = application  # type: ignore[assignment]
    return {
        "id": a.id, "program": a.program.slug, "status": a.status.value, "status_label": a.status.label,
        "name": a.name, "email": a.email, "institution": a.institution, "login": a.person.handle,
        "group": a.group, "pool": a.reserved_pool.slug if a.reserved_pool else a.pool.value,
        "position": a.position if a.status in (ApplicationStatus.WAITLISTED,) else None,
        "checks": {key: bool((a.checks or {}).get(key)) for key, _ in DATA_RIGHTS_CHECKS},
        "reason": a.reason, "applied_at": a.created_at.isoformat(),
        "decided_at": a.decided_at.isoformat() if a.decided_at else None,
    }


# -- pages -----------------------------------------------------------------------------------------


@bp.get("/staff/programmes")
@staff_required
def programmes() -> str:
    """Every programme with its seat meter."""
    service = _service()
    return render_template("programs/programmes.html",
                           meters=[service.counts(p.slug) for p in service.programs()])


def _programme_form(program: Program) -> ProgrammeForm:
    form = ProgrammeForm(formdata=None, name=program.name, cap=program.cap, selection=program.selection.value,
                         opens_at=_local(program.opens_at), closes_at=_local(program.closes_at),
                         groups="\n".join(f"{k} = {v:g}" for k, v in (program.groups or {}).items()),
                         pools="\n".join(f"{p.slug} | {p.name} | {p.seats}" for p in program.pools))
    return form


def _local(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC).replace(tzinfo=None) if value else None


def _overview(slug: str, form: ProgrammeForm | None = None, status: int = 200) -> tuple[str, int]:
    service = _service()
    counts = service.counts(slug)
    program = counts.program
    return render_template(
        "programs/programme.html", counts=counts, program=program, form=form or _programme_form(program),
        draw_form=DrawForm(), chart=seat_chart(service.seat_history(slug), utcnow()),
        draw=service.draw_event(slug), is_admin=current_user().is_admin,
    ), status


@bp.get("/staff/programmes/<slug>")
@staff_required
def programme(slug: str) -> tuple[str, int]:
    """One programme: the seat meter, the chart of seat use, its settings and the draw."""
    return _overview(slug)


@bp.post("/staff/programmes/<slug>")
@admin_required
def edit_programme(slug: str) -> BaseResponse | tuple[str, int]:
    """Administrators change the name, cap, selection mode, window, lottery groups and reserved pools."""
    form = ProgrammeForm()
    if not form.validate_on_submit():
        return _overview(slug, form, 400)
    try:
        changes = ProgramSettings(
            name=form.name.data, cap=form.cap.data, selection=SelectionMode(form.selection.data),
            opens_at=_utc(form.opens_at.data), closes_at=_utc(form.closes_at.data),
            groups=_parse_groups(form.groups.data or ""), pools=_parse_pools(form.pools.data or ""),
        )
    except InvalidInputError as exc:
        getattr(form, exc.field or "name").errors = [exc.message]
        return _overview(slug, form, 422)
    except ValidationError as exc:
        error = exc.errors()[0]
        target = str(error["loc"][0]) if error["loc"] else "closes_at"
        getattr(form, target if hasattr(form, target) else "closes_at").errors = [error["msg"].removeprefix(
            "Value error, ")]
        return _overview(slug, form, 422)
    try:
        counts = _service().configure(current_user(), slug, changes)
    except HelpdeskError as exc:
        field = getattr(exc, "field", None)
        getattr(form, field if field and hasattr(form, field) else "cap").errors = [exc.message]
        return _overview(slug, form, exc.status_code)
    flash(f"{counts.program.name} saved: cap {counts.program.cap}, {counts.held} seats held, "
          f"{counts.waitlisted} waiting.", "success")
    return redirect(url_for("programs.programme", slug=slug))


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value else None


def _parse_groups(text: str) -> dict[str, float]:
    groups: dict[str, float] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, weight = line.partition("=")
        try:
            if not sep:
                raise ValueError
            groups[key.strip()] = float(weight)
        except ValueError:
            raise InvalidInputError.for_field("groups", f"Line {number}: write it as key = weight.") from None
    return groups


def _parse_pools(text: str) -> list[PoolConfig]:
    pools = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        try:
            if len(parts) != 3:
                raise ValueError
            pools.append(PoolConfig(slug=parts[0], name=parts[1], seats=int(parts[2])))
        except (ValueError, ValidationError):
            raise InvalidInputError.for_field(
                "pools", f"Line {number}: write it as slug | name | seats (slug in lower-case letters, digits and "
                         "dashes; seats a whole number).") from None
    return pools


@bp.post("/staff/programmes/<slug>/draw")
@admin_required
def draw(slug: str) -> BaseResponse:
    """Run the lottery now (once); the seed is recorded in the audit trail."""
    form = DrawForm()
    if not form.validate_on_submit():
        flash("The seed must be a whole number from 0 up; leave it empty for a random one.", "error")
        return redirect(url_for("programs.programme", slug=slug))
    try:
        result = _service().draw(current_user(), slug, form.seed.data)
    except HelpdeskError as exc:
        flash(exc.message, "error")
    else:
        flash(f"Drawn with seed {result.seed}: {len(result.selected)} seats held, "
              f"{len(result.order) - len(result.selected)} on the waitlist in drawn order.", "success")
    return redirect(url_for("programs.programme", slug=slug))


@bp.get("/staff/programmes/<slug>/applications")
@staff_required
def applications(slug: str) -> str:
    """Applications with filters (state, group, pool, text); those being checked can be approved together."""
    service = _service()
    program = service.program(slug)
    statuses = [ApplicationStatus(s) for s in request.args.getlist("status") if s in STATUS_FILTERS]
    group = request.args.get("group") or None
    pool = request.args.get("pool") or None
    text = (request.args.get("q") or "").strip()[:200] or None
    rows = service.search(slug, statuses=statuses, group=group, pool=pool, text=text, limit=500)
    return render_template("programs/applications.html", program=program, rows=rows, statuses=statuses,
                           group=group, pool=pool, q=text or "", form=BulkDecisionForm(), decision=DecisionForm(),
                           all_statuses=list(ApplicationStatus), counts=service.counts(slug))


@bp.post("/staff/programmes/<slug>/applications/approve")
@staff_required
def bulk_approve(slug: str) -> BaseResponse:
    """Approve the selected applications; the staff member confirms they ticked every check for each."""
    form = BulkDecisionForm()
    back = url_for("programs.applications", slug=slug, status="pending")
    if not form.validate_on_submit() or not form.ids.data:
        flash("Select at least one application to approve.", "error")
        return redirect(back)
    if not form.checked.data:
        flash("Confirm that you checked every item of the data-rights checklist for each one.", "error")
        return redirect(back)
    decided, refused = _service().decide_many(current_user(), form.ids.data, "approve",
                                              checks=[key for key, _ in DATA_RIGHTS_CHECKS])
    if decided:
        flash(f"{len(decided)} approved: {', '.join(a.name for a in decided)}.", "success")
    for refusal in refused:
        flash(refusal, "error")
    return redirect(back)


@bp.get("/staff/programmes/<slug>/waitlist")
@staff_required
def waitlist(slug: str) -> str:
    """The waitlist in the order people move up."""
    service = _service()
    roster = service.roster(slug)
    return render_template("programs/waitlist.html", roster=roster, program=roster.counts.program,
                           decision=DecisionForm())


@bp.get("/staff/programmes/<slug>/audit")
@staff_required
def audit_trail(slug: str) -> str:
    """Every application and decision of the programme, newest first."""
    service = _service()
    events = service.decisions(slug)
    return render_template("programs/audit.html", program=service.program(slug), events=events,
                           names=service.actor_names(events))


@bp.get("/staff/programmes/<slug>/delegates.csv")
@staff_required
def delegates_csv(slug: str) -> ResponseReturnValue:
    """The active delegates, as CSV (formulas neutralised)."""
    return csv_response(_service().roster(slug).active, f"{slug}-delegates.csv")


@bp.get("/staff/programmes/<slug>/delegates.json")
@staff_required
def delegates_json(slug: str) -> ResponseReturnValue:
    """The active delegates, as JSON."""
    roster = _service().roster(slug)
    return jsonify({"program": slug, "exported_at": utcnow().isoformat(),
                    "items": [application_json(a) for a in roster.active]})


@bp.app_template_filter("checks_done")
def checks_done(application: object) -> int:
    return sum(bool((getattr(application, "checks", None) or {}).get(k)) for k, _ in DATA_RIGHTS_CHECKS)


__all__ = ["application_json", "DecisionForm"]


@bp.app_template_filter("status_label")
def status_label(value: str) -> str:
    """An application state's words for people (``pending`` is "being checked")."""
    try:
        return ApplicationStatus(value).label
    except ValueError:
        return value
