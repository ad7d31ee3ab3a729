"""Owners with room: membership, the limit per assignee, least-loaded and round-robin picks, refusals (409)
and the audited administrator override, on the service, the API, the console and the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person
from helpdesk.audit import AuditEvent
from helpdesk.exceptions import InvalidInputError, NotFoundError, PermissionDeniedError
from helpdesk.tickets.assignment import (
    AssignmentService,
    MemberLoad,
    WipLimitReachedError,
    assign_owner,
    pick_owner,
)
from helpdesk.tickets.models import Queue, Source, Ticket
from helpdesk.tickets.services import TicketService
from tests.conftest import csrf_token_from
from tests.tickets.support import Clock


def load(pid: int, assigned: int, limit: int = 3, last: int | None = None) -> MemberLoad:
    person = Person(id=pid, display_name=f"p{pid}")
    clock = Clock()
    return MemberLoad(person, assigned, limit, None if last is None else clock.now + timedelta(minutes=last))


class TestPick:
    def test_least_loaded_takes_the_fewest_open_then_who_waited_longest(self) -> None:
        assert pick_owner([load(1, 2), load(2, 1), load(3, 1, last=5)]).person.id == 2
        assert pick_owner([load(1, 1, last=9), load(2, 1, last=3)]).person.id == 2
        assert pick_owner([load(1, 0, last=1), load(2, 0)]).person.id == 2  # never given one: first

    def test_round_robin_takes_who_waited_longest_whatever_the_load(self) -> None:
        members = [load(1, 0, last=9), load(2, 2, last=1), load(3, 1, last=5)]
        assert pick_owner(members, "round_robin").person.id == 2

    def test_nobody_with_room_is_nobody(self) -> None:
        assert pick_owner([load(1, 3), load(2, 4)]) is None
        assert pick_owner([]) is None
        assert load(1, 5).room == 0 and load(1, 1).room == 2


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tickets(db_session: Session, clock: Clock) -> TicketService:
    return TicketService(db_session, clock)


@pytest.fixture
def members(db_session: Session, clock: Clock) -> AssignmentService:
    return AssignmentService(db_session, clock=clock)


@pytest.fixture
def people(make_person: Callable[..., Person]) -> dict[str, Person]:
    return {"requester": make_person("delegate"), "ann": make_person("ann", "staff"),
            "bob": make_person("bob", "staff"), "root": make_person("root", "admin")}


@pytest.fixture
def small_limit(db_session: Session) -> None:
    """The butler queue takes two open tickets per person."""
    db_session.execute(update(Queue).where(Queue.slug == "butler").values(wip_limit_per_assignee=2))
    db_session.commit()


def butler_ticket(tickets: TicketService, people: dict[str, Person], clock: Clock) -> Ticket:
    clock.advance(minutes=1)
    ticket = tickets.file(people["requester"], "butler.get fails", "DatasetNotFoundError", Source.WEB).ticket
    return tickets.update(people["ann"], ticket.id, {"queue": "butler"})


class TestAutomaticAssignment:
    def test_least_loaded_spreads_and_stops_at_the_limit(  # type: ignore[no-untyped-def]
        self, tickets, members, people, small_limit, db_session, clock
    ) -> None:
        members.add_member(None, "butler", "ann")
        members.add_member(people["root"], "butler", "bob")
        owners = []
        for _ in range(5):
            ticket = butler_ticket(tickets, people, clock)
            owner = assign_owner(db_session, ticket.id, now=clock())  # by id, as filing calls it
            db_session.commit()
            owners.append(owner.handle if owner else None)
        assert owners == ["ann", "bob", "ann", "bob", None]  # two each, then back-pressure
        audit = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "ticket.assigned")).all()
        assert len(audit) == 4 and audit[0].data["auto"] is True and audit[0].actor_id is None

    def test_round_robin_turns_even_when_loads_differ(self, tickets, members, people, db_session, clock) -> None:  # type: ignore[no-untyped-def]
        members.add_member(None, "butler", "ann")
        members.add_member(None, "butler", "bob")
        tickets.update(people["ann"], butler_ticket(tickets, people, clock).id, {"assignee": "bob"})
        owners = []
        for _ in range(3):
            ticket = butler_ticket(tickets, people, clock)
            owners.append(assign_owner(db_session, ticket, strategy="round_robin", now=clock()).handle)
            db_session.commit()
        # bob was given one by hand most recently, so ann's turn comes first.
        assert owners == ["ann", "bob", "ann"]

    def test_left_alone_without_queue_or_with_an_owner(self, tickets, members, people, db_session, clock) -> None:  # type: ignore[no-untyped-def]
        members.add_member(None, "butler", "ann")
        unsorted = tickets.file(people["requester"], "s", "b", Source.WEB).ticket
        assert assign_owner(db_session, unsorted.id) is None
        owned = butler_ticket(tickets, people, clock)
        tickets.update(people["ann"], owned.id, {"assignee": "bob"})
        assert assign_owner(db_session, owned) is None and owned.assignee.handle == "bob"

    def test_a_member_who_is_no_longer_staff_is_skipped(self, tickets, members, people, db_session, clock) -> None:  # type: ignore[no-untyped-def]
        members.add_member(None, "butler", "ann")
        ticket = butler_ticket(tickets, people, clock)
        people["ann"].role = people["requester"].role
        db_session.commit()
        assert assign_owner(db_session, ticket) is None

    def test_console_action_refuses_when_nobody_has_room(self, tickets, members, people, small_limit, clock) -> None:  # type: ignore[no-untyped-def]
        with pytest.raises(InvalidInputError, match="Choose a queue first"):
            members.auto_assign(people["ann"], tickets.file(people["requester"], "s", "b", Source.WEB).ticket.id)
        ticket = butler_ticket(tickets, people, clock)
        with pytest.raises(WipLimitReachedError, match="Nobody in Butler and images has room"):
            members.auto_assign(people["ann"], ticket.id)
        members.add_member(None, "butler", "bob")
        assert members.auto_assign(people["ann"], ticket.id).handle == "bob"
        with pytest.raises(PermissionDeniedError):
            members.auto_assign(people["requester"], ticket.id)


class TestTheLimitHolds:
    def test_beyond_the_limit_is_refused_and_nothing_changes(  # type: ignore[no-untyped-def]
        self, tickets, people, small_limit, db_session, clock
    ) -> None:
        for _ in range(2):
            tickets.update(people["ann"], butler_ticket(tickets, people, clock).id, {"assignee": "bob"})
        third = butler_ticket(tickets, people, clock)
        with pytest.raises(WipLimitReachedError) as refused:
            tickets.update(people["ann"], third.id, {"assignee": "bob", "priority": "high"})
        assert refused.value.status_code == 409 and refused.value.code == "wip_limit_reached"
        assert "bob already has 2 open tickets in Butler and images" in refused.value.message
        db_session.expire_all()
        stored = db_session.get(Ticket, third.id)
        assert stored.assignee is None and stored.priority.value == "normal"  # no half-write

    def test_a_resolved_ticket_frees_a_place(self, tickets, people, small_limit, clock) -> None:  # type: ignore[no-untyped-def]
        first = butler_ticket(tickets, people, clock)
        tickets.update(people["ann"], first.id, {"assignee": "bob"})
        tickets.update(people["ann"], butler_ticket(tickets, people, clock).id, {"assignee": "bob"})
        tickets.update(people["ann"], first.id, {"status": "resolved"})
        assert tickets.update(people["ann"], butler_ticket(tickets, people, clock).id,
                              {"assignee": "bob"}).assignee.handle == "bob"

    def test_moving_a_ticket_into_a_full_queue_counts_too(self, tickets, people, small_limit, clock) -> None:  # type: ignore[no-untyped-def]
        for _ in range(2):
            tickets.update(people["ann"], butler_ticket(tickets, people, clock).id, {"assignee": "bob"})
        elsewhere = tickets.file(people["requester"], "s", "b", Source.WEB).ticket
        tickets.update(people["ann"], elsewhere.id, {"queue": "catalogs", "assignee": "bob"})
        with pytest.raises(WipLimitReachedError):
            tickets.update(people["ann"], elsewhere.id, {"queue": "butler"})

    def test_only_an_admin_overrides_and_it_is_audited(  # type: ignore[no-untyped-def]
        self, tickets, people, small_limit, db_session, clock
    ) -> None:
        for _ in range(2):
            tickets.update(people["ann"], butler_ticket(tickets, people, clock).id, {"assignee": "bob"})
        third = butler_ticket(tickets, people, clock)
        with pytest.raises(PermissionDeniedError, match="Only administrators"):
            tickets.update(people["ann"], third.id, {"assignee": "bob", "override_limit": True})
        ticket = tickets.update(people["root"], third.id, {"assignee": "bob", "override_limit": True})
        assert ticket.assignee.handle == "bob"
        event = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "ticket.assignment_overridden")).one()
        assert (event.actor_id, event.ticket_id) == (people["root"].id, third.id)
        assert event.data == {"assignee": "bob", "queue": "butler", "open": 2, "limit": 2}
        # With room, the override flag changes nothing and records nothing.
        fourth = butler_ticket(tickets, people, clock)
        tickets.update(people["root"], fourth.id, {"assignee": "ann", "override_limit": True})
        assert len(db_session.scalars(select(AuditEvent).where(
            AuditEvent.action == "ticket.assignment_overridden")).all()) == 1


class TestMembership:
    def test_add_list_remove_and_refusals(self, members, people, db_session) -> None:  # type: ignore[no-untyped-def]
        assert members.add_member(people["root"], "catalogs", "ann") is True
        assert members.add_member(people["root"], "catalogs", "ann") is False
        assert [m.person.handle for m in members.members("catalogs")] == ["ann"]
        assert [q.slug for q in members.queues_of(people["ann"])] == ["catalogs"]
        with pytest.raises(PermissionDeniedError):
            members.add_member(people["bob"], "catalogs", "bob")
        with pytest.raises(InvalidInputError, match="not a staff member"):
            members.add_member(None, "catalogs", "delegate")
        with pytest.raises(InvalidInputError, match="Unknown queue 'nope'"):
            members.add_member(None, "nope", "ann")
        members.remove_member(people["root"], "catalogs", "ann")
        with pytest.raises(NotFoundError):
            members.remove_member(None, "catalogs", "ann")
        actions = db_session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("queue.%"))).all()
        assert actions == ["queue.member_added", "queue.member_removed"]


def test_api_queues_show_room_clocks_and_oldest_waiting(  # type: ignore[no-untyped-def]
    client: FlaskClient, staff_token: str, db_session: Session, make_person
) -> None:
    make_person("ann", "staff")
    requester = make_person("delegate")
    AssignmentService(db_session).add_member(None, "pipelines", "ann")
    db_session.execute(update(Queue).where(Queue.slug == "pipelines").values(wip_limit_per_assignee=1))
    db_session.commit()
    tickets = TicketService(db_session)
    staff = db_session.scalars(select(Person).where(Person.display_name == "ann")).one()
    first = tickets.file(requester, "a", "b", Source.WEB).ticket
    tickets.update(staff, first.id, {"queue": "pipelines", "assignee": "ann"})
    waiting = tickets.file(requester, "c", "d", Source.WEB).ticket
    tickets.update(staff, waiting.id, {"queue": "pipelines"})
    db_session.execute(update(Ticket).where(Ticket.id == waiting.id).values(
        first_response_due_at=waiting.created_at - timedelta(hours=1)))  # overdue
    db_session.commit()
    headers = {"Authorization": f"Bearer {staff_token}"}
    items = {q["slug"]: q for q in client.get("/api/v1/queues", headers=headers).get_json()["items"]}
    pipelines = items["pipelines"]
    assert pipelines["members"] == [{"login": "ann", "assigned": 1, "capacity_left": 0}]
    assert pipelines["capacity_left"] == 0 and pipelines["breached"] == 1 and pipelines["due_soon"] == 0
    assert pipelines["oldest_waiting_at"] == db_session.get(Ticket, waiting.id).created_at.isoformat()
    assert items[None]["capacity_left"] is None and items[None]["members"] == []
    assert items["catalogs"]["capacity_left"] == 0 and items["catalogs"]["members"] == []
    refused = client.patch(f"/api/v1/tickets/{waiting.id}", json={"assignee": "ann"}, headers=headers)
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "wip_limit_reached"


class TestConsole:
    def test_board_ticket_page_and_refusal(self, client: FlaskClient, login, db_session: Session) -> None:  # type: ignore[no-untyped-def]
        sam = login("sam", "staff")
        requester = TicketService(db_session).file(
            db_session.merge(sam), "x", "y", Source.WEB).ticket  # any ticket will do
        db_session.execute(update(Queue).where(Queue.slug == "general").values(wip_limit_per_assignee=1))
        db_session.commit()
        tickets = TicketService(db_session)
        tickets.update(sam, requester.id, {"queue": "general", "assignee": "sam"})
        other = tickets.file(sam, "Second question", "z", Source.WEB).ticket
        tickets.update(sam, other.id, {"queue": "general"})
        board = client.get("/staff/").get_data(as_text=True)
        assert '<th>First response</th>' in board and 'data-sla="on_time"' in board and "on time (" in board
        assert "no room left (no members)" in board
        page = client.get(f"/staff/tickets/{other.id}").get_data(as_text=True)
        assert "First response:" in page and "Assign to me" in page and "override" not in page  # staff, not admin
        refused = client.post(f"/staff/tickets/{other.id}/assign",
                              data={"csrf_token": csrf_token_from(page), "to": "me"})
        assert refused.status_code == 409
        assert "sam already has 1 open tickets in Data Preview program and documentation" in refused.get_data(
            as_text=True)
        form = client.post(f"/staff/tickets/{other.id}/update", data={
            "csrf_token": csrf_token_from(page), "queue": "general", "status": "triaged", "priority": "normal",
            "assignee": "sam"})
        assert form.status_code == 409
        db_session.expire_all()
        assert db_session.get(Ticket, other.id).assignee is None

    def test_members_page_for_admins(self, client: FlaskClient, login, make_person, db_session) -> None:  # type: ignore[no-untyped-def]
        make_person("ann", "staff")
        login("root", "admin")
        page = client.get("/staff/queues").get_data(as_text=True)
        token = csrf_token_from(page)
        response = client.post("/staff/queues/members", data={"csrf_token": token, "queue": "butler", "login": "ann",
                                                               "action": "add"}, follow_redirects=True)
        assert "ann now works butler" in response.get_data(as_text=True)
        assert 'data-member="ann"' in response.get_data(as_text=True)
        bad = client.post("/staff/queues/members", data={"csrf_token": token, "queue": "butler", "login": "nobody",
                                                          "action": "add"}, follow_redirects=True)
        assert "is not a staff member" in bad.get_data(as_text=True)
        gone = client.post("/staff/queues/members", data={"csrf_token": token, "queue": "butler", "login": "ann",
                                                           "action": "remove"}, follow_redirects=True)
        assert "ann no longer works butler" in gone.get_data(as_text=True)
        assert AssignmentService(db_session).members("butler") == []

    def test_staff_cannot_change_members(self, client: FlaskClient, login, db_session) -> None:  # type: ignore[no-untyped-def]
        login("sam", "staff")
        page = client.get("/staff/queues").get_data(as_text=True)
        assert "Add member" not in page
        response = client.post("/staff/queues/members", data={
            "csrf_token": csrf_token_from(page), "queue": "butler", "login": "sam", "action": "add"},
            follow_redirects=True)
        assert "Only administrators" in response.get_data(as_text=True)
        assert AssignmentService(db_session).members("butler") == []


def test_command_line_membership_and_sweep(database_url: str, app, make_person) -> None:  # type: ignore[no-untyped-def]
    make_person("ann", "staff")
    env = {**os.environ, "HELPDESK_DATABASE_URL": database_url, "HELPDESK_ENV": "testing"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "helpdesk", "queues", *args], capture_output=True, text=True,
                              env=env, timeout=120)

    assert "ann now works catalogs" in run("add-member", "catalogs", "ann").stdout
    assert "ann already worked catalogs" in run("add-member", "catalogs", "ann").stdout
    assert run("members", "catalogs").stdout.strip() == "catalogs: ann (0/12)"
    assert "general: nobody" in run("members").stdout
    failed = run("add-member", "catalogs", "ghost")
    assert failed.returncode == 1 and "'ghost' is not a staff member" in failed.stderr
    assert "ann no longer works catalogs" in run("remove-member", "catalogs", "ann").stdout
    assert run("remove-member", "catalogs", "ann").returncode == 1
    assert "0 new first-response warnings" in run("sla-sweep").stdout
