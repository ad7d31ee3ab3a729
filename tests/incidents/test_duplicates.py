"""Duplicates across channels: shown with a score, merged with both conversations kept and both requesters told."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person
from helpdesk.exceptions import InvalidInputError, InvalidTransitionError, PermissionDeniedError
from helpdesk.tickets.duplicates import DuplicateService, possible_duplicates
from helpdesk.tickets.models import Message, Status, Ticket
from helpdesk.tickets.services import TicketService
from helpdesk.worker import OutboxWorker
from tests.channels import conftest as channel_fixtures
from tests.conftest import csrf_token_from
from tests.incidents.channels import forum_question, slack_question, slack_thread_reply
from tests.incidents.conftest import audit_actions
from tests.support.fakes import FakeDiscourse, FakeSlack
from tests.support.reading import fresh

# The channel tests' fixtures: the helpdesk wired to a fake Slack and a fake forum.
_no_proxies, settings = channel_fixtures._no_proxies, channel_fixtures.settings
fake_slack, fake_discourse = channel_fixtures.fake_slack, channel_fixtures.fake_discourse

QUESTION = ("I get 'No such table' for dp02_dc2_catalogs.ForcedSource when I run my ADQL query in the Portal. "
            "Has the ForcedSource table been renamed?")
FORUM_TITLE = "ForcedSource table missing in ADQL"
FORUM_TEXT = ("Running an ADQL query in the portal on dp02_dc2_catalogs.ForcedSource says no such table. Was the "
              "ForcedSource table renamed or removed?")


@pytest.fixture
def pair(client: FlaskClient, db_session: Session) -> tuple[Ticket, Ticket]:
    """The same question asked in Slack by one person and on the forum by another, and one other question."""
    slack = slack_question(client, db_session, QUESTION, user="W111", ts="1700000001.000100")
    forum = forum_question(client, db_session, FORUM_TITLE, FORUM_TEXT, topic_id=41, user_id=7, username="maria")
    slack_question(client, db_session, "How do I make a cutout of a calexp with the Butler?", user="W222",
                   ts="1700000002.000100")
    return slack, forum


def _worker(app: Flask) -> OutboxWorker:
    return OutboxWorker(app.extensions["helpdesk"].session_factory, app.extensions["helpdesk"].settings)


def test_a_slack_question_and_a_forum_topic_are_possible_duplicates_with_a_score(
    pair: tuple[Ticket, Ticket], client: FlaskClient, login: Callable[..., Person], db_session: Session,
) -> None:
    slack, forum = pair
    found = possible_duplicates(db_session, forum, 0.25)
    assert [c.ticket.id for c in found] == [slack.id] and 0.25 <= found[0].score < 1
    login("alice", "staff")
    page = client.get(f"/staff/tickets/{forum.id}").get_data(as_text=True)
    assert f'data-duplicate="{slack.id}"' in page and f"similarity {found[0].score:.2f}" in page
    assert "cutout" not in page.split('id="duplicates-heading"')[1].split("</section>")[0]


def test_merging_keeps_both_conversations_tells_both_requesters_and_audits_both(
    pair: tuple[Ticket, Ticket], app: Flask, client: FlaskClient, login: Callable[..., Person],
    db_session: Session, fake_slack: FakeSlack, fake_discourse: FakeDiscourse,
) -> None:
    slack, forum = pair
    login("alice", "staff")
    page = client.get(f"/staff/tickets/{slack.id}").get_data(as_text=True)
    form = {"csrf_token": csrf_token_from(page), "into": str(forum.id)}
    assert client.post(f"/staff/tickets/{slack.id}/merge", data=form).status_code == 302
    again = client.post(f"/staff/tickets/{slack.id}/merge", data=form)  # a double-click merges nothing more
    assert again.status_code == 302
    fresh(db_session)
    merged, survivor = db_session.get(Ticket, slack.id), db_session.get(Ticket, forum.id)
    assert merged.merged_into_id == survivor.id and merged.status is Status.CLOSED
    assert "ticket.merged" in audit_actions(db_session, merged.id)
    assert "ticket.merged" in audit_actions(db_session, survivor.id)
    told = {m.ticket_id: m.body for m in db_session.scalars(select(Message).where(Message.author_id.is_not(None)))
            if m.direction.value == "outbound"}
    assert set(told) == {merged.id, survivor.id}
    assert f"#{survivor.id}" in told[merged.id] and f"#{merged.id}" in told[survivor.id]
    _worker(app).run_once()
    slack_posts = [m["text"] for m in fake_slack.messages if m["thread_ts"] == "1700000001.000100"]
    assert any(f"#{survivor.id}" in text for text in slack_posts)  # in the Slack requester's own thread
    forum_posts = [r.form["raw"] for r in fake_discourse.created() if r.form["topic_id"] == "41"]
    assert any(f"#{merged.id}" in raw for raw in forum_posts)  # in the forum topic
    survivor_page = client.get(f"/staff/tickets/{survivor.id}").get_data(as_text=True)
    assert f'data-merged-ticket="{merged.id}"' in survivor_page and "No such table" in survivor_page
    merged_page = client.get(f"/staff/tickets/{merged.id}").get_data(as_text=True)
    assert f'data-merged-into="{survivor.id}"' in merged_page


def test_a_new_message_in_the_merged_thread_joins_the_survivor_and_its_answers_reach_that_thread(
    pair: tuple[Ticket, Ticket], app: Flask, client: FlaskClient, db_session: Session,
    make_person: Callable[..., Person], fake_slack: FakeSlack,
) -> None:
    slack, forum = pair
    staff = make_person("alice", "staff")
    tickets = TicketService(db_session)
    DuplicateService(db_session, tickets).merge(staff, slack.id, forum.id)
    slack_thread_reply(client, "Still broken for me this morning.", user="W111", ts="1700000009.000100",
                       thread_ts="1700000001.000100")
    fresh(db_session)
    joined = db_session.scalars(select(Message).where(Message.body == "Still broken for me this morning.")).one()
    assert joined.ticket_id == forum.id
    # A staff answer on the survivor also goes to the merged Slack thread (the ticket service queues it).
    tickets.reply(staff, forum.id, "The table is ForcedSourceOnDiaObject in DP0.2.")
    _worker(app).run_once()
    in_thread = [m["text"] for m in fake_slack.messages if m["thread_ts"] == "1700000001.000100"]
    assert "The table is ForcedSourceOnDiaObject in DP0.2." in in_thread


def test_merges_that_make_no_sense_are_refused(
    pair: tuple[Ticket, Ticket], db_session: Session, make_person: Callable[..., Person],
) -> None:
    slack, forum = pair
    service = DuplicateService(db_session, TicketService(db_session))
    staff = make_person("alice", "staff")
    with pytest.raises(InvalidInputError):
        service.merge(staff, slack.id, slack.id)
    with pytest.raises(PermissionDeniedError):
        service.merge(make_person("bob"), slack.id, forum.id)
    service.merge(staff, slack.id, forum.id)
    with pytest.raises(InvalidTransitionError):
        service.merge(staff, forum.id, slack.id)  # into a ticket that was merged itself
    with pytest.raises(InvalidTransitionError):
        service.merge(staff, slack.id, forum.id)  # twice
    assert possible_duplicates(db_session, forum, 0.25) == []  # a merged ticket is no candidate any more
