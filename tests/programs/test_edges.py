"""What staff and the worker meet when something is off: unreadable forms, refused changes, a draw pressed
twice, notices that cannot be sent; nothing half-written, always a clear message."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person
from helpdesk.programs.models import Application, ApplicationStatus, Program, SelectionMode
from helpdesk.programs.services import ProgramService
from helpdesk.tickets.models import OutboxItem, OutboxKind, OutboxStatus
from helpdesk.tickets.services import outbox_insert
from helpdesk.worker import OutboxWorker
from tests.conftest import csrf_token_from
from tests.programs.conftest import apply_all
from tests.support.clock import Clock
from tests.support.reading import fresh

BASE = {"name": "DP0", "cap": "600", "selection": "fcfs", "opens_at": "", "closes_at": "", "groups": "",
        "pools": "reserved | Reserved | 30"}


def test_settings_form_refusals_say_what_is_wrong(client: FlaskClient, login: Callable[..., Person],
                                                  db_session: Session, make_person: Callable[..., Person]) -> None:
    login("root", "admin")
    token = csrf_token_from(client.get("/staff/programmes/dp0").get_data(as_text=True))
    cases = [
        ({"cap": ""}, 400, "Give the cap."),
        ({"groups": "general"}, 422, "Line 1: write it as key = weight."),
        ({"groups": "General = 1"}, 422, "lower-case letters"),
        ({"groups": "general = 0"}, 422, "a weight is a number above 0"),
        ({"cap": "10"}, 422, "more than the cap of 10"),
    ]
    for change, status, message in cases:
        response = client.post("/staff/programmes/dp0", data={**BASE, **change, "csrf_token": token})
        assert response.status_code == status, change
        assert message in response.get_data(as_text=True), change
    apply_all(ProgramService(db_session), [make_person("in-draw")], "dp0")
    program = db_session.scalar(select(Program).where(Program.slug == "dp0"))
    assert program.cap == 600  # nothing half-written
    listing = client.get("/staff/programmes").get_data(as_text=True)
    assert "Data Preview 0 delegates" in listing and "first come, first served" in listing


def test_draw_button_refusals(client: FlaskClient, login: Callable[..., Person]) -> None:
    login("root", "admin")
    token = csrf_token_from(client.get("/staff/programmes/dp0").get_data(as_text=True))
    bad = client.post("/staff/programmes/dp0/draw", data={"csrf_token": token, "seed": "-5"}, follow_redirects=True)
    assert "The seed must be a whole number" in bad.get_data(as_text=True)
    not_lottery = client.post("/staff/programmes/dp0/draw", data={"csrf_token": token}, follow_redirects=True)
    assert "first come, first served; no draw" in not_lottery.get_data(as_text=True)


def test_the_selection_mode_waits_for_entries_to_be_drawn(
    client: FlaskClient, login: Callable[..., Person], db_session: Session, make_person: Callable[..., Person],
    make_program: Callable[..., Program],
) -> None:
    make_program("lot", cap=3, pools={}, selection=SelectionMode.LOTTERY)
    apply_all(ProgramService(db_session), [make_person("e1")], "lot")
    login("root", "admin")
    page = client.get("/staff/programmes/lot").get_data(as_text=True)
    response = client.post("/staff/programmes/lot", data={**BASE, "name": "Lot", "cap": "3", "pools": "",
                                                          "csrf_token": csrf_token_from(page)})
    assert response.status_code == 409 and "run it before changing the selection mode" in response.get_data(
        as_text=True)


def test_bulk_approve_needs_a_selection_and_reports_refusals(
    client: FlaskClient, login: Callable[..., Person], db_session: Session, make_person: Callable[..., Person],
) -> None:
    apps = apply_all(ProgramService(db_session), [make_person("ann"), make_person("bob")], "dp0")
    login("sam", "staff")
    token = csrf_token_from(client.get("/staff/programmes/dp0/applications").get_data(as_text=True))
    none = client.post("/staff/programmes/dp0/applications/approve", data={"csrf_token": token, "checked": "y"},
                       follow_redirects=True)
    assert "Select at least one application" in none.get_data(as_text=True)
    ProgramService(db_session).decide(make_person("root", "admin"), apps[1].id, "withdraw")
    mixed = client.post("/staff/programmes/dp0/applications/approve",
                        data={"csrf_token": token, "checked": "y", "ids": [apps[0].id, apps[1].id]},
                        follow_redirects=True).get_data(as_text=True)
    assert "1 approved: ann." in mixed and f"#{apps[1].id}: Cannot approve an application that is withdrawn." in mixed


def test_reasons_and_admissions_from_the_roster(
    client: FlaskClient, login: Callable[..., Person], db_session: Session, make_person: Callable[..., Person],
) -> None:
    service = ProgramService(db_session)
    service.set_cap(make_person("root", "admin"), "dp0", 31)
    first, waiting = apply_all(service, [make_person("ann"), make_person("bob")], "dp0")
    login("sam", "staff")
    roster = client.get("/staff/roster?program=dp0").get_data(as_text=True)
    assert "Admit on a reserved seat" in roster
    token = csrf_token_from(roster)
    admitted = client.post(f"/staff/roster/{waiting.id}", data={"csrf_token": token, "action": "admit",
                                                                "pool": "reserved", "back": "/staff/roster"},
                           follow_redirects=True)
    assert "bob: being checked." in admitted.get_data(as_text=True)
    checked = client.post(f"/staff/roster/{first.id}", data={"csrf_token": token, "action": "checks",
                                                             "checks": ["identity"]}, follow_redirects=True)
    assert "ann: checklist saved." in checked.get_data(as_text=True)
    fresh(db_session)
    assert db_session.get(Application, first.id).checks == {"identity": True, "rights_list": False, "email": False}
    assert db_session.get(Application, waiting.id).status is ApplicationStatus.PENDING
    reclaim = client.post(f"/staff/roster/{first.id}", data={"csrf_token": token, "action": "reclaim",
                                                             "confirm": "yes", "note": "idle"}, follow_redirects=True)
    assert "Cannot reclaim an application that is being checked." in reclaim.get_data(as_text=True)
    audit = client.get("/staff/programmes/dp0/audit").get_data(as_text=True)
    assert "<td>sam</td>" in audit and "<td>root</td>" in audit


def test_notices_that_cannot_be_sent_are_buried_with_a_reason(app: Flask, db_session: Session) -> None:
    clock = Clock()
    for key, channel, payload in (("a", "email", {"application_id": 999, "to": "x@example.edu", "text": "t"}),
                                  ("b", "email", {"to": "", "text": ""})):
        db_session.execute(outbox_insert(OutboxKind.PROGRAMME_NOTICE, channel, f"test:{key}", clock(),
                                         payload=payload))
    db_session.commit()
    worker = OutboxWorker(app.extensions["helpdesk"].session_factory, app.extensions["helpdesk"].settings,
                          clock=clock, rng=lambda: 0.5)
    stats = worker.run_once()
    assert stats.dead == 2 and stats.delivered == 0
    fresh(db_session)
    errors = sorted(i.last_error for i in db_session.scalars(select(OutboxItem)))
    assert "Email is not configured" in errors[0] and "names nobody" in errors[1]
    assert {i.status for i in db_session.scalars(select(OutboxItem))} == {OutboxStatus.DEAD}
