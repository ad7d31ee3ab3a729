"""Seat use over time: rebuilt from every application's history and the cap changes, drawn as inline SVG."""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person
from helpdesk.programs.chart import seat_chart
from helpdesk.programs.models import Program, SelectionMode
from helpdesk.programs.services import ProgramService
from tests.conftest import csrf_token_from
from tests.programs.conftest import ALL_CHECKS, apply_all
from tests.support.clock import Clock


def test_points_follow_every_change(service: ProgramService, clock: Clock, make_program: Callable[..., Program],
                                    people: list[Person], admin: Person) -> None:
    make_program(cap=2, pools={})
    first, second, third = apply_all(service, people[:3])
    clock.advance(60)
    service.decide(admin, first.id, "approve", checks=ALL_CHECKS)
    clock.advance(60)
    service.decide(admin, second.id, "decline", "no data rights")  # third moves up
    points = service.seat_history("small")
    assert [(p.held, p.active, p.waitlisted) for p in points] == [
        (1, 0, 0), (2, 0, 0), (2, 0, 1), (2, 1, 1), (1, 1, 1), (2, 1, 0)]
    assert {p.cap for p in points} == {2}
    service.set_cap(admin, "small", 5)
    assert service.seat_history("small")[-1].cap == 5
    svg = str(seat_chart(service.seat_history("small"), clock()))
    assert svg.startswith("<svg") and svg.count("<polyline") == 4
    assert "now 2 seats held (1 active) of a cap of 5, 0 waiting" in svg
    assert "nothing to chart" in str(seat_chart([], clock()))


def test_a_lottery_offers_its_groups_on_the_form(client: FlaskClient, login: Callable[..., Person],
                                                 make_program: Callable[..., Program], db_session: Session) -> None:
    make_program("draw", cap=3, pools={}, selection=SelectionMode.LOTTERY, groups={"general": 1, "students": 2})
    vera = login("vera")
    form_page = client.get("/signup?program=draw").get_data(as_text=True)
    assert 'name="group"' in form_page and ">Students</option>" in form_page and "entered in a draw" in form_page
    response = client.post("/signup", data={"name": "Vera", "email": "vera@example.edu", "institution": "U",
                                            "data_rights": "y", "program": "draw", "group": "students",
                                            "csrf_token": csrf_token_from(form_page)}, follow_redirects=True)
    assert "Entered in the draw." in response.get_data(as_text=True)
    assert ProgramService(db_session).application_of(vera, "draw").group == "students"
    bad = client.post("/signup", data={"name": "Vera", "email": "v@example.edu", "institution": "U",
                                       "data_rights": "y", "program": "dp0", "group": "students",
                                       "csrf_token": csrf_token_from(form_page)})
    assert bad.status_code == 302  # dp0 has no groups: the field is ignored there
