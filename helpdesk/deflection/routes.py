"""The requester's "This answered my question": on their ticket's page, and on the forum link's signed page.

Both call :meth:`helpdesk.tickets.services.TicketService.resolve_self_served`, as the Slack button does
(helpdesk.channels.routes). The signed page needs no sign-in (the forum's people have no desk account): the
link names its ticket by an HMAC (helpdesk.deflection.tokens), and the change is a POST with a CSRF token.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from helpdesk.deflection.suggestions import Deflector, stored_articles, suggestion_floor
from helpdesk.deflection.tokens import InvalidTokenError, desk_secret, read_token
from helpdesk.exceptions import HelpdeskError, NotFoundError
from helpdesk.tickets.models import Ticket
from helpdesk.web import current_user, get_factory, get_settings, limiter, login_required, public_rate_limit

bp = Blueprint("deflection", __name__)


@bp.app_context_processor
def _deflection_helpers() -> dict[str, object]:
    """Every page may show a ticket's offered articles and the score floor the web form filters with."""
    return {"offered_articles": lambda ticket: stored_articles(ticket.suggestions),
            "suggestion_floor": suggestion_floor(get_settings())}


def offer_articles(ticket: Ticket) -> None:
    """Look for the articles to offer on a newly filed web ticket and keep them (once) on the ticket."""
    factory = get_factory()
    looked = Deflector.from_settings(factory.settings).look_up(ticket.subject, ticket.body)
    factory.create_ticket_service().record_suggestions(ticket.id, looked.to_json(), looked.best_score)


@bp.post("/tickets/<int:ticket_id>/answered")
@login_required
def answered_web(ticket_id: int) -> ResponseReturnValue:
    """The requester's button on their ticket's page (its CSRF token is checked app-wide, as every form's)."""
    try:
        outcome = get_factory().create_ticket_service().resolve_self_served(
            ticket_id, via="web", requester=current_user())
    except NotFoundError:
        abort(404)
    except HelpdeskError as exc:
        if exc.status_code == 403:
            abort(403)
        flash(exc.message, "error")
    else:
        flash(outcome.message, "success")
    return redirect(url_for("tickets.detail", ticket_id=ticket_id))


@bp.route("/answered/<token>", methods=["GET", "POST"])
@limiter.limit(public_rate_limit, methods=["POST"])
def answered_link(token: str) -> ResponseReturnValue:
    """The forum acknowledgement's link: a confirmation page, then a POST that resolves the ticket.

    The POST's CSRF token is checked app-wide (Flask-WTF's CSRFProtect) before this runs, as for every form.
    """
    try:
        ticket_id = read_token(desk_secret(get_settings()), token)
        ticket = get_factory().create_ticket_service().find(ticket_id)
    except (InvalidTokenError, NotFoundError):
        return render_template("deflection/answered.html", invalid=True), 404
    if request.method == "GET":
        return render_template("deflection/answered.html", ticket=ticket)
    try:
        outcome = get_factory().create_ticket_service().resolve_self_served(ticket_id, via="discourse")
    except HelpdeskError as exc:
        return render_template("deflection/answered.html", ticket=ticket, error=exc.message), 409
    return render_template("deflection/answered.html", ticket=outcome.ticket, done=outcome.message)
