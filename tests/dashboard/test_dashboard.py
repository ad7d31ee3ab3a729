"""The staff dashboard: the numbers of each chart from real tickets, bounded queries, CSV, SVG, staff only."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from helpdesk import audit
from helpdesk.accounts.models import Person
from helpdesk.exceptions import InvalidInputError
from helpdesk.programs.services import ApplicationForm, ProgramService
from helpdesk.tickets.models import Source, Status, Ticket, Visibility
from helpdesk.tickets.reporting import Period, ReportingService
from helpdesk.tickets.services import TicketService
from tests.tickets.support import Clock

DAY1 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def rows(client: FlaskClient, chart: str, query: str = "?from=2026-11-20&to=2026-11-22") -> list[dict[str, str]]:
    response = client.get(f"/staff/dashboard/{chart}.csv{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv" and response.headers["Content-Disposition"].startswith("attachment")
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


@pytest.fixture
def desk(app: Flask, make_person: Callable[..., Person]) -> Iterator[dict[str, object]]:
    """Four tickets over three days: answered on time, answered late, self-served, never answered."""
    staff, ana, bob = make_person("sam", "staff"), make_person("ana"), make_person("bob")
    session = app.extensions["helpdesk"].session_factory()
    clock = Clock(DAY1)
    service = TicketService(session, clock)
    staff, ana, bob = (session.get(Person, p.id) for p in (staff, ana, bob))
    t1 = service.file(ana, "Butler", "q1", Source.WEB, queue_slug="butler").ticket.id  # due in its queue
    clock.advance(hours=1)
    service.reply(staff, t1, "answer", Visibility.PUBLIC)            # on time
    service.update(staff, t1, {"status": Status.RESOLVED})            # out on day 1
    t2 = service.file(bob, "TAP", "q2", Source.WEB, queue_slug="butler").ticket.id
    clock.advance(days=1, hours=2)                                    # day 2, 12:00: t2 is 26 h old, late
    service.reply(staff, t2, "late answer", Visibility.PUBLIC)
    t3 = service.file(ana, "Portal", "q3", Source.WEB).ticket.id     # unsorted, self-served
    service.resolve_self_served(t3, via="web", requester=ana)
    corrected = audit.record(session, "triage.corrected", actor_id=staff.id, ticket_id=t2,
                             corrected=["general", "butler"])
    corrected.created_at = clock.now  # as the triage view records it, on the test's day
    session.commit()
    clock.advance(days=1)                                             # day 3
    t4 = service.file(bob, "Never", "q4", Source.WEB, queue_slug="butler").ticket.id
    ProgramService(session, clock).apply(ana, "dp0", ApplicationForm(name="Ana", email="ana@example.edu",
                                                                      institution="U", data_rights=True))
    targets = {t: session.get(Ticket, t).first_response_due_at for t in (t1, t2, t4)}
    session.close()
    yield {"tickets": (t1, t2, t3, t4), "due": targets, "now": clock}


def test_numbers_of_every_chart(client: FlaskClient, login: Callable[..., Person], desk: dict, app: Flask,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    login("sam", "staff")
    flow = rows(client, "flow")
    assert {(r["day"], r["queue"], r["in"], r["out"]) for r in flow} == {
        ("2026-11-20", "butler", "2", "1"), ("2026-11-21", "unsorted", "1", "1"),
        ("2026-11-22", "butler", "1", "0")}
    (access,) = [r for r in rows(client, "first_response") if r["queue"] == "butler"]
    assert access["filed"] == "3" and access["answered"] == "2" and access["within_target"] == "1"
    assert float(access["mean_hours"]) == pytest.approx((1 + 26) / 2)
    assert access["within_target_percent"] == "50.0"
    served = {r["day"]: (r["filed"], r["self_served"]) for r in rows(client, "self_served")}
    assert served == {"2026-11-20": ("2", "0"), "2026-11-21": ("1", "1"), "2026-11-22": ("1", "0")}
    triage = {r["day"]: (r["filed"], r["corrected"]) for r in rows(client, "triage")}
    assert triage["2026-11-21"] == ("1", "1") and triage["2026-11-20"] == ("2", "0")
    (dp0,) = [r for r in rows(client, "seats") if r["programme"] == "dp0"]
    assert int(dp0["in_use"]) == int(dp0["active"]) + int(dp0["pending"]) == 1


def test_breaches_count_late_and_unanswered_first_responses(app: Flask, desk: dict) -> None:
    t1, t2, _, t4 = desk["tickets"]
    session = app.extensions["helpdesk"].session_factory()
    first, last = min(desk["due"].values()).date(), max(desk["due"].values()).date()
    later = desk["now"].now + timedelta(days=5)
    table = ReportingService(session, clock=lambda: later).breaches(Period(first, last + timedelta(days=1)))
    assert sum(r[2] for r in table.rows) == 2                      # t2 late, t4 never answered
    assert sum(r[3] for r in table.rows) == 1                      # only t4 still unanswered
    before = ReportingService(session, clock=lambda: desk["now"].now).breaches(Period(first, last))
    assert sum(r[3] for r in before.rows) == 0                     # t4 not yet due: no breach yet
    session.close()


def test_each_chart_is_one_bounded_statement(app: Flask, client: FlaskClient, login: Callable[..., Person],
                                             desk: dict) -> None:
    login("sam", "staff")
    statements: list[str] = []
    engine = app.extensions["helpdesk"].engine

    def count(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        for chart in ("flow", "first_response", "breaches", "self_served", "triage", "seats"):
            before = len(statements)
            rows(client, chart)
            aggregate = [s for s in statements[before:] if "count(" in s.lower() or "sum(" in s.lower()]
            assert len(aggregate) == 1, (chart, aggregate)
            assert "GROUP BY" in aggregate[0].upper()
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_page_draws_accessible_charts_and_links_the_csv(client: FlaskClient, login: Callable[..., Person],
                                                        desk: dict) -> None:
    login("sam", "staff")
    page = client.get("/staff/dashboard?from=2026-11-20&to=2026-11-22")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for chart in ("flow", "first_response", "breaches", "self_served", "triage", "seats"):
        assert f'href="/staff/dashboard/{chart}.csv?from=2026-11-20&amp;to=2026-11-22"' in html
    assert html.count('role="img"') == 6 and html.count("<title id=") == 6 and html.count("<desc id=") == 6
    assert "4 tickets filed and 2 resolved" in html        # the flow chart's description says the totals
    assert "<script" not in html.split("<main", 1)[1].split("</main>", 1)[0]
    assert 'href="/staff/dashboard">Dashboard</a>' in html  # in the staff navigation


def test_bad_days_are_422_and_staff_only(client: FlaskClient, login: Callable[..., Person]) -> None:
    login("ana")
    assert client.get("/staff/dashboard").status_code == 403
    assert client.get("/staff/dashboard/flow.csv").status_code == 403
    login("sam", "staff")
    page = client.get("/staff/dashboard?from=2026-13-01")
    assert page.status_code == 422 and 'aria-describedby="range-error"' in page.get_data(as_text=True)
    assert client.get("/staff/dashboard/flow.csv?from=2026-12-02&to=2026-12-01").status_code == 422
    assert client.get("/staff/dashboard/flow.csv?from=2024-01-01&to=2026-12-01").status_code == 422
    assert client.get("/staff/dashboard/nothing.csv").status_code == 404


def test_period_defaults_to_the_last_30_days() -> None:
    period = Period.parse(None, None, date(2026, 12, 1))
    assert (period.first, period.last) == (date(2026, 11, 2), date(2026, 12, 1)) and len(period.days()) == 30
    with pytest.raises(InvalidInputError):
        Period.parse("yesterday", None, date(2026, 12, 1))
