"""Tickets filed the way Slack and the forum file them, for the incident and duplicate tests."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.tickets.models import Source, Ticket
from tests.support.forum import deliver, post_payload
from tests.support.reading import fresh
from tests.support.slack import EVENTS, message_event, send


def slack_question(client: FlaskClient, session: Session, text: str, *, user: str, ts: str) -> Ticket:
    """A question posted in the support channel by Slack user ``user`` (its thread is ``C111:<ts>``)."""
    response = send(client, EVENTS, message_event(text, event_id=f"Ev{ts}", ts=ts, user=user))
    assert response.status_code == 200, response.get_data(as_text=True)
    fresh(session)
    return session.scalars(select(Ticket).where(Ticket.source == Source.SLACK, Ticket.external["ts"].as_string() == ts)
                           ).one()


def slack_thread_reply(client: FlaskClient, text: str, *, user: str, ts: str, thread_ts: str) -> None:
    response = send(client, EVENTS, message_event(text, event_id=f"Ev{ts}", ts=ts, user=user, thread_ts=thread_ts))
    assert response.status_code == 200, response.get_data(as_text=True)


def forum_question(client: FlaskClient, session: Session, title: str, text: str, *, topic_id: int, user_id: int,
                   username: str) -> Ticket:
    """The first post of forum topic ``topic_id`` by ``username``."""
    payload = post_payload(id=topic_id * 10, topic_id=topic_id, topic_title=title, raw=text, cooked=f"<p>{text}</p>",
                           user_id=user_id, username=username, name=username, post_number=1, admin=False,
                           staff=False, moderator=False)
    response = deliver(client, payload)
    assert response.status_code == 200, response.get_data(as_text=True)
    fresh(session)
    return session.scalars(select(Ticket).where(Ticket.source == Source.DISCOURSE,
                                                Ticket.thread_key == str(topic_id))).one()
