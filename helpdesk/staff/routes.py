"""Staff console routes. Every route requires the staff role."""

from __future__ import annotations

import uuid

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms.fields.choices import SelectChoice

from helpdesk.accounts.models import Person
from helpdesk.db import ID_MAX
from helpdesk.exceptions import HelpdeskError, PermissionDeniedError
from helpdesk.staff.forms import AssignForm, EscalateForm, MemberForm, StaffUpdateForm
from helpdesk.tickets.assignment import AssignmentService
from helpdesk.tickets.forms import ReplyForm, SortForm, UpdateForm
from helpdesk.tickets.models import Status, Ticket, Visibility
from helpdesk.tickets.reference import ReferenceData, read_reference
from helpdesk.tickets.sla import Clock, SlaPolicy, clock_of
from helpdesk.web import current_user, get_factory, get_session, get_settings, staff_required

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.context_processor
def _clocks_and_assignment() -> dict[str, object]:
    """Every console page can show a ticket's first-response clock and offer one-click assignment."""
    policy, now = SlaPolicy.from_settings(get_settings()), get_factory().clock()

    def sla_clock(ticket: Ticket) -> Clock | None:
        return clock_of(ticket, now, policy)

    return {"sla_clock": sla_clock, "sla_policy": policy, "assign_form": AssignForm()}


def _assignment() -> AssignmentService:
    factory = get_factory()
    return AssignmentService(factory.session, strategy=factory.settings.assignment, clock=factory.clock)


# The board (``/staff/``) and the ticket lists live in helpdesk.staff.lists.


@bp.get("/tickets/<int:ticket_id>")
@staff_required
def detail(ticket_id: int) -> str:
    return _ticket_page(ticket_id, ReplyForm())


def _ticket_page(ticket_id: int, reply_form: ReplyForm) -> str:
    """The ticket page: the ticket in one statement, everything beside it in one more (helpdesk.staff.ticket_page)."""
    from helpdesk.staff.ticket_page import load_ticket, ticket_workspace

    user = current_user()
    assert user is not None
    ticket = load_ticket(user, ticket_id)
    ws = ticket_workspace(ticket, user, reply_form)
    suggestions = get_factory().create_suggester().for_text(f"{ticket.subject}\n{ticket.body}")
    return render_template(
        "staff/detail.html", ticket=ticket, ws=ws, reply_form=reply_form,
        update_form=_update_form(ticket, ws["reference"]), suggestions=suggestions,
    )


@bp.post("/tickets/<int:ticket_id>/reply")
@staff_required
def reply(ticket_id: int) -> Response | tuple[str, int]:
    form = ReplyForm()
    service = get_factory().create_ticket_service()
    if not form.validate_on_submit():
        return _ticket_page(ticket_id, form), 400
    # "Send and set status" (the reply box's status menu): one call, one transaction; empty leaves the rule.
    raw_status = request.form.get("status") or ""
    status = Status(raw_status) if raw_status in Status.__members__.values() else None
    try:
        service.reply(current_user(), ticket_id, form.body.data, Visibility(form.visibility.data), status=status)
    except HelpdeskError as exc:
        if exc.status_code == 404:
            raise
        flash(exc.message, "error")
        return _ticket_page(ticket_id, form), exc.status_code
    sent = "Internal note added" if form.visibility.data == "internal" else "Reply sent"
    flash(f"{sent}; the ticket is now {status.value.replace('_', ' ')}." if status else f"{sent}.", "success")
    return redirect(url_for("staff.detail", ticket_id=ticket_id))


@bp.post("/tickets/<int:ticket_id>/update")
@staff_required
def update(ticket_id: int) -> Response:
    service = get_factory().create_ticket_service()
    ticket = service.get(current_user(), ticket_id)
    form = _update_form(ticket)
    if not form.validate_on_submit():
        flash("Those changes could not be read; try again.", "error")
        return redirect(url_for("staff.detail", ticket_id=ticket_id))
    changes = {
        "queue": form.queue.data or None, "status": form.status.data, "priority": form.priority.data,
        "assignee": form.assignee.data or None, "override_limit": bool(form.override_limit.data),
    }
    try:
        service.update(current_user(), ticket_id, changes)
    except HelpdeskError as exc:
        flash(exc.message, "error")
        if exc.status_code == 409 and exc.code == "wip_limit_reached":
            return detail(ticket_id), 409  # type: ignore[return-value]
    else:
        flash("Ticket updated.", "success")
    return redirect(url_for("staff.detail", ticket_id=ticket_id))


