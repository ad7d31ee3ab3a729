"""Signed but strange requests: every one is answered 2xx or 4xx, never 500, and nothing is half-written."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.tickets.models import Ticket
from tests.support.forum import post_payload
from tests.support.reading import fresh, stored_nothing
from tests.support.signing import signed_discourse_request, signed_slack_request, slack_interaction
from tests.support.slack import EVENTS, INTERACTIONS, message_event

WEIRD_EVENTS: list[Any] = [
    {"type": "event_callback", "event_id": "Ev1", "event": "not an object"},
    {"type": "event_callback", "event_id": 7, "event": {"type": "message"}},
    {"type": "event_callback", "event_id": "Ev1", "event": {"type": "message", "subtype": ["x"], "user": "U",
                                                            "channel": "C111", "ts": "1.1"}},
    {"type": "event_callback", "event_id": "Ev1", "event": {"type": "message", "user": {"id": 1},
                                                            "channel": "C111", "ts": "1.1"}},
    {"type": "event_callback", "event_id": "Ev1", "event": {"type": ["message"], "user": "U", "channel": "C111",
                                                            "ts": "1.1"}},
    {"type": "url_verification"},
    {"type": None},
    [],
    "a string",
    12,
]
WEIRD_INTERACTIONS: list[Any] = [
    {"type": "message_action", "callback_id": "file_ticket", "message": "text", "channel": "C1", "team": "T"},
    {"type": "message_action", "callback_id": "file_ticket", "trigger_id": 5, "channel": {"id": "C1"},
     "message": {"ts": "1.1"}},
    {"type": "view_submission", "view": "nope", "user": {"id": "U1"}},
    {"type": "view_submission", "user": "U1", "view": {"id": "V1", "callback_id": "file_ticket"}},
    {"type": "view_submission", "user": {"id": "U1"}, "view": {"id": "V1", "callback_id": "file_ticket",
                                                               "private_metadata": "[1]", "state": {}}},
    {"type": ["shortcut"]},
]
WEIRD_POSTS: list[Any] = [
    {"post": {"id": 1, "topic_id": 2, "category_id": [1]}},
    {"post": {"id": 1, "topic_id": 2, "category_id": 1, "post_number": "first"}},
    {"post": {"id": None, "topic_id": 2}},
    {"post": []},
    {"ping": ["OK"]},
]


@pytest.mark.parametrize("body", WEIRD_EVENTS, ids=range(len(WEIRD_EVENTS)))
def test_weird_events(client: FlaskClient, db_session: Session, body: Any) -> None:
    headers, raw = signed_slack_request(json.dumps(body))
    response = client.post(EVENTS, data=raw, headers=headers)
    assert response.status_code < 500 and response.status_code in (200, 400)
    assert stored_nothing(db_session)


@pytest.mark.parametrize("payload", WEIRD_INTERACTIONS, ids=range(len(WEIRD_INTERACTIONS)))
def test_weird_interactions(client: FlaskClient, db_session: Session, payload: Any) -> None:
    headers, raw = slack_interaction(payload)
    assert client.post(INTERACTIONS, data=raw, headers=headers).status_code in (200, 400)
    assert stored_nothing(db_session)


@pytest.mark.parametrize("body", WEIRD_POSTS, ids=range(len(WEIRD_POSTS)))
def test_weird_forum_posts(client: FlaskClient, db_session: Session, body: Any) -> None:
    headers, raw = signed_discourse_request(body)
    assert client.post("/integrations/discourse/webhook", data=raw, headers=headers).status_code in (200, 400)
    assert stored_nothing(db_session)


def test_nul_characters_and_huge_texts_are_stored_cleanly(client: FlaskClient, db_session: Session) -> None:
    headers, raw = signed_slack_request(message_event("nul \x00 inside " + "x" * 30_000, user="W\x001"))
    assert client.post(EVENTS, data=raw, headers=headers).status_code == 200
    headers, raw = signed_discourse_request(post_payload(raw="forum \x00 nul", topic_title="t\x00" * 300))
    assert client.post("/integrations/discourse/webhook", data=raw, headers=headers).status_code == 200
    fresh(db_session)
    tickets = db_session.scalars(select(Ticket).order_by(Ticket.id)).all()
    assert len(tickets) == 2 and all("\x00" not in t.body + t.subject for t in tickets)
    # Lenient policy: only the unstorable NUL goes; nothing is cut. A long title is shortened as the
    # subject line, and kept whole at the top of the body.
    assert tickets[0].body == "nul  inside " + "x" * 30_000
    assert len(tickets[1].subject) == 200 and tickets[1].subject.endswith("…")
    assert tickets[1].body.startswith("t" * 300)
