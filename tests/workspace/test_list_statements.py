"""The staff board, a staff list and the API's ticket and queue lists each send a fixed, small number of SQL
statements: as many for 5 tickets in the configured queues as for 60 tickets spread over more queues, with more
staff, queue members, tags and saved views (issue #12). A behaviour, not a timing: no query per row, per queue
or per person."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person, Role
from helpdesk.accounts.services import AccountService
from helpdesk.tickets.assignment import AssignmentService
from helpdesk.tickets.models import Queue, Source
from helpdesk.tickets.saved_views import SavedViewService
from helpdesk.tickets.services import TicketService
from tests.support.statements import counting

#: The most statements each page may send, the sign-in's own read of the session included.
LIMITS = {
    "/staff/": 6,
    "/staff/tickets?queue=butler&status=open": 5,
    "/staff/tickets?status=any&sort=due&tag=tap": 5,
    "/api/v1/queues": 3,
    "/api/v1/tickets?status=any": 3,
}


def test_lists_send_the_same_few_statements_for_few_and_many_tickets_queues_and_staff(
    client: FlaskClient, login: Callable[..., Person], app: Flask, db_session: Session
) -> None:
    tickets = TicketService(db_session)
    accounts = AccountService(db_session)
    members = AssignmentService(db_session)
    sam = login("sam", "staff")
    queues = [q.slug for q in db_session.query(Queue).order_by(Queue.id)]
    made = 0

    def grow(n_tickets: int, n_staff: int, n_queues: int) -> None:
        nonlocal made
        for i in range(n_queues):
            slug = f"extra-{len(queues)}"
            db_session.add(
                Queue(
                    slug=slug,
                    name=f"Extra {i}",
                    team="extra",
                    covers="more",
                    first_response_hours=4 + i,
                    wip_limit_per_assignee=50,
                    position=100 + len(queues),
                )
            )
            db_session.commit()
            queues.append(slug)
        for _ in range(n_staff):
            login_name = f"helper{made}"
            made += 1
            accounts.create_staff(login_name, Role.STAFF)
            members.add_member(None, queues[made % len(queues)], login_name)
            SavedViewService(db_session).save(
                sam, f"Mine {made}", {"status": "open", "assignee": login_name}, shared=made % 2 == 0
            )
        requester = accounts.sign_in_github(f"delegate-{made}")
        for i in range(n_tickets):
            ticket = tickets.file(
                requester, f"Butler cannot find calexp {i}", "dataset not found", Source.SLACK if i % 2 else Source.WEB
            ).ticket.id
            tickets.update(sam, ticket, {"queue": queues[i % len(queues)], "assignee": "sam" if i % 3 else None})
            if i % 2:
                tickets.add_tags(sam, ticket, ["tap", f"t{i % 7}"])

    def statements() -> dict[str, int]:
        found = {}
        for path in LIMITS:
            assert client.get(path).status_code == 200, path  # warm-up: a first request may record a sign-in
            with counting(app.extensions["helpdesk"].engine, queries_only=True) as seen:
                response = client.get(path)
            assert response.status_code == 200, path
            found[path] = len(seen)
        return found

    members.add_member(None, "butler", "sam")
    grow(5, 1, 0)
    few = statements()
    grow(55, 8, 4)
    many = statements()
    assert many == few, (few, many)
    over = {path: count for path, count in few.items() if count > LIMITS[path]}
    assert not over, f"more statements than the page may send: {over} (limits {LIMITS})"


def test_board_and_list_show_what_the_folded_reads_return(
    client: FlaskClient, login: Callable[..., Person], app: Flask, db_session: Session
) -> None:
    """The board's reference data (staff with their logins, tags, views, queue members) and the list's requester,
    assignee and tags, now read in fewer statements, are still what the page shows."""
    tickets = TicketService(db_session)
    accounts = AccountService(db_session)
    sam = login("sam", "staff")
    accounts.create_staff("rowan", Role.STAFF)
    AssignmentService(db_session).add_member(None, "butler", "sam")
    dana = accounts.sign_in_github("delegate-dana")
    ticket = tickets.file(dana, "Butler cannot find calexp", "dataset not found", Source.WEB).ticket.id
    tickets.update(sam, ticket, {"queue": "butler", "assignee": "sam"})
    tickets.add_tags(sam, ticket, ["tap", "needs-docs"])
    SavedViewService(db_session).save(sam, "Butler open", {"queue": "butler", "status": "open"}, shared=True)

    page = client.get("/staff/").get_data(as_text=True)
    row = page[page.index(f'<tr data-ticket="{ticket}">') :]
    row = row[: row.index("</tr>")]
    assert "delegate-dana" in row and ">sam<" in row
    assert row.index(">needs-docs<") < row.index(">tap<")  # tags by name
    assert '<option value="rowan"' in page and '<option value="sam"' in page
    assert '<option value="needs-docs">' in page  # the tag filter's suggestions
    assert "Butler open" in page and "shared" in page
    assert 'data-room="' in page  # sam's room in butler
    queues = client.get("/api/v1/queues").get_json()["items"]
    butler = next(q for q in queues if q["slug"] == "butler")
    assert butler["members"] == [{"login": "sam", "assigned": 1, "capacity_left": butler["wip_limit_per_assignee"] - 1}]
    assert butler["open_count"] == 1
    listed = client.get("/api/v1/tickets?status=any").get_json()["items"]
    assert [(t["requester"]["login"], t["assignee"]["login"]) for t in listed] == [("delegate-dana", "sam")]