@bp.post("/tickets/<int:ticket_id>/assign")
@staff_required
def assign(ticket_id: int) -> Response | tuple[str, int]:
    """One click: assign to me, to whoever has room (``auto``), or to a login; the queue's limit holds."""
    form = AssignForm()
    if not form.validate_on_submit():
        flash("Say whom to assign the ticket to.", "error")
        return redirect(url_for("staff.detail", ticket_id=ticket_id))
    user, to = current_user(), form.to.data.strip()
    try:
        if to == "auto":
            person = _assignment().auto_assign(user, ticket_id)
        else:
            login = user.handle if to == "me" else to
            ticket = get_factory().create_ticket_service().update(
                user, ticket_id, {"assignee": login, "override_limit": bool(form.override_limit.data)})
            person = ticket.assignee
    except HelpdeskError as exc:
        flash(exc.message, "error")
        return detail(ticket_id), exc.status_code
    flash(f"Assigned to {person.handle if person else 'nobody'}.", "success")
    return redirect(url_for("staff.detail", ticket_id=ticket_id))


# -- escalation to engineering ---------------------------------------------------------------------------


# The ticket page's engineering panel (staff/_escalation_panel.html) is read with its other panels
# (helpdesk.staff.ticket_page).


@bp.post("/tickets/<int:ticket_id>/escalate")
@staff_required
def escalate(ticket_id: int) -> Response | tuple[str, int]:
    """One action: file the confirmed bug in the engineering tracker (the worker files it and tells the requester)."""
    form = EscalateForm()
    if not form.validate_on_submit():
        flash("Give the issue a title (at most 250 characters) and a description.", "error")
        return redirect(url_for("staff.detail", ticket_id=ticket_id))
    service = get_factory().create_escalation_service()
    try:
        escalation, created = service.escalate(current_user(), ticket_id, form.summary.data, form.description.data)
    except HelpdeskError as exc:
        if exc.status_code == 404:
            raise
        flash(exc.message, "error")
        return detail(ticket_id), exc.status_code
    if created:
        flash(f"Escalated to {service.tracker_label}: the issue is being filed, and the requester will be told its "
              "link.", "success")
    else:
        flash("This ticket is already escalated; nothing new was filed.", "info")
    return redirect(url_for("staff.detail", ticket_id=ticket_id))


def _update_form(ticket, reference: ReferenceData | None = None) -> UpdateForm:  # type: ignore[no-untyped-def]
    """The ticket's update form; its choices are the queues and the staff of the reference data, read here unless
    given (the ticket page has read them)."""
    form = StaffUpdateForm(
        queue=ticket.queue.slug if ticket.queue else "", status=ticket.status.value,
        priority=ticket.priority.value, assignee=ticket.assignee.handle.lower() if ticket.assignee else "",
    )
    if reference is None:
        reference = read_reference(get_session(), parts=("queues", "staff"))
    form.queue.choices = [SelectChoice("", "— unsorted —")] + [SelectChoice(q.slug, q.name) for q in reference.queues]
    form.assignee.choices = [SelectChoice("", "— nobody —")] + [
        SelectChoice(handle.lower(), handle) for handle in sorted(p.handle for p in reference.staff)
    ]
    return form


# -- who works which queue -------------------------------------------------------------------------------


@bp.get("/queues")
@staff_required
def queues() -> str:
    """Each queue's members with their open tickets and room; administrators add and remove members."""
    summaries = get_factory().create_ticket_service().queue_summaries(SlaPolicy.from_settings(get_settings()))
    form = MemberForm()
    form.queue.choices = [SelectChoice(s.queue.slug, s.queue.name) for s in summaries if s.queue]
    return render_template("staff/queues.html", summaries=[s for s in summaries if s.queue], member_form=form,
                           strategy=get_settings().assignment)


@bp.post("/queues/members")
@staff_required
def queue_member_change() -> Response:
    """Add (``action=add``) or remove (``action=remove``) a queue member; administrators only, audited."""
    form = MemberForm()
    form.queue.choices = [SelectChoice(q.slug, q.name) for q in get_factory().create_ticket_service().queues()]
    if not form.validate_on_submit():
        flash("Choose a queue and give a staff login.", "error")
        return redirect(url_for("staff.queues"))
    service, user = _assignment(), current_user()
    login, slug = form.login.data.strip(), form.queue.data
    try:
        if not user.is_admin:
            raise PermissionDeniedError("Only administrators change who works a queue.")
        if request.form.get("action") == "remove":
            service.remove_member(user, slug, login)
            flash(f"{login} no longer works {slug}.", "success")
        else:
            added = service.add_member(user, slug, login)
            flash(f"{login} {'now works' if added else 'already worked'} {slug}.", "success")
    except HelpdeskError as exc:
        flash(exc.message, "error")
    return redirect(url_for("staff.queues"))


