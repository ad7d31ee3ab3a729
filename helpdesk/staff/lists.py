"""The staff console's ticket lists: the board (``/staff/``: queues, then a list), the list alone
(``/staff/tickets``), bulk actions on ticked tickets, and saved views.

Every list reads the same parameters as ``GET /api/v1/tickets`` (:class:`helpdesk.tickets.listing.ListQuery`),
through :class:`helpdesk.tickets.listing.TicketListing`; bulk actions go through
:class:`helpdesk.tickets.bulk.BulkActions`, which calls the ticket service once per ticket.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlencode

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from helpdesk.exceptions import HelpdeskError, InvalidInputError
from helpdesk.forms import HelpdeskForm
from helpdesk.staff.routes import bp
from helpdesk.tickets.board import queue_summaries
from helpdesk.tickets.bulk import ACTIONS, CONFIRM, BulkActions
from helpdesk.tickets.listing import PARAMETERS, SLA_STATES, SORTS, ListQuery
from helpdesk.tickets.models import Priority, Source, Status
from helpdesk.tickets.reference import read_reference
from helpdesk.tickets.saved_views import SavedViewService
from helpdesk.tickets.sla import SlaPolicy
from helpdesk.web import current_user, get_factory, get_session, get_settings, staff_required

PAGE_SIZE = 50
#: The lists every staff member has, with their counts on the board.
BUILT_IN_VIEWS = {
    "My open tickets": ListQuery(status="open", assignee="me", sort="due"),
    "Unassigned": ListQuery(status="open", assignee="none", sort="oldest"),
    "Overdue first response": ListQuery(sla="breached", sort="due"),
    "Due soon": ListQuery(sla="due_soon", sort="due"),
}


class ListActionForm(HelpdeskForm):
    """Only the CSRF token: bulk actions and saved views read their fields from the request (see below)."""


#: The key of the list's own count among the view counts read with it.
_PAGE_COUNT = "(this list)"


def _render(template: str, *, board: bool) -> tuple[str, int] | str:
    """The board or the list in a fixed few statements whatever the number of tickets, queues or staff: the
    reference data (queues, staff with their logins, queue members, tag names, saved views: one statement,
    helpdesk.tickets.reference), the page (one), every count the page shows (one), and on the board the queue
    summaries (one, helpdesk.tickets.board)."""
    factory, user = get_factory(), current_user()
    reference = read_reference(get_session(), user)
    listing = factory.create_ticket_listing()
    listing.use_queues(reference.queues)
    error: InvalidInputError | None = None
    page = None
    try:
        query = ListQuery.parse(request.args, default_status="open")
        page = listing.page(user, query, cursor=request.args.get("cursor") or None, limit=PAGE_SIZE, count=False)
    except InvalidInputError as exc:
        error, query = exc, ListQuery(status="open")
    # The list's own count and the views' counts are scalar subqueries of one SELECT.
    counts = listing.counts(user, {**BUILT_IN_VIEWS, **({_PAGE_COUNT: query} if page is not None else {})})
    if page is not None:
        page = replace(page, count=counts[_PAGE_COUNT])
    summaries = (queue_summaries(get_session(), reference, factory.clock(), SlaPolicy.from_settings(get_settings()))
                 if board else None)
    html = render_template(
        template, page=page, query=query, error=error, summaries=summaries, queues=reference.queues,
        staff=reference.staff, statuses=list(Status), priorities=list(Priority), sources=list(Source),
        sla_states=SLA_STATES, sorts=SORTS, built_in=[(name, q, counts[name]) for name, q in BUILT_IN_VIEWS.items()],
        views=reference.views, view_service=SavedViewService(get_session()), tag_names=reference.tag_names,
        form=ListActionForm(), actions=ACTIONS, args=query.to_args(), queue=query.queue or None,
    )
    return (html, 422) if error else html


@bp.get("/")
@staff_required
def index() -> tuple[str, int] | str:
    """The board: open tickets by queue with their clocks and room, the views, then the list the filters choose."""
    return _render("staff/index.html", board=True)


@bp.get("/tickets")
@staff_required
def tickets() -> tuple[str, int] | str:
    """The ticket list alone: search, filters, sort, views, pages both ways and bulk actions."""
    return _render("staff/tickets.html", board=False)


def _back() -> str:
    """Where a list's form came from (its own path and filters), never another site."""
    target = request.form.get("back", "")
    return target if target.startswith("/staff/") and "//" not in target and "\\" not in target else \
        url_for("staff.tickets")


