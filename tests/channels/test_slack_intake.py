"""Slack intake through the real routes: signatures, events, retries and twins, commands, the shortcut."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Identity, Person
from helpdesk.tickets.models import InboundDelivery, Message, OutboxItem, Status, Ticket
from tests.support.fakes import FakeSlack
from tests.support.payloads import load
from tests.support.reading import count, fresh, stored_nothing
from tests.support.signing import signed_slack_request, slack_interaction
from tests.support.slack import COMMANDS, EVENTS, INTERACTIONS, SUPPORT_CHANNEL, mention_event, message_event, send
from tests.support.threads import run_together


class TestVerification:
    def test_url_verification_echoes_the_challenge(self, client: FlaskClient) -> None:
        body = load("slack/url_verification.json")
        response = send(client, EVENTS, body)
        assert response.status_code == 200
        assert response.get_json() == {"challenge": body["challenge"]}

    @pytest.mark.parametrize("case", ["forged", "wrong_secret", "stale", "future", "garbled_ts", "missing"])
    def test_bad_signature_is_401_and_stores_nothing(self, client: FlaskClient, db_session: Session,
                                                     case: str) -> None:
        body = message_event()
        kwargs: dict[str, Any] = {
            "wrong_secret": {"secret": "not-the-secret"},
            "stale": {"timestamp": int(time.time()) - 301},
            "future": {"timestamp": int(time.time()) + 301},
            "garbled_ts": {"timestamp": "yesterday"},
        }.get(case, {})
        headers, raw = signed_slack_request(body, **kwargs)
        if case == "forged":
            raw = raw.replace(b"Hello", b"Hallo")
        if case == "missing":
            headers = {"Content-Type": "application/json"}
        response = client.post(EVENTS, data=raw, headers=headers)
        assert response.status_code == 401
        error = response.get_json()["error"]
        assert error["code"] == "invalid_signature" and error["message"]
        assert stored_nothing(db_session)

    def test_inside_the_five_minute_window_is_accepted(self, client: FlaskClient, db_session: Session) -> None:
        response = send(client, EVENTS, message_event(), timestamp=int(time.time()) - 299)
        assert response.status_code == 200
        assert count(db_session, Ticket) == 1

    def test_signed_but_unparsable_body_is_400(self, client: FlaskClient, db_session: Session) -> None:
        for body in (b"{not json", b"[1, 2]", json.dumps({"type": "event_callback"}).encode()):
            response = send(client, EVENTS, body)
            assert response.status_code == 400, body
            assert response.get_json()["error"]["code"] == "invalid_request"
        assert stored_nothing(db_session)

    def test_slack_not_configured_is_404(self, make_settings, db_session: Session) -> None:  # type: ignore[no-untyped-def]
        from helpdesk import create_app

        app = create_app(make_settings())
        response = app.test_client().post(EVENTS, data=b"{}", headers={"Content-Type": "application/json"})
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "unknown_channel"
        app.extensions["helpdesk"].engine.dispose()


class TestEvents:
    def test_message_in_support_channel_files_one_ticket_with_an_acknowledgement(
        self, client: FlaskClient, db_session: Session
    ) -> None:
        response = send(client, EVENTS, message_event("How do I query DP0.2 objects?\nI tried TAP."))
        assert response.status_code == 200
        fresh(db_session)
        ticket = db_session.scalars(select(Ticket)).one()
        assert ticket.source.value == "slack"
        assert ticket.subject == "How do I query DP0.2 objects?"
        assert ticket.thread_key == f"{SUPPORT_CHANNEL}:1596183880.004200"
        assert ticket.external["channel"] == SUPPORT_CHANNEL and ticket.external["thread_ts"] == "1596183880.004200"
        identity = db_session.scalars(select(Identity)).one()
        assert (identity.provider.value, identity.external_id) == ("slack", "W111")
        ack = db_session.scalars(select(OutboxItem)).one()
        assert ack.kind == "ack" and ack.ticket_id == ticket.id

    def test_the_ticket_keeps_what_the_person_typed_not_slacks_escapes(
        self, client: FlaskClient, db_session: Session
    ) -> None:
        # Slack sends &, < and > escaped; a pasted prompt or comparison must reach staff (and triage) as typed
        typed = "Query with r_mag < 24 & g > 20 fails\n```\n>>> service.search(q)\nDALQueryError: x\n```"
        send(client, EVENTS, message_event(typed.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")))
        fresh(db_session)
        ticket = db_session.scalars(select(Ticket)).one()
        assert ticket.subject == "Query with r_mag < 24 & g > 20 fails"
        assert ">>> service.search(q)" in ticket.body and "&gt;" not in ticket.body and "&amp;" not in ticket.body

    def test_retries_and_the_mention_twin_file_nothing_new(self, client: FlaskClient, db_session: Session) -> None:
        body = message_event("Butler cannot find my collection")
        assert send(client, EVENTS, body).status_code == 200
        for retry in (1, 2, 3):
            assert send(client, EVENTS, body, retry_num=retry).status_code == 200
        twin = mention_event("Butler cannot find my collection", event_id="Ev222", ts="1596183880.004200")
        assert send(client, EVENTS, twin).status_code == 200
        assert count(db_session, Ticket) == 1
        assert count(db_session, Message) == 0
        assert count(db_session, OutboxItem) == 1

    def test_mention_first_then_its_message_twin(self, client: FlaskClient, db_session: Session) -> None:
        send(client, EVENTS, mention_event("Is DP0.3 out?", event_id="Ev9", ts="1700000000.000001"))
        send(client, EVENTS, message_event("<@U0BOT> Is DP0.3 out?", event_id="Ev8", ts="1700000000.000001"))
        fresh(db_session)
        ticket = db_session.scalars(select(Ticket)).one()
        assert ticket.body == "Is DP0.3 out?"

    def test_mention_outside_support_channels_files_and_plain_message_there_does_not(
        self, client: FlaskClient, db_session: Session
    ) -> None:
        send(client, EVENTS, message_event("just chatting", channel="C999", event_id="Ev1", ts="1.1"))
        assert count(db_session, Ticket) == 0
        send(client, EVENTS, mention_event("help please", channel="C999", event_id="Ev2", ts="1.2"))
        fresh(db_session)
        assert db_session.scalars(select(Ticket)).one().external["channel"] == "C999"

    def test_direct_message_files_a_ticket(self, client: FlaskClient, db_session: Session) -> None:
        send(client, EVENTS, message_event("a private question", channel="D123", channel_type="im"))
        fresh(db_session)
        assert db_session.scalars(select(Ticket)).one().thread_key == "D123:1596183880.004200"

    @pytest.mark.parametrize("extra", [
        {"bot_id": "B0HELPDESK"},
        {"subtype": "bot_message", "bot_id": "B1"},
        {"subtype": "message_changed", "hidden": True, "message": {"text": "edited", "user": "W111"}},
        {"subtype": "message_deleted"},
        {"subtype": "channel_join"},
    ])
    def test_bots_edits_and_other_subtypes_are_ignored(
        self, client: FlaskClient, db_session: Session, extra: dict[str, Any]
    ) -> None:
        assert send(client, EVENTS, message_event("noise", **extra)).status_code == 200
        assert stored_nothing(db_session)

    def test_file_share_counts_as_a_message(self, client: FlaskClient, db_session: Session) -> None:
        send(client, EVENTS, message_event("see attached", subtype="file_share", event_id="Ev1", ts="2.1"))
        send(client, EVENTS, message_event("", subtype="file_share", event_id="Ev2", ts="2.2"))
        assert count(db_session, Ticket) == 2

    def test_thread_broadcast_reply_joins_the_ticket_and_files_no_second_one(
        self, client: FlaskClient, db_session: Session
    ) -> None:
        # "Also send to #channel": Slack delivers one message event with subtype thread_broadcast, in the
        # thread (thread_ts) but also shown in the channel, so it must not look like a new question.
        send(client, EVENTS, message_event("My notebook server will not start"))
        root = load("slack/event_message.json")["event"]
        broadcast = message_event("Fixed after a restart, sharing for everyone", subtype="thread_broadcast",
                                  event_id="Ev2", ts="1596184000.000300", thread_ts=root["ts"],
                                  root={**root, "text": "My notebook server will not start"})
        assert send(client, EVENTS, broadcast).status_code == 200
        assert send(client, EVENTS, broadcast, retry_num=1).status_code == 200
        fresh(db_session)
        ticket = db_session.scalars(select(Ticket)).one()
        (message,) = ticket.messages
        assert message.body == "Fixed after a restart, sharing for everyone"
        assert message.external_id == "1596184000.000300" and message.direction.value == "inbound"
        assert message.author_id == ticket.requester_id
        assert count(db_session, OutboxItem) == 1  # the ticket's acknowledgement, none for the broadcast

    def test_thread_broadcast_in_a_thread_without_a_ticket_files_nothing(self, client: FlaskClient,
                                                                         db_session: Session) -> None:
        body = message_event("broadcast from a chat thread", subtype="thread_broadcast", event_id="Ev3",
                             ts="6.2", thread_ts="6.1")
        assert send(client, EVENTS, body).status_code == 200
        assert stored_nothing(db_session)

    def test_thread_reply_joins_the_ticket_and_a_requester_reply_reopens_it(
        self, client: FlaskClient, db_session: Session, login
    ) -> None:  # type: ignore[no-untyped-def]
        send(client, EVENTS, message_event("My notebook server will not start"))
        fresh(db_session)
        ticket = db_session.scalars(select(Ticket)).one()
        ticket.status = Status.WAITING_ON_USER
        db_session.commit()
        reply = message_event("It works after a restart, thanks", event_id="Ev2", ts="1596183999.000100",
                              thread_ts="1596183880.004200", parent_user_id="W111")
        assert send(client, EVENTS, reply).status_code == 200
        assert send(client, EVENTS, reply, retry_num=1).status_code == 200
        fresh(db_session)
        ticket = db_session.scalars(select(Ticket)).one()
        assert ticket.status is Status.IN_PROGRESS
        (message,) = ticket.messages
        assert message.body == "It works after a restart, thanks" and message.direction.value == "inbound"
        assert message.author_id == ticket.requester_id and message.external_id == "1596183999.000100"

    def test_someone_elses_thread_reply_joins_without_changing_status(self, client: FlaskClient,
                                                                      db_session: Session) -> None:
        send(client, EVENTS, message_event("question"))
        fresh(db_session)
        ticket = db_session.scalars(select(Ticket)).one()
        ticket.status = Status.WAITING_ON_USER
        db_session.commit()
        send(client, EVENTS, message_event("me too!", user="W222", event_id="Ev2", ts="1596183999.000200",
                                           thread_ts="1596183880.004200"))
        fresh(db_session)
        ticket = db_session.scalars(select(Ticket)).one()
        assert ticket.status is Status.WAITING_ON_USER and len(ticket.messages) == 1

    def test_thread_reply_without_a_ticket_files_nothing(self, client: FlaskClient, db_session: Session) -> None:
        body = message_event("a reply", event_id="Ev5", ts="5.2", thread_ts="5.1")
        assert send(client, EVENTS, body).status_code == 200
        assert stored_nothing(db_session)

    def test_unknown_envelope_and_event_types_are_acknowledged(self, client: FlaskClient,
                                                               db_session: Session) -> None:
        assert send(client, EVENTS, {"type": "app_rate_limited", "minute_rate_limited": 1}).status_code == 200
        body = message_event()
        body["event"]["type"] = "reaction_added"
        assert send(client, EVENTS, body).status_code == 200
        assert stored_nothing(db_session)


def deliver_concurrently(app: Flask, bodies: list[tuple[dict[str, str], bytes]]) -> list[int]:
    """Each signed request from its own client and thread, all at once; their status codes."""
    clients = [app.test_client() for _ in bodies]

    def deliver(client: FlaskClient, headers: dict[str, str], raw: bytes) -> int:
        return client.post(EVENTS, data=raw, headers=headers).status_code

    return run_together(deliver, [(client, *request) for client, request in zip(clients, bodies, strict=True)])


class TestConcurrency:
    def test_one_event_delivered_by_ten_threads_makes_one_ticket(self, app: Flask, db_session: Session) -> None:
        request = signed_slack_request(message_event("Ten at once"))
        statuses = deliver_concurrently(app, [request] * 10)
        assert statuses == [200] * 10
        assert count(db_session, Ticket) == 1
        assert count(db_session, Person) == 1
        assert count(db_session, OutboxItem) == 1
        assert count(db_session, InboundDelivery) == 2

    def test_message_and_mention_twins_racing_make_one_ticket(self, app: Flask, db_session: Session) -> None:
        requests = []
        for i in range(5):
            requests.append(signed_slack_request(message_event("race", event_id=f"EvM{i}", ts="9.9")))
            requests.append(signed_slack_request(mention_event("race", event_id=f"EvA{i}", ts="9.9")))
        assert deliver_concurrently(app, requests) == [200] * 10
        assert count(db_session, Ticket) == 1
        assert count(db_session, Message) == 0


    def test_a_new_person_asking_ten_things_at_once_is_one_person(self, app: Flask, db_session: Session) -> None:
        requests = [signed_slack_request(message_event(f"question {i}", user="W777", event_id=f"EvP{i}",
                                                       ts=f"1700000100.{i:06d}")) for i in range(10)]
        assert deliver_concurrently(app, requests) == [200] * 10
        assert count(db_session, Ticket) == 10
        assert count(db_session, Person) == 1


class TestSlashCommand:
    def command(self, text: str, trigger: str = "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"):
        body = (load("slack/signature_docs_example.json")["body"])
        fields = dict(item.split("=", 1) for item in body.split("&"))
        from urllib.parse import unquote_plus

        fields = {k: unquote_plus(v) for k, v in fields.items()}
        fields.update({"command": "/dp0-help", "text": text, "trigger_id": trigger})
        return fields

    def test_with_text_files_and_answers_privately(self, client: FlaskClient, db_session: Session) -> None:
        response = send(client, COMMANDS, self.command("How do I get a DP0 account?"), form=True)
        assert response.status_code == 200
        answer = response.get_json()
        fresh(db_session)
        ticket = db_session.scalars(select(Ticket)).one()
        assert answer["response_type"] == "ephemeral" and f"#{ticket.id}" in answer["text"]
        assert ticket.subject == "How do I get a DP0 account?" and ticket.thread_key is None
        assert ticket.external["channel"] == "U2CERLKJA"  # replies arrive as direct messages
        # The same command redelivered files nothing new.
        again = send(client, COMMANDS, self.command("How do I get a DP0 account?"), form=True)
        assert f"#{ticket.id}" in again.get_json()["text"]
        assert count(db_session, Ticket) == 1

    def test_answer_lists_knowledge_base_matches(self, client: FlaskClient, settings) -> None:  # type: ignore[no-untyped-def]
        from helpdesk.search.documents import Document
        from helpdesk.search.services import SearchService

        SearchService(settings.index_dir).rebuild([
            Document("kb", "/kb/butler-collections/", "Finding Butler collections",
                     "Use butler query-collections to list the collections of the DP0.2 repository."),
            Document("kb", "/kb/tap/", "Querying with TAP", "ADQL queries through the TAP service."),
        ])
        answer = send(client, COMMANDS, self.command("Butler collections missing"), form=True).get_json()
        assert "<https://help.test/kb/butler-collections/|Finding Butler collections>" in answer["text"]

    def test_without_text_opens_the_form(self, client: FlaskClient, db_session: Session,
                                         fake_slack: FakeSlack) -> None:
        response = send(client, COMMANDS, self.command(""), form=True)
        assert response.status_code == 200 and response.get_data() == b""
        (call,) = fake_slack.calls("views.open")
        assert call.json["trigger_id"].startswith("398738663015")
        assert call.json["view"]["callback_id"] == "file_ticket"
        assert stored_nothing(db_session)

    def test_form_that_fails_to_open_is_explained(self, client: FlaskClient, fake_slack: FakeSlack) -> None:
        from tests.support.fakes import Scripted

        fake_slack.script("views.open", Scripted(200, {"ok": False, "error": "expired_trigger_id"}))
        response = send(client, COMMANDS, self.command(""), form=True)
        assert response.status_code == 200 and "did not open" in response.get_json()["text"]

    def test_slow_slack_api_still_answers_within_three_seconds(self, client: FlaskClient,
                                                               fake_slack: FakeSlack) -> None:
        from tests.support.fakes import Scripted

        fake_slack.script("views.open", Scripted(stall=5))
        started = time.monotonic()
        response = send(client, COMMANDS, self.command(""), form=True)
        assert time.monotonic() - started < 3
        assert "did not open" in response.get_json()["text"]

    def test_ssl_check_is_answered_without_a_signature(self, client: FlaskClient, db_session: Session) -> None:
        response = client.post(COMMANDS, data={"ssl_check": "1", "token": "x"})
        assert response.status_code == 200
        assert stored_nothing(db_session)

    def test_unsigned_command_is_401(self, client: FlaskClient, db_session: Session) -> None:
        response = client.post(COMMANDS, data=self.command("hi"))
        assert response.status_code == 401
        assert stored_nothing(db_session)


def shortcut_payload(text: str = "Can someone explain the deepCoadd schema?") -> dict[str, Any]:
    return {
        "type": "message_action", "token": "verification_token", "action_ts": "1599999999.000001",
        "team": {"id": "T111", "domain": "rubin-dp0"}, "user": {"id": "W999", "name": "staffer"},
        "channel": {"id": SUPPORT_CHANNEL, "name": "dp0-support"}, "callback_id": "file_ticket",
        "trigger_id": "111.222.abc", "message_ts": "1599999000.000100",
        "message": {"type": "message", "text": text, "user": "W111", "ts": "1599999000.000100", "team": "T111"},
        "response_url": "https://hooks.slack.com/app/T111/1/abc",
    }


def submission_payload(view: dict[str, Any], subject: str, body: str, *, view_id: str = "V123") -> dict[str, Any]:
    return {
        "type": "view_submission", "team": {"id": "T111", "domain": "rubin-dp0"},
        "user": {"id": "W999", "name": "staffer"}, "api_app_id": "A111", "trigger_id": "333.444.def",
        "view": {"id": view_id, "callback_id": view["callback_id"], "private_metadata": view["private_metadata"],
                 "state": {"values": {"subject": {"subject": {"type": "plain_text_input", "value": subject}},
                                      "body": {"body": {"type": "plain_text_input", "value": body}}}}},
        "response_urls": [],
    }


class TestShortcutAndForm:
    def test_shortcut_opens_a_prefilled_form_and_submitting_files_with_a_link(
        self, client: FlaskClient, db_session: Session, fake_slack: FakeSlack
    ) -> None:
        response = send(client, INTERACTIONS, {"payload": json.dumps(shortcut_payload())}, form=True)
        assert response.status_code == 200
        (call,) = fake_slack.calls("views.open")
        view = call.json["view"]
        assert view["blocks"][1]["element"]["initial_value"] == "Can someone explain the deepCoadd schema?"
        assert stored_nothing(db_session)

        headers, raw = slack_interaction(submission_payload(view, "deepCoadd schema", "Can someone explain it?"))
        response = client.post(INTERACTIONS, data=raw, headers=headers)
        assert response.status_code == 200 and response.get_data() == b""
        fresh(db_session)
        ticket = db_session.scalars(select(Ticket)).one()
        link = "https://rubin-dp0.slack.com/archives/C111/p1599999000000100"
        assert ticket.subject == "deepCoadd schema" and link in ticket.body
        assert ticket.external["permalink"] == link and ticket.thread_key == "C111:1599999000.000100"
        assert ticket.requester.identities[0].external_id == "W111"  # the author of the message
        # The submission redelivered files nothing new.
        client.post(INTERACTIONS, data=raw, headers=headers)
        assert count(db_session, Ticket) == 1

    def test_form_from_the_command_files_a_direct_message_ticket(self, client: FlaskClient,
                                                                 db_session: Session,
                                                                 fake_slack: FakeSlack) -> None:
        send(client, COMMANDS, TestSlashCommand().command(""), form=True)
        view = fake_slack.calls("views.open")[0].json["view"]
        headers, raw = slack_interaction(submission_payload(view, "Quota", "My home directory is full"))
        assert client.post(INTERACTIONS, data=raw, headers=headers).status_code == 200
        fresh(db_session)
        ticket = db_session.scalars(select(Ticket)).one()
        assert ticket.body == "My home directory is full" and ticket.external["channel"] == "W999"

    def test_malformed_submission_is_400(self, client: FlaskClient, db_session: Session) -> None:
        payload = submission_payload({"callback_id": "file_ticket", "private_metadata": "{}"}, "a", "b")
        broken = copy.deepcopy(payload)
        del broken["view"]["state"]
        headers, raw = slack_interaction(broken)
        assert client.post(INTERACTIONS, data=raw, headers=headers).status_code == 400
        headers, raw = signed_slack_request({"payload": "{nope"}, form=True)
        assert client.post(INTERACTIONS, data=raw, headers=headers).status_code == 400
        assert stored_nothing(db_session)

    def test_other_interactions_are_acknowledged(self, client: FlaskClient, db_session: Session) -> None:
        headers, raw = slack_interaction({"type": "block_actions", "user": {"id": "W1"}, "actions": []})
        assert client.post(INTERACTIONS, data=raw, headers=headers).status_code == 200
        assert stored_nothing(db_session)
