"""Slack requests as Slack sends them: the recorded message event, mentions, and signed posts to our routes."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from helpdesk.tickets.models import Ticket
from tests.support.payloads import load
from tests.support.reading import only_ticket
from tests.support.signing import signed_slack_request

EVENTS = "/integrations/slack/events"
COMMANDS = "/integrations/slack/commands"
INTERACTIONS = "/integrations/slack/interactions"
#: The channel the test settings list as a support channel (HELPDESK_SLACK_CHANNEL_IDS).
SUPPORT_CHANNEL = "C111"


def message_event(text: str = "Hello World!", *, event_id: str = "Ev111", ts: str = "1596183880.004200",
                  **event: Any) -> dict[str, Any]:
    """The recorded ``message.channels`` event in the support channel, with ``event`` fields changed."""
    payload = load("slack/event_message.json")
    payload["event_id"] = event_id
    payload["event"].update({"text": text, "ts": ts, "event_ts": ts, **event})
    return payload


def mention_event(text: str, *, event_id: str, ts: str, channel: str = SUPPORT_CHANNEL, **extra: Any) -> dict:
    """An ``app_mention`` of the bot; Slack also sends the same message as a message event (its twin)."""
    return {
        "token": "verification_token", "team_id": "T111", "api_app_id": "A111", "type": "event_callback",
        "event_id": event_id, "event_time": 1596183880,
        "event": {"type": "app_mention", "user": "W111", "text": f"<@U0BOT> {text}", "ts": ts,
                  "channel": channel, "event_ts": ts, "team": "T111", **extra},
    }


def send(client: FlaskClient, path: str, body: Any, **kwargs: Any) -> TestResponse:
    """POST ``body`` to ``path`` signed as Slack signs it (see :func:`signed_slack_request` for ``kwargs``)."""
    headers, raw = signed_slack_request(body, **kwargs)
    return client.post(path, data=raw, headers=headers)


def slack_ticket(client: FlaskClient, db_session: Session) -> Ticket:
    """File one ticket through the events route, as a question in the support channel."""
    assert send(client, EVENTS, message_event("How do I use the Butler?")).status_code == 200
    return only_ticket(db_session)
