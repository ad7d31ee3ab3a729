"""The board, the queue summaries and the ticket page send a bounded number of SQL statements, the same for 3
tickets as for 30 (no query per row or per candidate), and the ticket page scores possible duplicates once."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person
from helpdesk.accounts.services import AccountService
from helpdesk.tickets import duplicates
from helpdesk.tickets.models import Source, Ticket, Visibility
from helpdesk.tickets.services import TicketService
from tests.support.statements import counting


def test_board_queues_and_ticket_page_statements_do_not_grow_with_tickets(
        client: FlaskClient, login: Callable[..., Person], app: Flask, db_session: Session,
        staff_token: str) -> None:
    tickets = TicketService(db_session)
    dana = AccountService(db_session).sign_in_github("delegate-dana")
    sam = login("sam", "staff")
    target = tickets.file(dana, "TAP query times out on the Object table", "The TAP service times out.",
                          Source.WEB).ticket.id

    def fill(n: int) -> None:
        for i in range(n):
            ticket = tickets.file(dana, f"TAP query times out {i}", "The TAP service times out again.",
                                  Source.SLACK if i % 2 else Source.WEB).ticket.id
            tickets.update(sam, ticket, {"queue": "catalogs" if i % 2 else "butler", "priority": "high",
                                         "assignee": "sam" if i % 3 else None})
            tickets.reply(sam, ticket, f"Looking at it {i}", Visibility.PUBLIC)

    def statements(path: str, **kwargs: object) -> int:
        with counting(app.extensions["helpdesk"].engine) as seen:
            assert client.get(path, **kwargs).status_code == 200
        return len(seen)

    headers = {"Authorization": f"Bearer {staff_token}"}
    paths = ["/staff/", f"/staff/tickets/{target}"]
    fill(3)
    statements(paths[1])  # the first view scores and stores the duplicates
    statements("/api/v1/queues", headers=headers)  # the token's first use is recorded once
    few = [statements(p) for p in paths] + [statements("/api/v1/queues", headers=headers)]
    fill(27)
    statements(paths[1])  # tickets were filed since, but the stored result is fresh: no new scoring
    many = [statements(p) for p in paths] + [statements("/api/v1/queues", headers=headers)]
    assert many == few
    assert max(few) <= 30, few


def test_ticket_page_scores_duplicates_once_and_again_when_stale(
        client: FlaskClient, login: Callable[..., Person], app: Flask, db_session: Session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    tickets = TicketService(db_session)
    dana = AccountService(db_session).sign_in_github("delegate-dana")
    lee = AccountService(db_session).sign_in_github("delegate-lee")
    login("sam", "staff")
    first = tickets.file(dana, "Butler cannot find calexp in dp02", "butler.get calexp fails: dataset not found",
                         Source.WEB).ticket.id
    twin = tickets.file(lee, "Butler can't find the calexp in dp02", "calexp dataset not found by butler.get",
                        Source.SLACK).ticket.id
    tickets.file(lee, "Portal login loops", "The portal sends me back to the login page", Source.WEB)
    scored: list[int] = []
    real = duplicates.similarities

    def spy(target: str, others: list[str]) -> list[float]:
        scored.append(len(others))
        return real(target, others)

    monkeypatch.setattr(duplicates, "similarities", spy)
    page = client.get(f"/staff/tickets/{first}").get_data(as_text=True)
    assert f'data-duplicate="{twin}"' in page
    assert scored == [2]
    stored = db_session.scalar(select(Ticket.duplicates).where(Ticket.id == first))
    assert stored["found"][0][0] == twin and stored["upto"] == first + 2
    page = client.get(f"/staff/tickets/{first}").get_data(as_text=True)
    assert f'data-duplicate="{twin}"' in page and scored == [2]  # read back, not scored again

    # Stale: ten minutes later with a ticket filed since, the next view compares again and finds it.
    third = tickets.file(lee, "Butler does not find calexp in dp02", "butler.get calexp: dataset not found",
                         Source.WEB).ticket.id
    stored = {**stored, "at": "2000-01-01T00:00:00+00:00"}
    db_session.execute(Ticket.__table__.update().where(Ticket.id == first).values(duplicates=stored))
    db_session.commit()
    page = client.get(f"/staff/tickets/{first}").get_data(as_text=True)
    assert scored == [2, 3] and f'data-duplicate="{third}"' in page
