"""Staff pages of issue #10's delegate access: idle seats (admins reclaim them) and questions held past a
ticket limit (staff file them). Routes on the staff blueprint; the work is in the services."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from helpdesk import audit
from helpdesk.exceptions import HelpdeskError, NotFoundError
from helpdesk.forms import HelpdeskForm
from helpdesk.programs.inactivity import IdlePolicy, idle_seats, reclaim_seat
from helpdesk.staff.routes import bp
from helpdesk.tickets.limits import HeldDelivery
from helpdesk.tickets.models import Source
from helpdesk.web import admin_required, current_user, get_factory, get_settings, staff_required


@bp.get("/delegates/idle")
@admin_required
def idle() -> str:
    """Active seats whose holders were reminded, most reminders first; reclaimable ones have a button."""
    policy = IdlePolicy.from_settings(get_settings())
    return render_template("staff/idle.html", seats=idle_seats(get_factory().session, policy), policy=policy,
                           form=HelpdeskForm())


@bp.post("/delegates/idle/<int:application_id>/reclaim")
@admin_required
def reclaim(application_id: int) -> Response:
    """Reclaim an idle delegate's seat (audited; the waitlist's head is promoted)."""
    if not HelpdeskForm().validate_on_submit():
        flash("The form expired; please try again.", "error")
        return redirect(url_for("staff.idle"))
    factory = get_factory()
    try:
        application = reclaim_seat(factory.session, current_user(), application_id,
                                   IdlePolicy.from_settings(get_settings()), factory.clock)
    except HelpdeskError as exc:
        flash(exc.message, "error")
        return redirect(url_for("staff.idle"))
    flash(f"Seat of {application.name} reclaimed; the next person on the waitlist has it.", "success")
    return redirect(url_for("staff.idle"))


@bp.get("/held")
@staff_required
def held() -> str:
    """Slack and forum questions that arrived past their author's ticket limit, kept for staff."""
    rows = list(get_factory().session.scalars(
        select(HeldDelivery).where(HeldDelivery.released_at.is_(None)).order_by(HeldDelivery.id.desc()).limit(200)))
    return render_template("staff/held.html", held=rows, form=HelpdeskForm())


@bp.post("/held/<int:held_id>/file")
@staff_required
def file_held(held_id: int) -> Response:
    """File a held question as a ticket after all (staff decide; audited): the limit does not apply to staff."""
    if not HelpdeskForm().validate_on_submit():
        flash("The form expired; please try again.", "error")
        return redirect(url_for("staff.held"))
    factory = get_factory()
    session = factory.session
    row = session.get(HeldDelivery, held_id)
    if row is None or row.released_at is not None:
        raise NotFoundError(f"No held question {held_id} waiting.")
    service = factory.create_ticket_service()
    service.limits = type(service.limits)()  # a staff decision: the requester's limit is not asked again
    filed = service.file(row.person, row.subject, row.body, Source(row.source), external=dict(row.external),
                         thread_key=row.thread_key)
    row = session.get(HeldDelivery, held_id)
    row.released_at, row.released_ticket_id = factory.clock(), filed.ticket.id
    audit.record(session, "ticket.held_filed", actor_id=current_user().id, ticket_id=filed.ticket.id, held_id=held_id)
    session.commit()
    flash(f"Filed as ticket #{filed.ticket.id}.", "success")
    return redirect(url_for("staff.detail", ticket_id=filed.ticket.id))
