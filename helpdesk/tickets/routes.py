"""The requester's side: the home page, filing a ticket on the web, following one's tickets."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from helpdesk.exceptions import HelpdeskError, InvalidInputError, InvalidTransitionError, NotFoundError
from helpdesk.forms import HelpdeskForm
from helpdesk.links import safe_link
from helpdesk.tickets.attachments import AttachmentTooLargeError, AttachmentTypeError
from helpdesk.tickets.forms import ReplyForm, TicketForm
from helpdesk.tickets.limits import TicketLimitError
from helpdesk.tickets.models import Source, Visibility
from helpdesk.uploads import allow_upload_body, read_uploads, send_attachment
from helpdesk.web import current_user, get_factory, get_settings, limiter, login_required, public_rate_limit

bp = Blueprint("tickets", __name__)
bp.url_value_preprocessor(allow_upload_body)  # the web form may carry files (helpdesk.uploads)


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
        return render_template("tickets/new.html", form=form, attachment_policy=_attachment_policy())
    if not form.validate_on_submit():
        return render_template("tickets/new.html", form=form, attachment_policy=_attachment_policy()), 400
    page = safe_link(form.page.data)
    external = {"page": page} if page else None
    try:
        filed = get_factory().create_ticket_service().file(
            current_user(), form.subject.data, form.body.data, Source.WEB, external=external,
            attachments=read_uploads("attachments"),
        )
    except (AttachmentTooLargeError, AttachmentTypeError) as exc:
        # Nothing was filed; the browser forgets chosen files, so the message asks for them again.
        form.attachments.errors = [f"{exc.message} Nothing was sent: choose your files again."]
        return render_template("tickets/new.html", form=form, attachment_policy=_attachment_policy()), \
            exc.status_code
    except TicketLimitError as exc:
        # Past a ticket limit: the form stays filled, with a kind word on when they can file again.
        return render_template("tickets/new.html", form=form, limit=exc), 429, {"Retry-After": str(exc.retry_after)}
    except InvalidInputError as exc:
        # The service's strict text policy speaks of one field: show it there, as the form's own checks do.
        field = getattr(form, exc.field or "", None)
        if field is None:
            raise
        field.errors = [*field.errors, exc.message]
        return render_template("tickets/new.html", form=form, attachment_policy=_attachment_policy()), 422
    from helpdesk.deflection.routes import offer_articles

    offer_articles(filed.ticket)  # the articles shown on the ticket's page, kept once (helpdesk.deflection)
    flash(f"Ticket #{filed.ticket.id} filed. We will answer here; you can follow it below.", "success")
    return redirect(url_for("tickets.detail", ticket_id=filed.ticket.id))


def _attachment_policy() -> str:
    from helpdesk.tickets.attachments import AttachmentPolicy

    return AttachmentPolicy.from_settings(get_settings()).describe()


@bp.get("/tickets/<int:ticket_id>/attachments/<int:attachment_id>")
@login_required
def attachment(ticket_id: int, attachment_id: int) -> Response:
    """A file attached to a ticket, for staff and the ticket's requester only; never rendered as a page."""
    found = get_factory().create_ticket_service().attachment(current_user(), ticket_id, attachment_id)
    return send_attachment(found)


@bp.get("/tickets/")
@login_required
def mine() -> str:
    """My tickets, newest first, each with its status and its last public reply (one query for all of them)."""
    service = get_factory().create_ticket_service()
    page = service.list(current_user(), limit=100)
    last = service.last_public_messages([t.id for t in page.items])
    return render_template("tickets/mine.html", tickets=page.items, last=last)


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
    settings = get_settings()
    rating = service.rating_of(ticket.id) if settings.satisfaction_rating else None
    return render_template("tickets/detail.html", ticket=ticket, messages=messages, form=form,
                           action_form=HelpdeskForm(formdata=None), rating=rating,
                           ask_rating=settings.satisfaction_rating and not ticket.status.is_open
                           and rating is None and user.id == ticket.requester_id)


@bp.post("/tickets/<int:ticket_id>/solved")
@login_required
def solved(ticket_id: int) -> Response:
    """The requester marks their ticket solved (audited, through the ticket service)."""
    # The CSRF token was checked before this view ran (helpdesk.web.csrf guards every POST).
    try:
        get_factory().create_ticket_service().mark_solved(current_user(), ticket_id)
    except InvalidTransitionError as exc:
        flash(exc.message, "info")
    else:
        flash("Marked as solved. Thank you! Write again here if the problem comes back.", "success")
    return redirect(url_for("tickets.detail", ticket_id=ticket_id))


@bp.post("/tickets/<int:ticket_id>/rating")
@login_required
def rate(ticket_id: int) -> Response:
    """The one satisfaction question of a solved ticket (HELPDESK_SATISFACTION_RATING)."""
    if not get_settings().satisfaction_rating:
        raise NotFoundError("Ratings are switched off.")
    # The CSRF token was checked before this view ran (helpdesk.web.csrf guards every POST).
    try:
        get_factory().create_ticket_service().rate(current_user(), ticket_id, request.form.get("score"),
                                                   request.form.get("comment"))
    except HelpdeskError as exc:
        if exc.status_code == 404:
            raise
        flash(exc.message, "error")
    else:
        flash("Thank you for your rating.", "success")
    return redirect(url_for("tickets.detail", ticket_id=ticket_id))


@bp.route("/notifications/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> str | tuple[str, int]:
    """The link in every notification email: GET asks to confirm, POST (with CSRF) stops the emails."""
    from helpdesk.channels.email import read_unsubscribe_token

    person_id = read_unsubscribe_token(current_app.config["SECRET_KEY"], token)
    if person_id is None:
        return render_template("tickets/unsubscribe.html", invalid=True, form=None), 404
    if request.method == "POST":  # its CSRF token was checked before this view ran (helpdesk.web.csrf)
        try:
            get_factory().create_ticket_service().unsubscribe(person_id)
        except NotFoundError:
            return render_template("tickets/unsubscribe.html", invalid=True, form=None), 404
        return render_template("tickets/unsubscribe.html", invalid=False, form=None, done=True)
    return render_template("tickets/unsubscribe.html", invalid=False, form=HelpdeskForm())
