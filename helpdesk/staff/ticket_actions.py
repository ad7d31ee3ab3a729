"""The staff ticket page's small actions on the staff blueprint: the knowledge-base picker of the reply box,
the presence heartbeat, tags and a failed delivery's retry; and the template's identity labels.

Apart from :mod:`helpdesk.staff.ticket_page`, which reads what the page shows and imports no routes, so that
the console's routes can call it without an import cycle. Imported by ``create_app``.
"""

from __future__ import annotations

from flask import flash, jsonify, redirect, request, url_for
from werkzeug.wrappers import Response

from helpdesk.exceptions import HelpdeskError, InvalidInputError
from helpdesk.staff.routes import bp
from helpdesk.staff.ticket_page import absolute, identity_label, kb_hits
from helpdesk.tickets.models import OutboxItem
from helpdesk.tickets.workspace import PresenceAction, PresenceService
from helpdesk.web import current_user, get_factory, get_session, staff_required


@bp.context_processor
def _identity_label() -> dict[str, object]:
    return {"identity_label": identity_label}


@bp.get("/kb.json")
@staff_required
def kb_json() -> Response:
    """Knowledge-base articles for the reply box: title, absolute URL and the Markdown link to insert."""
    hits = kb_hits(request.args.get("q", ""))
    return jsonify([{**hit, "url": absolute(str(hit["url"])),
                     "markdown": f"[{hit['title']}]({absolute(str(hit['url']))})"} for hit in hits])


@bp.post("/tickets/<int:ticket_id>/presence")
@staff_required
def presence(ticket_id: int) -> Response:
    """Heartbeat of an open ticket page (helpdesk/static/presence.js): who else is viewing or replying."""
    user = current_user()
    assert user is not None
    get_factory().create_ticket_service().get(user, ticket_id)  # 404 for a ticket that does not exist
    payload = request.get_json(silent=True) or {}
    raw = payload.get("action", "viewing") if isinstance(payload, dict) else "viewing"
    service = PresenceService(get_session(), get_factory().clock)
    if raw == "leaving":
        service.leave(user, ticket_id)
        return jsonify({"others": []})
    try:
        action = PresenceAction(raw)
    except ValueError as exc:
        raise InvalidInputError.for_field("action", "action is viewing, replying or leaving.") from exc
    others = service.beat(user, ticket_id, action)
    return jsonify({"others": [{"name": c.name, "action": c.action.value} for c in others]})


@bp.post("/tickets/<int:ticket_id>/tags")
@staff_required
def ticket_tags(ticket_id: int) -> Response:
    """Make the ticket's tags exactly those typed (comma-separated); audited by the ticket service."""
    # The CSRF token was checked before this view ran (helpdesk.web.csrf guards every POST).
    try:
        names = get_factory().create_ticket_service().set_tags(current_user(), ticket_id,
                                                               request.form.get("tags", "")[:2000])
    except HelpdeskError as exc:
        if exc.status_code == 404:
            raise
        flash(exc.message, "error")
    else:
        flash("Tags: " + (", ".join(names) if names else "none") + ".", "success")
    return redirect(url_for("staff.detail", ticket_id=ticket_id))


@bp.post("/tickets/<int:ticket_id>/deliveries/<int:item_id>/retry")
@staff_required
def delivery_retry(ticket_id: int, item_id: int) -> Response:
    """Send a failed delivery of this ticket again (the outbox page's retry, from the timeline)."""
    service = get_factory().create_outbox_service()
    item = get_session().get(OutboxItem, item_id)
    try:
        if item is None or item.ticket_id != ticket_id:
            raise InvalidInputError(f"Delivery {item_id} is not one of ticket #{ticket_id}.")
        service.retry(current_user(), item_id)
    except HelpdeskError as exc:
        flash(exc.message, "error")
    else:
        flash(f"Delivery outbox-{item_id} will be sent again.", "success")
    return redirect(url_for("staff.detail", ticket_id=ticket_id))
