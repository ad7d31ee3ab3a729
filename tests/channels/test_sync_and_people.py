"""``helpdesk discourse sync`` against a fake forum; people joined by verified email and merged by staff."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Identity, Person, Provider
from helpdesk.accounts.services import AccountService
from helpdesk.audit import AuditEvent
from helpdesk.channels.discourse import sync_missed_posts
from helpdesk.cli import cli
from helpdesk.config import Settings
from helpdesk.exceptions import InvalidInputError, PermissionDeniedError
from helpdesk.factory import build_channel
from helpdesk.tickets.models import Message, Ticket
from helpdesk.tickets.services import TicketService
from tests.conftest import csrf_token_from
from tests.support.fakes import FakeDiscourse, Scripted
from tests.support.forum import deliver, post_payload
from tests.support.reading import fresh
from tests.support.slack import EVENTS, message_event, send


def forum_post(fake: FakeDiscourse, topic: int, number: int, raw: str, *, username: str = "vera",
               category: int = 1, **extra: object) -> dict:
    return fake.add_post(topic_id=topic, post_number=number, raw=raw, username=username, user_id=hash(username) % 1000,
                         name=username.title(), category_id=category, topic_title=f"Topic {topic}",
                         topic_slug=f"topic-{topic}", **extra)


class TestDiscourseSync:
    def test_files_missed_posts_exactly_once(self, client: FlaskClient, db_session: Session, settings: Settings,
                                              fake_discourse: FakeDiscourse) -> None:
        delivered = forum_post(fake_discourse, 21, 1, "Webhook got this one")
        deliver(client, post_payload(id=delivered["id"], topic_id=21, post_number=1, raw="Webhook got this one",
                                     topic_title="Topic 21"))
        forum_post(fake_discourse, 21, 2, "A follow-up the webhook missed")
        forum_post(fake_discourse, 22, 1, "A whole topic the webhook missed")
        forum_post(fake_discourse, 22, 2, "Our own answer", username="dp0-support-bot")
        forum_post(fake_discourse, 23, 1, "Not a support category", category=7)
        channel = build_channel(settings, "discourse")

        result = sync_missed_posts(channel, TicketService(db_session).receive, pages=3)
        assert (result.filed, result.joined, result.already, result.ignored) == (1, 1, 1, 2)
        again = sync_missed_posts(channel, TicketService(db_session).receive, pages=3)
        assert (again.filed, again.joined, again.already) == (0, 0, 3)
        fresh(db_session)
        tickets = db_session.scalars(select(Ticket).order_by(Ticket.id)).all()
        assert [t.thread_key for t in tickets] == ["21", "22"]
        assert [m.body for m in db_session.scalars(select(Message))] == ["A follow-up the webhook missed"]

    def test_pages_through_older_posts(self, db_session: Session, settings: Settings,
                                       fake_discourse: FakeDiscourse) -> None:
        for topic in range(60):
            forum_post(fake_discourse, 100 + topic, 1, f"question {topic}")
        channel = build_channel(settings, "discourse")
        assert sync_missed_posts(channel, TicketService(db_session).receive, pages=1).filed == 50
        assert sync_missed_posts(channel, TicketService(db_session).receive, pages=2).filed == 10

    def test_command(self, settings: Settings, fake_discourse: FakeDiscourse) -> None:
        forum_post(fake_discourse, 31, 1, "From the command")
        env = {f"HELPDESK_{name.upper()}": str(value) for name, value in {
            "env": "testing", "database_url": settings.database_url, "discourse_url": fake_discourse.url,
            "discourse_api_key": "test-api-key", "discourse_api_username": "dp0-support-bot",
            "discourse_webhook_secret": "helpdesk-test-secret-0123", "discourse_category_ids": "1",
        }.items()}
        result = CliRunner().invoke(cli, ["discourse", "sync"], env=env)
        assert result.exit_code == 0, result.output
        assert "1 tickets filed" in result.output
        fake_discourse.script("/posts.json", Scripted(503, {"errors": ["down"]}))
        result = CliRunner().invoke(cli, ["discourse", "sync"], env=env)
        assert result.exit_code == 1 and "did not answer" in result.output


class TestPeople:
    def test_verified_email_joins_identities(self, db_session: Session) -> None:
        accounts = AccountService(db_session)
        github = accounts.sign_in_github("vera", email="vera@example.org")
        github.email_verified = True
        db_session.commit()
        slack = accounts.resolve_identity(Provider.SLACK, "U1", email="Vera@Example.org", email_verified=True)
        forum = accounts.resolve_identity(Provider.DISCOURSE, "7", username="vera",
                                          email="vera@example.org", email_verified=False)
        db_session.commit()
        assert slack.id == github.id
        assert forum.id != github.id  # an unverified email joins nobody
        assert {i.provider for i in github.identities} == {Provider.GITHUB, Provider.SLACK}

    def test_staff_merge_moves_everything_and_keeps_the_audit(
        self, client: FlaskClient, db_session: Session, login: Callable[..., Person]
    ) -> None:
        send(client, EVENTS, message_event("Slack question"))
        deliver(client, post_payload())
        fresh(db_session)
        slack_person = db_session.scalars(select(Identity).where(Identity.provider == Provider.SLACK)).one().person
        forum_person = db_session.scalars(
            select(Identity).where(Identity.provider == Provider.DISCOURSE)).one().person
        staff = login("alice", "staff")
        page = client.get("/staff/people")
        assert page.status_code == 200 and "slack:W111" in page.get_data(as_text=True)
        response = client.post("/staff/people/merge", data={
            "source_id": slack_person.id, "target_id": forum_person.id,
            "csrf_token": csrf_token_from(page.get_data(as_text=True)),
        })
        assert response.status_code == 302
        fresh(db_session)
        survivor = db_session.get(Person, forum_person.id)
        assert {i.provider for i in survivor.identities} == {Provider.SLACK, Provider.DISCOURSE}
        assert {t.requester_id for t in db_session.scalars(select(Ticket))} == {survivor.id}
        assert db_session.get(Person, slack_person.id).merged_into_id == survivor.id
        event = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "person.merged")).one()
        assert event.actor_id == staff.id and event.data["merged_id"] == slack_person.id
        # A later Slack message from the merged identity lands on the survivor.
        send(client, EVENTS, message_event("another one", event_id="Ev9", ts="1596189999.000100"))
        fresh(db_session)
        assert {t.requester_id for t in db_session.scalars(select(Ticket))} == {survivor.id}

    def test_merge_rules(self, db_session: Session, make_person: Callable[..., Person]) -> None:
        accounts = AccountService(db_session)
        a, b, staff = make_person("ann"), make_person("ben"), make_person("alice", "staff")
        with pytest.raises(PermissionDeniedError):
            accounts.merge(a, a.id, b.id)
        with pytest.raises(InvalidInputError):
            accounts.merge(staff, a.id, a.id)
        accounts.merge(staff, a.id, b.id)
        with pytest.raises(InvalidInputError):
            accounts.merge(staff, a.id, b.id)

    def test_people_pages_need_staff(self, client: FlaskClient, login: Callable[..., Person]) -> None:
        login("bob")
        assert client.get("/staff/people").status_code == 403
        assert client.get("/staff/outbox").status_code == 403
