"""Forum intake through the real webhook route: signatures, ping, first posts, replies, edits, redeliveries."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.tickets.models import Message, Status, Ticket
from tests.support.forum import WEBHOOK, deliver, post_payload
from tests.support.payloads import DATA, load
from tests.support.reading import count, fresh, stored_nothing
from tests.support.signing import signed_discourse_request


class TestVerification:
    def test_recorded_delivery_with_its_recorded_signature_files_a_ticket(self, client: FlaskClient,
                                                                            db_session: Session) -> None:
        raw = (DATA / "discourse/post_created.body.json").read_bytes().rstrip(b"\n")
        headers = {k: v for k, v in load("discourse/post_created.signed_headers.json").items()
                   if not k.startswith("_")}
        assert len(raw) == 1946  # wire-exact, as captured
        response = client.post(WEBHOOK, data=raw, headers=headers)
        assert response.status_code == 200, response.get_json()
        fresh(db_session)
        ticket = db_session.scalars(select(Ticket)).one()
        assert ticket.subject == "Welcome to Discourse — thanks for starting a new conversation!"
        assert ticket.body.startswith("* Does the title sound interesting")
        assert ticket.thread_key == "11" and ticket.external["post_id"] == 14
        assert ticket.requester.identities[0].username == "Anillc"

    def test_ping(self, client: FlaskClient, db_session: Session) -> None:
        response = deliver(client, b'{"ping":"OK"}', event_type="ping", event="ping")
        assert response.status_code == 200 and response.get_json() == {"ping": "OK"}
        assert stored_nothing(db_session)

    @pytest.mark.parametrize("case", ["tampered", "wrong_secret", "missing"])
    def test_bad_signature_is_401_and_stores_nothing(self, client: FlaskClient, db_session: Session,
                                                     case: str) -> None:
        headers, raw = signed_discourse_request(post_payload(), secret="another-secret-123" if case ==
                                                "wrong_secret" else "helpdesk-test-secret-0123")
        if case == "tampered":
            raw = raw.replace(b"Anillc", b"Mallory")
        if case == "missing":
            del headers["X-Discourse-Event-Signature"]
        response = client.post(WEBHOOK, data=raw, headers=headers)
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "invalid_signature"
        assert stored_nothing(db_session)

    def test_signed_garbage_is_400(self, client: FlaskClient, db_session: Session) -> None:
        for body in (b"not json", b"[]", json.dumps({"post": "nope"}).encode(), json.dumps({"post": {"id": "x"}})):
            assert deliver(client, body).status_code == 400, body
        assert stored_nothing(db_session)


class TestPosts:
    def test_first_post_files_then_later_posts_join(self, client: FlaskClient, db_session: Session) -> None:
        assert deliver(client, {"topic": {"id": 11, "title": "x", "category_id": 1}}, event_type="topic",
                       event="topic_created").status_code == 200
        assert count(db_session, Ticket) == 0  # topic_created carries no text
        first = deliver(client, post_payload(), event_id=12)
        ticket_id = first.get_json()["ticket"]
        fresh(db_session)
        ticket = db_session.get(Ticket, ticket_id)
        ticket.status = Status.WAITING_ON_USER
        db_session.commit()
        reply = post_payload(id=15, post_number=2, raw="Thanks, that answered it.", topic_posts_count=2)
        assert deliver(client, reply, event_id=13).get_json()["ticket"] == ticket_id
        fresh(db_session)
        ticket = db_session.get(Ticket, ticket_id)
        assert ticket.status is Status.IN_PROGRESS
        assert [m.body for m in ticket.messages] == ["Thanks, that answered it."]

    def test_redeliveries_with_new_event_ids_and_edits_file_nothing_new(self, client: FlaskClient,
                                                                        db_session: Session) -> None:
        deliver(client, post_payload(), event_id=12)
        assert deliver(client, post_payload(), event_id=99).get_json()["duplicate"] is True
        edited = post_payload(version=2, raw="edited text")
        assert "ignored" in deliver(client, edited, event="post_edited", event_id=100).get_json()
        assert count(db_session, Ticket) == 1 and count(db_session, Message) == 0

    @pytest.mark.parametrize("changes", [
        {"username": "dp0-support-bot"},  # our own reply: never loops
        {"username": "DP0-Support-Bot"},
        {"category_id": 7},
        {"post_type": 4},
        {"topic_archetype": "private_message"},
        {"deleted_at": "2024-01-01T00:00:00Z"},
    ])
    def test_ignored_posts(self, client: FlaskClient, db_session: Session, changes: dict[str, Any]) -> None:
        response = deliver(client, post_payload(**changes))
        assert response.status_code == 200 and "ignored" in response.get_json()
        assert stored_nothing(db_session)

    def test_reply_in_a_topic_that_is_no_ticket_is_dropped(self, client: FlaskClient, db_session: Session) -> None:
        response = deliver(client, post_payload(id=50, topic_id=77, post_number=3))
        assert response.get_json() == {"ticket": None, "duplicate": False}
        assert stored_nothing(db_session)

    def test_other_event_types_are_acknowledged(self, client: FlaskClient, db_session: Session) -> None:
        assert deliver(client, {"user": {"id": 1}}, event_type="user", event="user_created").status_code == 200
        assert stored_nothing(db_session)

    def test_forum_not_configured_is_404(self, make_settings) -> None:  # type: ignore[no-untyped-def]
        from helpdesk import create_app

        app = create_app(make_settings())
        headers, raw = signed_discourse_request(post_payload())
        assert app.test_client().post(WEBHOOK, data=raw, headers=headers).status_code == 404
        app.extensions["helpdesk"].engine.dispose()
