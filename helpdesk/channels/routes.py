"""Webhook routes of Slack and the forum: verify, parse, one service call, acknowledge.

The acknowledgement is sent only after the ticket or message is committed; replies, acknowledgements
in the thread and everything else slow happen later in ``helpdesk worker``.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from helpdesk.channels.base import Control, DeliveryError, Ignored, InboundMessage
from helpdesk.exceptions import HelpdeskError
from helpdesk.web import csrf, get_factory, get_settings

log = logging.getLogger("helpdesk.integrations")

bp = Blueprint("integrations", __name__, url_prefix="/integrations")
csrf.exempt(bp)  # authenticated by the platforms' request signatures instead


class UnsupportedRequestError(HelpdeskError):
    status_code = 400
    code = "unsupported_request"


def _ack() -> Response:
    return Response(status=200)


def _parse(name: str) -> object:
    # Raw bytes first: the signature covers them exactly, and reading the form would consume them.
    body = request.get_data(cache=True)
    return get_factory().create_channel(name).parse(request.headers, body)


@bp.post("/slack/events")
def slack_events() -> ResponseReturnValue:
    """Events API: url_verification and event_callback (messages, mentions, direct messages)."""
    result = _parse("slack")
    if isinstance(result, Control):
        return jsonify(dict(result.response)) if result.response else _ack()
    if isinstance(result, InboundMessage):
        get_factory().create_ticket_service().receive(result)
        return _ack()
    if isinstance(result, Ignored):
        return _ack()
    raise UnsupportedRequestError("This address takes Events API requests only.")


@bp.post("/slack/commands")
def slack_commands() -> ResponseReturnValue:
    """The /dp0-help slash command (and Slack's ssl_check)."""
    from helpdesk.channels.slack import CommandRequest, ModalRequest

    result = _parse("slack")
    if isinstance(result, Control | Ignored):
        return _ack()
    if isinstance(result, ModalRequest):
        return _open_modal(result)
    if isinstance(result, CommandRequest):
        return jsonify({"response_type": "ephemeral", "text": _file_command(result.message)})
    raise UnsupportedRequestError("This address takes slash commands only.")


@bp.post("/slack/interactions")
def slack_interactions() -> ResponseReturnValue:
    """The "File a support ticket" message shortcut, the ticket form's submission, and the acknowledgement's
    "This answered my question" button."""
    from helpdesk.channels.slack import ModalRequest, SelfServedRequest

    result = _parse("slack")
    if isinstance(result, ModalRequest):
        return _open_modal(result)
    if isinstance(result, SelfServedRequest):
        return _self_served(result)
    if isinstance(result, InboundMessage):
        get_factory().create_ticket_service().receive(result)
        return _ack()  # an empty 200 closes the modal
    if isinstance(result, Control | Ignored):
        return _ack()
    raise UnsupportedRequestError("This address takes interactions only.")


def _file_command(message: InboundMessage) -> str:
    """File a slash command's question; the private answer carries its number and knowledge-base matches."""
    from helpdesk.channels.slack import command_answer

    factory = get_factory()
    received = factory.create_ticket_service().receive(message)
    if received.ticket_id is None:
        # Past a ticket limit (helpdesk.tickets.limits): kept for staff, and the asker told when to file again.
        return received.notice or ("Thank you: your question was received and kept for the support team; you "
                                   "have reached the limit of tickets for now.")
    ticket = factory.create_ticket_service().find(received.ticket_id)
    link = f"{get_settings().public_url.rstrip('/')}/tickets/{ticket.id}"
    suggestions = factory.create_suggester().for_text(f"{ticket.subject}\n{ticket.body}")
    return command_answer(ticket.id, ticket.subject, link, suggestions)


def _self_served(click: object) -> ResponseReturnValue:
    """Resolve the button's ticket as self-served when its requester clicked; tell them privately either way."""
    from helpdesk.accounts.models import Person, Provider
    from helpdesk.deflection.tokens import InvalidTokenError, desk_secret, read_token

    factory = get_factory()
    try:
        ticket_id = read_token(desk_secret(get_settings()), click.token)  # type: ignore[attr-defined]
        person = factory.create_account_service().find_by_identity(Provider.SLACK, click.user)  # type: ignore[attr-defined]
        if person is not None and person.merged_into_id is not None:
            person = factory.session.get(Person, person.merged_into_id)
        if person is None:
            text = "Only the person who asked can say that their question was answered."
        else:
            text = factory.create_ticket_service().resolve_self_served(ticket_id, via="slack", requester=person).message
    except InvalidTokenError as exc:
        text = str(exc)
    except HelpdeskError as exc:
        text = exc.message
    factory.create_channel("slack").answer_click(click.response_url, text)  # type: ignore[attr-defined]
    return _ack()


def _open_modal(modal: object) -> ResponseReturnValue:
    channel = get_factory().create_channel("slack")
    try:
        channel.open_modal(modal.trigger_id, modal.view)  # type: ignore[attr-defined]
    except DeliveryError as exc:
        log.warning("could not open the ticket form: %s", exc)
        return jsonify({"response_type": "ephemeral",
                        "text": "Sorry, the ticket form did not open. Type your question after /dp0-help instead."})
    return _ack()


@bp.post("/discourse/webhook")
def discourse_webhook() -> ResponseReturnValue:
    """The forum's webhooks: ping, topic and post events."""
    result = _parse("discourse")
    if isinstance(result, Control):
        return jsonify(dict(result.response)) if result.response else _ack()
    if isinstance(result, InboundMessage):
        received = get_factory().create_ticket_service().receive(result)
        answer: dict[str, object] = {"ticket": received.ticket_id, "duplicate": received.duplicate}
        if received.held_id is not None:
            answer["held"] = received.held_id  # past the author's ticket limit: kept, not filed
        return jsonify(answer)
    return jsonify({"ignored": result.reason if isinstance(result, Ignored) else "unsupported"})
