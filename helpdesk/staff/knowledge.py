"""Staff pages for the knowledge base: the report of knowledge gaps, and an article drafted from a ticket.

Routes on the staff blueprint (registered by importing this module in ``create_app``); every one needs the
staff role.
"""

from __future__ import annotations

import csv
import io

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from helpdesk.deflection.drafts import draft_article, filename_for
from helpdesk.deflection.services import DAYS_MAX, UNSORTED, KnowledgeService
from helpdesk.deflection.suggestions import gap_floor, stored_articles
from helpdesk.exceptions import InvalidInputError
from helpdesk.staff.routes import bp
from helpdesk.tickets.models import Direction, Status, Visibility
from helpdesk.web import current_user, get_factory, get_settings, staff_required

DEFAULT_DAYS = 30
#: The queue a draft goes to when its ticket has none (a slug of helpdesk/data/queues.yaml).
FALLBACK_QUEUE = "general"
#: A spreadsheet runs a cell that starts with one of these as a formula: such cells get a leading quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _gap_request() -> tuple[int, str | None]:
    raw = request.args.get("days", str(DEFAULT_DAYS))
    if not raw.isdigit() or not 1 <= int(raw) <= DAYS_MAX:
        raise InvalidInputError.for_field("days", f"days must be a whole number from 1 to {DAYS_MAX}.")
    return int(raw), request.args.get("queue") or None


@bp.get("/knowledge/gaps")
@staff_required
def knowledge_gaps() -> ResponseReturnValue:
    """Recent tickets whose best knowledge-base match scored below the floor, grouped by queue."""
    factory = get_factory()
    floor = gap_floor(factory.settings)
    queues = factory.create_ticket_service().queues()
    try:
        days, queue = _gap_request()
        groups = KnowledgeService(factory.session, factory.clock).gaps(days=days, floor=floor, queue=queue)
    except InvalidInputError as exc:
        return render_template("staff/knowledge_gaps.html", groups=[], days=DEFAULT_DAYS, queue=None,
                               queues=queues, floor=floor, error=exc.message, unsorted=UNSORTED), 422
    return render_template("staff/knowledge_gaps.html", groups=groups, days=days, queue=queue, queues=queues,
                           floor=floor, error=None, unsorted=UNSORTED)


@bp.get("/knowledge/gaps.csv")
@staff_required
def knowledge_gaps_csv() -> ResponseReturnValue:
    factory = get_factory()
    try:
        days, queue = _gap_request()
        groups = KnowledgeService(factory.session, factory.clock).gaps(
            days=days, floor=gap_floor(factory.settings), queue=queue)
    except InvalidInputError as exc:
        return Response(exc.message + "\n", status=422, mimetype="text/plain")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["queue", "ticket", "subject", "best_score", "filed", "source", "status", "url"])
    base = factory.settings.public_url.rstrip("/")
    for group in groups:
        for gap in group.gaps:
            writer.writerow([group.slug or UNSORTED, gap.ticket_id, _cell(gap.subject), f"{gap.best_score:.3f}",
                             gap.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"), gap.source.value, gap.status.value,
                             f"{base}/staff/tickets/{gap.ticket_id}"])
    return Response(out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="knowledge-gaps-{days}d.csv"'})


def _cell(text: str) -> str:
    return f"'{text}" if text.startswith(_FORMULA_START) else text


@bp.get("/tickets/<int:ticket_id>/draft-article")
@staff_required
def draft_article_download(ticket_id: int) -> ResponseReturnValue:
    """A resolved ticket as a draft knowledge-base article (MyST, downloaded), for an editor to rewrite."""
    factory = get_factory()
    ticket = factory.create_ticket_service().get(current_user(), ticket_id)
    if ticket.status not in (Status.RESOLVED, Status.CLOSED):
        flash("Draft an article once the ticket is resolved: the draft is made from its answer.", "error")
        return redirect(url_for("staff.detail", ticket_id=ticket_id))
    if ticket.merged_into_id is not None:
        abort(409, description="This ticket was merged; draft the article from the ticket it was merged into.")
    answers = [m.body for m in ticket.messages
               if m.visibility is Visibility.PUBLIC and m.direction is Direction.OUTBOUND
               and m.author is not None and m.author.is_staff]
    settings = get_settings()
    source = draft_article(
        ticket_id=ticket.id, subject=ticket.subject, question=ticket.body, answers=answers,
        queue=ticket.queue.slug if ticket.queue else FALLBACK_QUEUE, today=factory.clock().date(),
        docs_url=f"{settings.public_url.rstrip('/')}/docs/",
        related=[(a.title, a.url) for a in stored_articles(ticket.suggestions)],
    )
    return Response(source, mimetype="text/markdown", headers={
        "Content-Disposition": f'attachment; filename="{filename_for(ticket.id, ticket.subject)}"'})
