"""The staff console's lists through the test client: the board and /staff/tickets with search, filters and
pages; bulk actions (each ticket audited, refused past the queue's limit, close and merge confirmed); saved views."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person
from helpdesk.accounts.services import AccountService
from helpdesk.audit import AuditEvent
from helpdesk.tickets.assignment import AssignmentService
from helpdesk.tickets.models import Queue, Source, Status, Ticket
from helpdesk.tickets.saved_views import SavedView
from helpdesk.tickets.services import TicketService
from tests.conftest import csrf_token_from


@pytest.fixture
def desk(db_session: Session) -> tuple[TicketService, Person]:
    return TicketService(db_session), AccountService(db_session).sign_in_github("delegate-dana")


def rows(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr data-ticket="(\d+)"', html)]


def test_board_and_list_search_filter_and_page(client: FlaskClient, login: Callable[..., Person], desk) -> None:
    tickets, dana = desk
    sam = login("sam", "staff")
    made = [tickets.file(dana, f"Question {i}", "about TAP" if i % 2 else "about Butler", Source.WEB).ticket.id
            for i in range(5)]
    tickets.update(sam, made[0], {"queue": "butler", "assignee": "sam"})

    board = client.get("/staff/")
    assert board.status_code == 200
    html = board.get_data(as_text=True)
    assert rows(html) == made[::-1] and 'role="search"' in html and "Open tickets by queue" in html
    assert re.search(r'data-view-count="My open tickets">1<', html)
    assert rows(client.get("/staff/tickets?q=tap").get_data(as_text=True)) == [made[3], made[1]]
    assert rows(client.get("/staff/tickets?assignee=me").get_data(as_text=True)) == [made[0]]
    assert rows(client.get("/staff/?queue=butler").get_data(as_text=True)) == [made[0]]
    listed = client.get("/staff/tickets?sort=oldest&status=any").get_data(as_text=True)
    assert rows(listed) == made and ">5 tickets<" in listed
    bad = client.get("/staff/tickets?sort=sideways")
    assert bad.status_code == 422 and "Unknown sort" in bad.get_data(as_text=True)


def test_pages_both_ways_in_the_console(client: FlaskClient, login: Callable[..., Person], desk, monkeypatch) -> None:
    from helpdesk.staff import lists

    monkeypatch.setattr(lists, "PAGE_SIZE", 2)
    tickets, dana = desk
    login("sam", "staff")
    made = [tickets.file(dana, f"Q{i}", "b", Source.WEB).ticket.id for i in range(5)]
    first = client.get("/staff/tickets").get_data(as_text=True)
    assert rows(first) == [made[4], made[3]] and 'rel="prev"' not in first
    next_url = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = client.get(next_url).get_data(as_text=True)
    assert rows(second) == [made[2], made[1]]
    prev_url = re.search(r'rel="prev" href="([^"]+)"', second).group(1).replace("&amp;", "&")
    assert rows(client.get(prev_url).get_data(as_text=True)) == [made[4], made[3]]


def _bulk(client: FlaskClient, data: dict[str, object], back: str = "/staff/tickets") -> str:
    token = csrf_token_from(client.get(back).get_data(as_text=True))
    response = client.post("/staff/tickets/bulk", data={"csrf_token": token, "back": back, **data},
                           follow_redirects=True)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_bulk_assign_is_audited_per_ticket_and_refused_past_the_limit(
        client: FlaskClient, login: Callable[..., Person], desk, db_session: Session) -> None:
    tickets, dana = desk
    sam = login("sam", "staff")
    db_session.execute(update(Queue).where(Queue.slug == "butler").values(wip_limit_per_assignee=2))
    db_session.commit()
    made = [tickets.file(dana, f"Q{i}", "b", Source.WEB).ticket.id for i in range(3)]
    for ticket_id in made:
        tickets.update(sam, ticket_id, {"queue": "butler"})
    html = _bulk(client, {"action": "assign", "assignee": "me", "ticket": [str(i) for i in made]})
    assert "Assign: 2 tickets changed" in html and f"#{made[2]}: sam already has 2 open tickets" in html
    db_session.rollback()  # a new snapshot: the app committed in between
    assert [db_session.get(Ticket, i).assignee_id for i in made] == [sam.id, sam.id, None]
    events = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "ticket.updated",
                                                         AuditEvent.data["changes"]["assignee"].isnot(None))).all()
    assigned = [e for e in events if "assignee" in e.data["changes"]]
    assert sorted(e.ticket_id for e in assigned) == made[:2] and all(e.actor_id == sam.id for e in assigned)
    summary = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "tickets.bulk")).one()
    assert summary.data["changed"] == made[:2] and summary.data["refused"] == [made[2]]


def test_bulk_status_priority_queue_and_tags(client: FlaskClient, login: Callable[..., Person], desk,
                                             db_session: Session) -> None:
    tickets, dana = desk
    login("sam", "staff")
    made = [tickets.file(dana, f"Q{i}", "b", Source.WEB).ticket.id for i in range(2)]
    picked = [str(i) for i in made]
    assert "Queue: 2 tickets changed" in _bulk(client, {"action": "queue", "queue": "catalogs", "ticket": picked})
    assert "Priority: 2 tickets changed" in _bulk(client, {"action": "priority", "priority": "high", "ticket": picked})
    assert "Status: 2 tickets changed" in _bulk(client, {"action": "status", "status": "in_progress",
                                                         "ticket": picked})
    assert "Tag: 2 tickets changed" in _bulk(client, {"action": "tag", "tags": "tap, dp0.2", "ticket": picked})
    assert "Untag: 1 ticket changed" in _bulk(client, {"action": "untag", "tags": "tap", "ticket": picked[:1]})
    assert TicketService(db_session).tags_of(made) == {made[0]: ["dp0.2"], made[1]: ["dp0.2", "tap"]}
    tagged = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "ticket.tagged")).all()
    assert len(tagged) == 3


def test_close_and_merge_need_confirmation(client: FlaskClient, login: Callable[..., Person], desk,
                                           db_session: Session) -> None:
    tickets, dana = desk
    login("sam", "staff")
    made = [tickets.file(dana, f"Q{i}", "b", Source.WEB).ticket.id for i in range(3)]
    html = _bulk(client, {"action": "close", "ticket": [str(made[0])]})
    assert "Tick “Yes, close" in html
    assert db_session.get(Ticket, made[0]).status is Status.NEW
    assert "Close: 1 ticket changed" in _bulk(client, {"action": "close", "confirm": "yes", "ticket": [str(made[0])]})
    html = _bulk(client, {"action": "merge", "into": str(made[2]), "confirm": "yes",
                          "ticket": [str(made[1]), str(made[2])]})
    assert "Merge: 1 ticket changed" in html
    db_session.rollback()  # a new snapshot: the app committed in between
    assert db_session.get(Ticket, made[1]).merged_into_id == made[2]
    assert db_session.get(Ticket, made[0]).status is Status.CLOSED


def test_bulk_refuses_bad_requests(client: FlaskClient, login: Callable[..., Person], desk) -> None:
    tickets, dana = desk
    login("sam", "staff")
    ticket = tickets.file(dana, "Q", "b", Source.WEB).ticket.id
    assert "Tick at least one ticket" in _bulk(client, {"action": "assign", "assignee": "me"})
    assert "Unknown action" in _bulk(client, {"action": "explode", "ticket": [str(ticket)]})
    assert "Unknown priority" in _bulk(client, {"action": "priority", "priority": "max", "ticket": [str(ticket)]})
    assert client.post("/staff/tickets/bulk", data={"action": "close", "ticket": [str(ticket)],
                                                     "confirm": "yes"}).status_code in (302, 400)


def test_requesters_are_turned_away(client: FlaskClient, login: Callable[..., Person]) -> None:
    login("delegate-dana")
    assert client.get("/staff/tickets").status_code == 403
    assert client.post("/staff/tickets/bulk", data={}).status_code in (400, 403)


def test_saved_views_personal_and_shared(client: FlaskClient, login: Callable[..., Person], db_session: Session,
                                         make_person: Callable[..., Person]) -> None:
    login("sam", "staff")
    token = csrf_token_from(client.get("/staff/tickets").get_data(as_text=True))
    response = client.post("/staff/views", data={"csrf_token": token, "name": "My TAP", "q": "tap", "assignee": "me",
                                                 "sort": "due", "back": "/staff/tickets"})
    assert response.status_code == 302 and response.headers["Location"].endswith(
        "/staff/tickets?q=tap&assignee=me&sort=due")
    client.post("/staff/views", data={"csrf_token": token, "name": "Team urgent", "priority": "urgent",
                                      "shared": "y", "back": "/staff/tickets"})
    views = {v.name: v for v in db_session.scalars(select(SavedView))}
    assert views["My TAP"].query == "q=tap&assignee=me&sort=due" and not views["My TAP"].shared
    assert views["Team urgent"].shared
    team, mine = views["Team urgent"].id, views["My TAP"].id
    db_session.rollback()  # end the read before the app writes again
    html = client.get("/staff/").get_data(as_text=True)
    assert "My TAP" in html and "Team urgent" in html

    client.post("/auth/logout", data={"csrf_token": token})
    login("kim", "staff")
    html = client.get("/staff/tickets").get_data(as_text=True)
    assert "Team urgent" in html and "My TAP" not in html  # personal views are their owner's
    token = csrf_token_from(html)
    response = client.post(f"/staff/views/{team}/delete",
                           data={"csrf_token": token, "back": "/staff/tickets"}, follow_redirects=True)
    assert "Only its owner or an administrator" in response.get_data(as_text=True)
    response = client.post(f"/staff/views/{mine}/delete",
                           data={"csrf_token": token, "back": "/staff/tickets"}, follow_redirects=True)
    assert "No saved view" in response.get_data(as_text=True)

    response = client.post("/staff/views", data={"csrf_token": token, "view_id": str(team), "name": "Team urgent",
                                                 "priority": "high", "back": "/staff/tickets"}, follow_redirects=True)
    assert "Only its owner or an administrator" in response.get_data(as_text=True)  # kim cannot change it

    client.post("/auth/logout", data={"csrf_token": token})
    login("root", "admin")
    token = csrf_token_from(client.get("/staff/tickets?priority=high").get_data(as_text=True))
    html = client.get("/staff/tickets?priority=high").get_data(as_text=True)
    assert "Use the current filters" in html  # an administrator may change a shared view
    response = client.post("/staff/views", data={"csrf_token": token, "view_id": str(team), "name": "Team high",
                                                 "shared": "y", "priority": "high", "back": "/staff/tickets"})
    assert response.headers["Location"].endswith("/staff/tickets?priority=high")
    db_session.rollback()
    assert db_session.get(SavedView, team).name == "Team high" and db_session.get(SavedView, team).shared
    db_session.rollback()
    token = csrf_token_from(client.get("/staff/tickets").get_data(as_text=True))
    response = client.post(f"/staff/views/{team}/delete",
                           data={"csrf_token": token, "back": "/staff/tickets"}, follow_redirects=True)
    assert "View deleted." in response.get_data(as_text=True)
    db_session.rollback()
    actions = [e.action for e in db_session.scalars(select(AuditEvent).where(AuditEvent.action.like("view.%"))
                                                     .order_by(AuditEvent.id))]
    assert actions == ["view.created", "view.created", "view.updated", "view.deleted"]


def test_back_never_leaves_the_console(client: FlaskClient, login: Callable[..., Person]) -> None:
    login("sam", "staff")
    token = csrf_token_from(client.get("/staff/tickets").get_data(as_text=True))
    for back in ("https://evil.example/", "//evil.example", "/staff/\\evil", "/auth/login"):
        response = client.post("/staff/tickets/bulk", data={"csrf_token": token, "back": back, "action": "x"})
        assert response.headers["Location"].endswith("/staff/tickets"), back


def test_queue_limit_override_by_an_admin(client: FlaskClient, login: Callable[..., Person], desk,
                                          db_session: Session) -> None:
    tickets, dana = desk
    root = login("root", "admin")
    db_session.execute(update(Queue).where(Queue.slug == "butler").values(wip_limit_per_assignee=1))
    db_session.commit()
    AssignmentService(db_session).add_member(None, "butler", "root")
    made = [tickets.file(dana, f"Q{i}", "b", Source.WEB).ticket.id for i in range(2)]
    for ticket_id in made:
        tickets.update(root, ticket_id, {"queue": "butler"})
    html = _bulk(client, {"action": "assign", "assignee": "me", "override_limit": "y",
                          "ticket": [str(i) for i in made]})
    assert "Assign: 2 tickets changed" in html
    overridden = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "ticket.assignment_overridden"))
    assert [e.ticket_id for e in overridden] == [made[1]]


def test_console_pages_send_as_many_statements_for_3_tickets_as_for_30(
        client: FlaskClient, login: Callable[..., Person], desk, app) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import event

    tickets, dana = desk
    sam = login("sam", "staff")
    engine = app.extensions["helpdesk"].engine

    def statements(path: str) -> int:
        seen: list[str] = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            assert client.get(path).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(seen)

    def fill(n: int) -> None:
        for i in range(n):
            ticket = tickets.file(dana, f"TAP question {i}", "body", Source.WEB).ticket.id
            tickets.update(sam, ticket, {"queue": "catalogs" if i % 2 else "butler", "priority": "high"})
            tickets.add_tags(sam, ticket, ["tap"])

    paths = ["/staff/", "/staff/tickets?q=tap&status=open&sort=due", "/staff/tickets?tag=tap&sort=updated"]
    fill(3)
    few = [statements(p) for p in paths]
    fill(27)
    assert [statements(p) for p in paths] == few
