"""Sign-up pages for delegates, and the roster for staff."""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from pydantic import ValidationError
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse
from wtforms.fields.choices import SelectChoice

from helpdesk.exceptions import HelpdeskError
from helpdesk.programs.forms import DecisionForm, SignupForm
from helpdesk.programs.models import Program
from helpdesk.programs.services import ApplicationForm, ProgramService
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
    if request.method == "POST":
        if not form.validate_on_submit():
            return render_template("programs/signup.html", form=form), 400
        try:
            data = ApplicationForm(name=form.name.data, email=form.email.data, institution=form.institution.data,
                                   data_rights=form.data_rights.data)
            application, created = service.apply(user, form.program.data, data)
        except ValidationError:
            form.email.errors = [*form.email.errors, "Enter a valid e-mail address."]
            return render_template("programs/signup.html", form=form), 400
        except HelpdeskError as exc:
            form.data_rights.errors = [exc.message]
            return render_template("programs/signup.html", form=form), exc.status_code
        if not created:
            flash("You have already applied; here is where your application stands.", "success")
        return redirect(url_for("programs.signup", program=application.program.slug))
    existing = service.application_of(user, form.program.data or DEFAULT_PROGRAM)
    if existing is not None and existing.status.is_live:
        return render_template("programs/status.html", application=existing,
                               position=service.waitlist_position(existing))
    if request.method == "GET" and not form.name.data:
        form.name.data = user.display_name
        form.email.data = user.email or ""
    return render_template("programs/signup.html", form=form)


@bp.get("/staff/roster")
@staff_required
def roster() -> str:
    """Who holds a seat, who is being checked, and who waits, for one programme."""
    slug = request.args.get("program", DEFAULT_PROGRAM)
    return render_template("programs/roster.html", roster=_service().roster(slug), form=DecisionForm(),
                           programs=get_session().scalars(select(Program).order_by(Program.id)).all())


@bp.post("/staff/roster/<int:application_id>")
@staff_required
def decide(application_id: int) -> BaseResponse:
    form = DecisionForm()
    if not form.validate_on_submit():
        flash("That decision could not be read; try again.", "error")
        return redirect(request.referrer or url_for("programs.roster"))
    service = _service()
    try:
        application = service.decide(current_user(), application_id, form.action.data, form.note.data)
    except HelpdeskError as exc:
        flash(exc.message, "error")
        return redirect(url_for("programs.roster"))
    flash(f"{application.name}: {application.status.value}.", "success")
    return redirect(url_for("programs.roster", program=application.program.slug))


@bp.get("/staff/roster.csv")
@staff_required
def roster_csv() -> Response:
    slug = request.args.get("program", DEFAULT_PROGRAM)
    roster = _service().roster(slug)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["status", "name", "email", "institution", "github_login", "pool", "applied_at", "decided_at"])
    for application in [*roster.active, *roster.pending, *roster.waitlisted]:
        writer.writerow([
            application.status.value, _cell(application.name), _cell(application.email),
            _cell(application.institution), application.person.handle, application.pool.value,
            application.created_at.isoformat(), application.decided_at.isoformat() if application.decided_at else "",
        ])
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{slug}-roster.csv"'})


def _cell(value: str) -> str:
    """Neutralise spreadsheet formulas in what applicants typed (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value