@bp.post("/tickets/bulk")
@staff_required
def bulk() -> Response:
    """Apply one action to the ticked tickets; each ticket changes through the ticket service and is audited."""
    if not ListActionForm().validate_on_submit():
        flash("The form expired; try again.", "error")
        return redirect(_back())
    action = request.form.get("action", "")
    ids = [int(v) for v in request.form.getlist("ticket") if v.isdigit() and len(v) <= 10]
    if action in CONFIRM and request.form.get("confirm") != "yes":
        flash(f"Tick “Yes, {action} the selected tickets” to {action} them: this cannot be undone with one click.",
              "error")
        return redirect(_back())
    value = {"assign": "assignee", "queue": "queue", "status": "status", "priority": "priority", "tag": "tags",
             "untag": "tags", "merge": "into"}.get(action)
    from helpdesk.tickets.duplicates import DuplicateService

    factory = get_factory()
    actions = BulkActions(factory.create_ticket_service(), DuplicateService(
        factory.session, factory.create_ticket_service(), min_score=factory.settings.duplicate_min_similarity,
        clock=factory.clock))
    try:
        result = actions.apply(current_user(), action, ids, value=request.form.get(value, "") if value else None,
                               override_limit=request.form.get("override_limit") == "y")
    except HelpdeskError as exc:
        flash(exc.message, "error")
        return redirect(_back())
    flash(result.summary(), "error" if result.refused else "success")
    return redirect(_back())


@bp.post("/views")
@staff_required
def save_view() -> Response:
    """Save the list's filters as a view: personal, or shared with every staff member."""
    if not ListActionForm().validate_on_submit():
        flash("The form expired; try again.", "error")
        return redirect(_back())
    args = {name: request.form.get(name, "") for name in PARAMETERS if request.form.get(name)}
    view_id = request.form.get("view_id", "")
    try:
        view = SavedViewService(get_session()).save(
            current_user(), request.form.get("name", ""), args, shared=request.form.get("shared") == "y",
            view_id=int(view_id) if view_id.isdigit() and len(view_id) <= 10 else None)
    except HelpdeskError as exc:
        flash(exc.message, "error")
        return redirect(_back())
    flash(f"View “{view.name}” saved{' and shared' if view.shared else ''}.", "success")
    return redirect(url_for("staff.tickets") + ("?" + view.query if view.query else ""))


@bp.post("/views/<int:view_id>/delete")
@staff_required
def delete_view(view_id: int) -> Response:
    if not ListActionForm().validate_on_submit():
        flash("The form expired; try again.", "error")
        return redirect(_back())
    try:
        SavedViewService(get_session()).delete(current_user(), view_id)
    except HelpdeskError as exc:
        flash(exc.message, "error")
    else:
        flash("View deleted.", "success")
    return redirect(_back())


def list_url(endpoint: str, args: dict[str, str], **changes: str | None) -> str:
    """A list's address with some parameters changed (None removes one); used by the templates."""
    merged = {**args, **changes}
    query = urlencode({k: v for k, v in merged.items() if v})
    return url_for(endpoint) + (f"?{query}" if query else "")


@bp.app_template_global()
def staff_list_url(endpoint: str, args: dict[str, str], **changes: str | None) -> str:
    return list_url(endpoint, args, **changes)
