"""The requester's side: the home page, filing a ticket on the web, following one's tickets."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from helpdesk.exceptions import InvalidInputError
from helpdesk.links import safe_link
from helpdesk.tickets.forms import ReplyForm, TicketForm
from helpdesk.tickets.limits import TicketLimitError
from helpdesk.tickets.models import Source, Visibility
from helpdesk.web import current_user, get_factory, limiter, login_required, public_rate_limit

bp = Blueprint("tickets", __name__)


@bp.get("/")
def home() -> str:
    """Landing page: read the docs, ask a question, follow your tickets."""
    return render_template("tickets/home.html")


@bp.route("/tickets/new", methods=["GET", "POST"])
@login_required
@limiter.limit(public_rate_limit, methods=["POST"])
def new() -> Response | str | tuple[str, int]:
    """The web form. ``?subject=`` and ``?page=`` prefill it (the docs' "Ask about this page" link)."""
    form = TicketForm()
    if request.method == "GET":
        form.subject.data = request.args.get("subject", "")[:200]
        # Only a safe link is carried along: the page is shown to staff as a link.
        form.page.data = safe_link(request.args.get("page", "")) or ""
        return render_template("tickets/new.html", form=form)
    if not form.validate_on_submit():
        return render_template("tickets/new.html", form=form), 400
    page = safe_link(form.page.data)
    external = {"page": page} if page else None
    try:
        filed = get_factory().create_ticket_service().file(
            current_user(), form.subject.data, form.body.data, Source.WEB, external=external
        )
    except TicketLimitError as exc:
        # Past a ticket limit: the form stays filled, with a kind word on when they can file again.
        return render_template("tickets/new.html", form=form, limit=exc), 429, {"Retry-After": str(exc.retry_after)}
    except InvalidInputError as exc:
        # The service's strict text policy speaks of one field: show it there, as the form's own checks do.
        field = getattr(form, exc.field or "", None)
        if field is None:
            raise
        field.errors = [*field.errors, exc.message]
        return render_template("tickets/new.html", form=form), 422
    from helpdesk.deflection.routes import offer_articles

    offer_articles(filed.ticket)  # the articles shown on the ticket's page, kept once (helpdesk.deflection)
    flash(f"Ticket #{filed.ticket.id} filed. We will answer here; you can follow it below.", "success")
    return redirect(url_for("tickets.detail", ticket_id=filed.ticket.id))


@bp.get("/tickets/")
@login_required
def mine() -> str:
    page = get_factory().create_ticket_service().list(current_user(), limit=100)
    return render_template("tickets/mine.html", tickets=page.items)


@bp.route("/tickets/<int:ticket_id>", methods=["GET", "POST"])
@login_required
def detail(ticket_id: int) -> Response | str:
    """One of my tickets, with the public conversation and a reply box."""
    service = get_factory().create_ticket_service()
    user = current_user()
    ticket = service.get(user, ticket_id)
    form = ReplyForm()
    if request.method == "POST" and form.validate_on_submit():
        service.reply(user, ticket_id, form.body.data, Visibility.PUBLIC)
        flash("Reply added.", "success")
        return redirect(url_for("tickets.detail", ticket_id=ticket_id))
    messages = [m for m in ticket.messages if m.visibility is Visibility.PUBLIC]
    return render_template("tickets/detail.html", ticket=ticket, messages=messages, form=form)