# -- deliveries and people (Slack and forum integration) ---------------------------------------------


@bp.get("/outbox")
@staff_required
def outbox() -> str:
    """Deliveries to Slack and the forum that failed for good, with a button to send each again."""
    service = get_factory().create_outbox_service()
    return render_template("staff/outbox.html", dead=service.dead(), counts=service.counts())


@bp.post("/outbox/<int:item_id>/retry")
@staff_required
def outbox_retry(item_id: int) -> Response:
    try:
        get_factory().create_outbox_service().retry(current_user(), item_id)
    except HelpdeskError as exc:
        flash(exc.message, "error")
    else:
        flash(f"Delivery outbox-{item_id} will be sent again.", "success")
    return redirect(url_for("staff.outbox"))


@bp.get("/people")
@staff_required
def people() -> str:
    """People, newest first, with their identities; two of them can be merged into one."""
    query = select(Person).where(Person.merged_into_id.is_(None)).order_by(Person.id.desc()).limit(200)
    return render_template("staff/people.html", people=list(get_session().scalars(query)))


@bp.post("/people/merge")
@staff_required
def people_merge() -> Response:
    try:
        source_id, target_id = int(request.form.get("source_id", "")), int(request.form.get("target_id", ""))
    except ValueError:
        flash("Give the ids of both people.", "error")
        return redirect(url_for("staff.people"))
    if not (0 < source_id <= ID_MAX and 0 < target_id <= ID_MAX):
        flash(f"No person has that id; ids are whole numbers from 1 to {ID_MAX}.", "error")
        return redirect(url_for("staff.people"))
    try:
        target = get_factory().create_account_service().merge(current_user(), source_id, target_id)
    except HelpdeskError as exc:
        flash(exc.message, "error")
    else:
        flash(f"Person {source_id} was merged into {target.display_name} (person {target.id}).", "success")
    return redirect(url_for("staff.people"))


@bp.get("/triage")
@staff_required
def triage() -> str:
    """Open tickets that triage left for a person, oldest first, each with its two best guesses."""
    factory = get_factory()
    service = factory.create_ticket_service()
    waiting = service.awaiting_triage(limit=100)
    return render_template("staff/triage.html", tickets=waiting, queues=service.queues(),
                           threshold=factory.settings.triage_confidence_threshold)


@bp.post("/triage/<int:ticket_id>")
@staff_required
def triage_sort(ticket_id: int) -> Response:
    """Sort one ticket from the triage view; a choice other than triage's best guess is recorded as a correction."""
    form = SortForm()
    if not form.validate_on_submit():
        flash("Choose a queue for the ticket.", "error")
        return redirect(url_for("staff.triage"))
    try:
        ticket = get_factory().create_ticket_service().update(current_user(), ticket_id, {"queue": form.queue.data})
    except HelpdeskError as exc:
        flash(exc.message, "error")
        return redirect(url_for("staff.triage"))
    flash(f"Ticket #{ticket.id} is now in {ticket.queue.name if ticket.queue else 'no queue'}.", "success")
    return redirect(url_for("staff.triage"))


# -- incidents and duplicates (helpdesk.tickets.incidents, helpdesk.tickets.duplicates) ------------------------


def _incidents():  # type: ignore[no-untyped-def]
    from helpdesk.tickets.incidents import IncidentPolicy, IncidentService

    factory = get_factory()
    return IncidentService(factory.session, factory.create_ticket_service(),
                           policy=IncidentPolicy.from_settings(factory.settings), clock=factory.clock)


def _duplicates():  # type: ignore[no-untyped-def]
    from helpdesk.tickets.duplicates import DuplicateService

    factory = get_factory()
    return DuplicateService(factory.session, factory.create_ticket_service(),
                            min_score=factory.settings.duplicate_min_similarity, clock=factory.clock)


