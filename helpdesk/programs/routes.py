"""Sign-up pages for delegates, and the roster for staff (the programme admin pages are in admin.py)."""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from pydantic import ValidationError
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse
from wtforms.fields.choices import SelectChoice

from helpdesk.db import utcnow
from helpdesk.exceptions import HelpdeskError
from helpdesk.programs.forms import DecisionForm, SignupForm
from helpdesk.programs.models import Application, Program, SelectionMode
from helpdesk.programs.services import (
    DATA_RIGHTS_CHECKS,
    DECLINE_NEXT_STEPS,
    ApplicationForm,
    ProgramService,
    window_refusal,
)
from helpdesk.web import (
    current_user,
    get_factory,
    get_session,
    limiter,
    login_required,
    public_rate_limit,
    staff_required,
)

bp = Blueprint("programs", __name__)
DEFAULT_PROGRAM = "dp0"


def _service() -> ProgramService:
    return get_factory().create_program_service()


def _program_choices() -> list[SelectChoice]:
    programs = get_session().scalars(select(Program).order_by(Program.id))
    return [SelectChoice(p.slug, f"{p.name} ({p.slug})") for p in programs]


def _signup_page(form: SignupForm, program: Program | None, status: int = 200) -> tuple[str, int]:
    groups = list((program.groups or {}) if program else {})
    form.group.choices = [SelectChoice(g, g.replace("-", " ").capitalize()) for g in groups]
    refusal = window_refusal(program, utcnow()) if program else None
    return render_template("programs/signup.html", form=form, program=program, refusal=refusal,
                           lottery=program is not None and program.selection is SelectionMode.LOTTERY
                           and program.drawn_at is None), status


@bp.route("/signup", methods=["GET", "POST"])
@login_required
@limiter.limit(public_rate_limit, methods=["POST"])
def signup() -> BaseResponse | str | tuple[str, int]:
    """Apply for a seat; shows where an existing application stands."""
    service = _service()
    form = SignupForm(program=request.args.get("program", DEFAULT_PROGRAM))
    form.program.choices = _program_choices()
    if not form.program.choices:
        return render_template("programs/closed.html"), 503
    user = current_user()
    program = get_session().scalar(select(Program).where(Program.slug == (form.program.data or DEFAULT_PROGRAM)))
    if request.method == "POST":
        if not form.validate_on_submit():
            return _signup_page(form, program, 400)
        try:
            data = ApplicationForm(name=form.name.data, email=form.email.data, institution=form.institution.data,
                                   data_rights=form.data_rights.data, group=form.group.data or None)
            application, created = service.apply(user, form.program.data, data)
        except ValidationError:
            form.email.errors = [*form.email.errors, "Enter a valid e-mail address."]
            return _signup_page(form, program, 400)
        except HelpdeskError as exc:
            target = form.group if getattr(exc, "field", None) == "group" else form.data_rights
            target.errors = [*target.errors, exc.message]
            return _signup_page(form, program, exc.status_code)
        if not created:
            flash("You have already applied; here is where your application stands.", "success")
        return redirect(url_for("programs.signup", program=application.program.slug))
    existing = service.application_of(user, program.slug) if program else None
    if existing is not None and (existing.status.is_live or request.args.get("again") != "1"):
        return render_template("programs/status.html", application=existing,
                               position=service.waitlist_position(existing), next_steps=DECLINE_NEXT_STEPS)
    if not form.name.data:  # a new form: what we know already
        form.name.data = existing.name if existing else user.display_name
        form.email.data = existing.email if existing else (user.email or "")
        form.institution.data = existing.institution if existing else None
    return _signup_page(form, program)


@bp.get("/staff/roster")
@staff_required
def roster() -> str:
    """Who holds a seat, who is being checked, and who waits, for one programme."""
    slug = request.args.get("program", DEFAULT_PROGRAM)
    roster = _service().roster(slug)
    return render_template("programs/roster.html", roster=roster, form=DecisionForm(), checklist=DATA_RIGHTS_CHECKS,
                           programs=get_session().scalars(select(Program).order_by(Program.id)).all())


@bp.post("/staff/roster/<int:application_id>")
@staff_required
def decide(application_id: int) -> BaseResponse | str:
    """One decision; a decline (or a reclaim) shows a confirmation page first, then is made."""
    form = DecisionForm()
    service = _service()
    back = request.form.get("back") or ""
    back = back if back.startswith("/staff/") else None
    if not form.validate_on_submit():
        flash("That decision could not be read; try again.", "error")
        return redirect(back or url_for("programs.roster"))
    action = form.action.data
    try:
        application = service.application(application_id)
        if action in ("decline", "reclaim") and form.confirm.data != "yes":
            return render_template("programs/confirm.html", application=application, form=form, action=action,
                                   back=back or url_for("programs.roster", program=application.program.slug))
        if action == "checks":
            application = service.record_checks(current_user(), application_id, form.checks.data or [])
            flash(f"{application.name}: checklist saved.", "success")
        else:
            application = service.decide(current_user(), application_id, action, form.note.data,
                                         checks=form.checks.data if action == "approve" else None,
                                         pool=form.pool.data or None)
            flash(f"{application.name}: {application.status.label}.", "success")
    except HelpdeskError as exc:
        flash(exc.message, "error")
        if action in ("decline", "reclaim") and form.confirm.data == "yes" and getattr(exc, "field", None):
            application = service.application(application_id)
            form.note.errors = [exc.message]
            return render_template("programs/confirm.html", application=application, form=form, action=action,
                                   back=back or url_for("programs.roster"))
        return redirect(back or url_for("programs.roster"))
    return redirect(back or url_for("programs.roster", program=application.program.slug))


@bp.get("/staff/roster.csv")
@staff_required
def roster_csv() -> Response:
    slug = request.args.get("program", DEFAULT_PROGRAM)
    roster = _service().roster(slug)
    return csv_response([*roster.active, *roster.pending, *roster.waitlisted], f"{slug}-roster.csv")


CSV_COLUMNS = ["status", "name", "email", "institution", "github_login", "pool", "group", "applied_at", "decided_at"]


def csv_response(applications: list[Application], filename: str) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for application in applications:
        writer.writerow([
            application.status.value, _cell(application.name), _cell(application.email),
            _cell(application.institution), _cell(application.person.handle),
            application.reserved_pool.slug if application.reserved_pool else application.pool.value,
            application.group or "", application.created_at.isoformat(),
            application.decided_at.isoformat() if application.decided_at else "",
        ])
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _cell(value: str) -> str:
    """Neutralise spreadsheet formulas in what applicants typed (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value

