"""Forum (Discourse) webhook deliveries: the recorded first post, changed as a test needs, signed and posted."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from helpdesk.tickets.models import Ticket
from tests.support.payloads import load
from tests.support.reading import only_ticket
from tests.support.signing import signed_discourse_request

WEBHOOK = "/integrations/discourse/webhook"
#: The support category the test settings list (HELPDESK_DISCOURSE_CATEGORY_IDS).
CATEGORY = 1


def post_payload(**changes: Any) -> dict[str, Any]:
    """The recorded ``post_created`` body with ``post`` fields changed."""
    payload = load("discourse/post_created.body.json")
    payload["post"].update(changes)
    return payload


def deliver(client: FlaskClient, body: Any, **kwargs: Any) -> TestResponse:
    """POST ``body`` to the webhook signed as Discourse signs it (``kwargs``: :func:`signed_discourse_request`)."""
    headers, raw = signed_discourse_request(body, **kwargs)
    return client.post(WEBHOOK, data=raw, headers=headers)


def forum_ticket(client: FlaskClient, db_session: Session) -> Ticket:
    """File one ticket through the webhook, as the recorded first post of a topic."""
    assert deliver(client, post_payload()).status_code == 200
    return only_ticket(db_session)