@bp.context_processor
def _answer_key() -> dict[str, object]:
    """The incident page's answer key; the ticket page's incident, duplicates and merged panels are read with its
    other panels (helpdesk.staff.ticket_page)."""
    return {"new_answer_key": lambda: uuid.uuid4().hex}


def _ticket_id_field(name: str) -> int | None:
    value = (request.form.get(name) or "").strip().lstrip("#")
    return int(value) if value.isdigit() and 0 < int(value) <= ID_MAX else None


@bp.get("/incidents")
@staff_required
def incidents() -> str:
    """Incidents, open ones first, with their report counts."""
    return render_template("staff/incidents.html", incidents=_incidents().list())


@bp.get("/incidents/<int:incident_id>")
@staff_required
def incident(incident_id: int) -> str:
    """One incident: its linked tickets, its answers (one reply per ticket), linking, answering and closing."""
    return render_template("staff/incident.html", incident=_incidents().get(current_user(), incident_id))


@bp.post("/incidents/<int:incident_id>/answer")
@staff_required
def incident_answer(incident_id: int) -> Response:
    """Answer every linked requester at once; the form's key makes a double-click send once."""
    result = _incidents().answer(current_user(), incident_id, request.form.get("body", ""),
                                 request.form.get("key", ""))
    flash("This answer was sent before; nobody got it twice." if result.replayed and not result.sent
          else f"Answer sent on {result.sent} tickets.", "success")
    return redirect(url_for("staff.incident", incident_id=incident_id))


@bp.post("/incidents/<int:incident_id>/link")
@staff_required
def incident_link(incident_id: int) -> Response:
    ticket_id = _ticket_id_field("ticket_id")
    if ticket_id is None:
        flash("Give the number of the ticket to link.", "error")
    else:
        try:
            _incidents().link(current_user(), incident_id, ticket_id)
        except HelpdeskError as exc:
            flash(exc.message, "error")
        else:
            flash(f"Ticket #{ticket_id} linked.", "success")
    return redirect(url_for("staff.incident", incident_id=incident_id))


@bp.post("/incidents/<int:incident_id>/unlink")
@staff_required
def incident_unlink(incident_id: int) -> Response:
    ticket_id = _ticket_id_field("ticket_id")
    if ticket_id is None:
        flash("Give the number of the ticket to unlink.", "error")
    else:
        try:
            _incidents().unlink(current_user(), incident_id, ticket_id)
        except HelpdeskError as exc:
            flash(exc.message, "error")
        else:
            flash(f"Ticket #{ticket_id} unlinked.", "success")
    return redirect(url_for("staff.incident", incident_id=incident_id))


@bp.post("/incidents/<int:incident_id>/close")
@staff_required
def incident_close(incident_id: int) -> Response:
    try:
        _incidents().close(current_user(), incident_id, resolve_tickets=request.form.get("resolve") == "y")
    except HelpdeskError as exc:
        flash(exc.message, "error")
    else:
        flash("Incident closed.", "success")
    return redirect(url_for("staff.incident", incident_id=incident_id))


@bp.post("/tickets/<int:ticket_id>/incident")
@staff_required
def ticket_incident(ticket_id: int) -> Response:
    """Start an incident from this ticket, or link it to an open incident by number."""
    incident_id = _ticket_id_field("incident_id")
    try:
        if incident_id is not None:
            _incidents().link(current_user(), incident_id, ticket_id)
        else:
            incident_id = _incidents().create(current_user(), ticket_id, request.form.get("title")).id
    except HelpdeskError as exc:
        flash(exc.message, "error")
        return redirect(url_for("staff.detail", ticket_id=ticket_id))
    return redirect(url_for("staff.incident", incident_id=incident_id))


@bp.post("/tickets/<int:ticket_id>/merge")
@staff_required
def ticket_merge(ticket_id: int) -> Response:
    """Merge this ticket into another (form field ``into``): both requesters are told, both keep their thread."""
    into = _ticket_id_field("into")
    if into is None:
        flash(f"Give the number of the ticket to merge into (1 to {ID_MAX}).", "error")
        return redirect(url_for("staff.detail", ticket_id=ticket_id))
    try:
        survivor = _duplicates().merge(current_user(), ticket_id, into)
    except HelpdeskError as exc:
        flash(exc.message, "error")
        return redirect(url_for("staff.detail", ticket_id=ticket_id))
    flash(f"Ticket #{ticket_id} was merged into #{survivor.id}; both requesters were told.", "success")
    return redirect(url_for("staff.detail", ticket_id=survivor.id))
