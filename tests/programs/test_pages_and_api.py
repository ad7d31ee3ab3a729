"""Through HTTP and the command line: the applicant's pages, staff decisions (a decline is confirmed first),
programme settings and the draw in the browser, bulk approval, roster exports, the applications API."""

from __future__ import annotations

import json
from collections.abc import Callable

from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person, Role
from helpdesk.accounts.services import AccountService
from helpdesk.audit import AuditEvent
from helpdesk.cli import cli
from helpdesk.config import Settings
from helpdesk.programs.models import Application, ApplicationStatus, Program, SelectionMode
from helpdesk.programs.services import ProgramService
from tests.conftest import csrf_token_from
from tests.programs.conftest import ALL_CHECKS, apply_all
from tests.support.reading import fresh

S = ApplicationStatus


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def page(client: FlaskClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def test_being_checked_is_not_accepted_and_a_decline_is_explained(
    client: FlaskClient, login: Callable[..., Person], db_session: Session, admin: Person,
) -> None:
    vera = login("vera")
    token = csrf_token_from(page(client, "/signup"))
    client.post("/signup", data={"name": "Vera", "email": "vera@example.edu", "institution": "U",
                                 "data_rights": "y", "program": "dp0", "csrf_token": token})
    status = page(client, "/signup")
    assert "Being checked: a seat is held for you." in status and "not an acceptance yet" in status
    assert "Accepted" not in status
    application = ProgramService(db_session).application_of(vera, "dp0")
    ProgramService(db_session).decide(admin, application.id, "decline", "Your institute is not on the list")
    declined = page(client, "/signup")
    assert "Declined." in declined and "Your institute is not on the list" in declined
    assert "What you can do next" in declined and "Apply again" in declined
    again = page(client, "/signup?program=dp0&again=1")
    assert 'value="Vera"' in again and "<form" in again


def test_staff_decline_is_confirmed_first_then_kept(
    client: FlaskClient, login: Callable[..., Person], make_person: Callable[..., Person], db_session: Session,
) -> None:
    ProgramService(db_session).set_cap(make_person("root", "admin"), "dp0", 31)  # one open seat
    a, b = apply_all(ProgramService(db_session), [make_person("ann"), make_person("bob")], "dp0")
    login("sam", "staff")
    token = csrf_token_from(page(client, "/staff/roster"))
    confirm = client.post(f"/staff/roster/{a.id}", data={"csrf_token": token, "action": "decline"})
    assert confirm.status_code == 200 and "Decline ann?" in confirm.get_data(as_text=True)
    fresh(db_session)
    assert db_session.get(Application, a.id).status is S.PENDING  # nothing yet
    empty = client.post(f"/staff/roster/{a.id}", data={"csrf_token": token, "action": "decline", "confirm": "yes",
                                                     "note": " "})
    assert 'id="note-error"' in empty.get_data(as_text=True)
    done = client.post(f"/staff/roster/{a.id}", data={"csrf_token": token, "action": "decline", "confirm": "yes",
                                                    "note": "No data rights"}, follow_redirects=True)
    text = done.get_data(as_text=True)
    assert "ann: declined." in text and "No data rights" in text  # the closed list keeps it
    fresh(db_session)
    assert db_session.get(Application, b.id).status is S.PENDING  # the freed seat went to bob at once
    trail = page(client, "/staff/programmes/dp0/audit")
    assert "No data rights" in trail and 'data-action="signup.decline"' in trail


def test_admin_edits_a_programme_and_staff_may_not(
    client: FlaskClient, login: Callable[..., Person], make_person: Callable[..., Person], db_session: Session,
) -> None:
    people = [make_person(f"p{i}") for i in range(4)]
    service = ProgramService(db_session)
    service.set_cap(make_person("boss", "admin"), "dp0", 32)  # two open seats
    apps = apply_all(service, people, "dp0")
    login("sam", "staff")
    token = csrf_token_from(page(client, "/staff/programmes/dp0"))
    assert client.post("/staff/programmes/dp0", data={"csrf_token": token, "name": "x", "cap": 99}).status_code == 403
    client.post("/auth/logout", data={"csrf_token": token})
    login("root", "admin")
    overview = page(client, "/staff/programmes/dp0")
    assert "<svg" in overview and 'data-series="held"' in overview and 'data-meter="waitlisted">2<' in overview
    token = csrf_token_from(overview)
    form = {"csrf_token": token, "name": "DP0 delegates", "cap": "33", "selection": "fcfs",
            "opens_at": "", "closes_at": "", "groups": "", "pools": "collaborations | Science Collaborations | 25\n"
                                                                   "plus-ones | Plus ones | 5"}
    bad = client.post("/staff/programmes/dp0", data={**form, "pools": "collab | no seats"})
    assert bad.status_code == 422 and "slug | name | seats" in bad.get_data(as_text=True)
    saved = client.post("/staff/programmes/dp0", data=form, follow_redirects=True)
    assert "DP0 delegates saved: cap 33" in saved.get_data(as_text=True)
    fresh(db_session)
    assert [db_session.get(Application, a.id).status for a in apps] == [S.PENDING, S.PENDING, S.PENDING, S.WAITLISTED]
    program = db_session.scalar(select(Program).where(Program.slug == "dp0"))
    assert [(p.slug, p.seats) for p in program.pools] == [("collaborations", 25), ("plus-ones", 5)]
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "signup.programme_changed"))
    assert event.data["cap"] == [32, 33] and event.data["promoted"] == [apps[2].id]
    window = client.post("/staff/programmes/dp0", data={**form, "opens_at": "2027-01-02T00:00",
                                                        "closes_at": "2027-01-01T00:00"})
    assert window.status_code == 422 and "close after it opens" in window.get_data(as_text=True)


def test_lottery_drawn_from_the_button_and_replayed_at_the_command_line(
    client: FlaskClient, login: Callable[..., Person], make_person: Callable[..., Person], db_session: Session,
    make_program: Callable[..., Program], settings: Settings,
) -> None:
    make_program("draw", cap=2, pools={}, selection=SelectionMode.LOTTERY, groups={"general": 1, "students": 2})
    apply_all(ProgramService(db_session), [make_person(f"e{i}") for i in range(5)], "draw")
    login("root", "admin")
    overview = page(client, "/staff/programmes/draw")
    assert "5 entries wait" in overview
    drawn = client.post("/staff/programmes/draw/draw", data={"csrf_token": csrf_token_from(overview), "seed": "42"},
                        follow_redirects=True).get_data(as_text=True)
    assert "Drawn with seed 42: 2 seats held, 3 on the waitlist" in drawn and "<code data-seed>42</code>" in drawn
    env = {"HELPDESK_ENV": "testing", "HELPDESK_DATABASE_URL": settings.database_url}
    result = CliRunner().invoke(cli, ["programs", "replay", "draw"], env=env)
    assert result.exit_code == 0, result.output
    assert "seed=42 entries=5" in result.output and "gives the recorded order" in result.output
    again = CliRunner().invoke(cli, ["programs", "draw", "draw", "--seed", "1"], env=env)
    assert again.exit_code == 1 and "run once" in again.output
    fresh(db_session)
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "signup.draw"))
    event.data = {**event.data, "seed": 43}  # someone alters the record
    db_session.commit()
    altered = CliRunner().invoke(cli, ["programs", "replay", "draw"], env=env)
    assert altered.exit_code == 1 and "differs" in altered.output


def test_command_line_draw(make_person: Callable[..., Person], db_session: Session,
                           make_program: Callable[..., Program], settings: Settings) -> None:
    make_program("cli", cap=3, pools={}, selection=SelectionMode.LOTTERY)
    apply_all(ProgramService(db_session), [make_person(f"c{i}") for i in range(4)], "cli")
    env = {"HELPDESK_ENV": "testing", "HELPDESK_DATABASE_URL": settings.database_url}
    result = CliRunner().invoke(cli, ["programs", "draw", "cli", "--seed", "7"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "seed=7 entries=4 seats=3 waitlisted=1"


def test_applications_list_filters_and_bulk_approve(
    client: FlaskClient, login: Callable[..., Person], make_person: Callable[..., Person], db_session: Session,
) -> None:
    apps = apply_all(ProgramService(db_session), [make_person(n) for n in ("ann", "bob", "cyd")], "dp0")
    login("sam", "staff")
    listing = page(client, "/staff/programmes/dp0/applications?status=pending&q=bo")
    assert f'data-application="{apps[1].id}"' in listing and f'data-application="{apps[0].id}"' not in listing
    token = csrf_token_from(listing)
    unconfirmed = client.post("/staff/programmes/dp0/applications/approve",
                              data={"csrf_token": token, "ids": [apps[0].id, apps[1].id]}, follow_redirects=True)
    assert "Confirm that you checked" in unconfirmed.get_data(as_text=True)
    done = client.post("/staff/programmes/dp0/applications/approve",
                       data={"csrf_token": token, "ids": [apps[0].id, apps[1].id], "checked": "y"},
                       follow_redirects=True)
    assert "2 approved: ann, bob." in done.get_data(as_text=True)
    fresh(db_session)
    assert [db_session.get(Application, a.id).status for a in apps] == [S.ACTIVE, S.ACTIVE, S.PENDING]
    exported = client.get("/staff/programmes/dp0/delegates.json").get_json()
    assert [item["login"] for item in exported["items"]] == ["ann", "bob"]
    assert exported["items"][0]["checks"] == dict.fromkeys(ALL_CHECKS, True)
    csv_text = client.get("/staff/programmes/dp0/delegates.csv").get_data(as_text=True)
    assert csv_text.splitlines()[0].startswith("status,name,email") and len(csv_text.splitlines()) == 3
    assert "cyd" not in csv_text
    waitlist = page(client, "/staff/programmes/dp0/waitlist")
    assert "Nobody is waiting." in waitlist


class TestApi:
    def test_list_filter_page_and_decide(self, client: FlaskClient, staff_token: str,
                                         make_person: Callable[..., Person], db_session: Session) -> None:
        apps = apply_all(ProgramService(db_session), [make_person(f"api-{i}") for i in range(5)], "dp0")
        first = client.get("/api/v1/programs/dp0/applications?status=pending&limit=2", headers=auth(staff_token))
        body = first.get_json()
        assert [i["id"] for i in body["items"]] == [apps[0].id, apps[1].id] and body["next_cursor"]
        assert body["items"][0]["status"] == "pending" and body["items"][0]["status_label"] == "being checked"
        rest = client.get(f"/api/v1/programs/dp0/applications?cursor={body['next_cursor']}",
                          headers=auth(staff_token)).get_json()
        assert [i["id"] for i in rest["items"]] == [a.id for a in apps[2:]] and rest["next_cursor"] is None
        assert client.get("/api/v1/programs/dp0/applications?q=api-3", headers=auth(staff_token)).get_json()[
            "items"][0]["id"] == apps[3].id
        incomplete = client.post(f"/api/v1/applications/{apps[0].id}/approve", json={}, headers=auth(staff_token))
        assert incomplete.status_code == 409 and incomplete.get_json()["error"]["code"] == "checks_incomplete"
        approved = client.post(f"/api/v1/applications/{apps[0].id}/approve", json={"checks": ALL_CHECKS},
                               headers=auth(staff_token))
        assert approved.status_code == 200 and approved.get_json()["status"] == "active"
        no_reason = client.post(f"/api/v1/applications/{apps[1].id}/decline", json={}, headers=auth(staff_token))
        assert no_reason.status_code == 422
        declined = client.post(f"/api/v1/applications/{apps[1].id}/decline", json={"reason": "Not a holder"},
                               headers=auth(staff_token)).get_json()
        assert (declined["status"], declined["reason"]) == ("declined", "Not a holder")
        reclaimed = client.post(f"/api/v1/applications/{apps[0].id}/reclaim", json={"reason": "Idle"},
                                headers=auth(staff_token)).get_json()
        assert reclaimed["status"] == "reclaimed"
        again = client.post(f"/api/v1/applications/{apps[0].id}/reclaim", json={"reason": "Idle"},
                            headers=auth(staff_token))
        assert again.status_code == 409
        assert client.get("/api/v1/applications/999999", headers=auth(staff_token)).status_code == 404
        assert client.get("/api/v1/programs/dp0/applications?status=nope", headers=auth(staff_token)).status_code == 422
        assert client.get("/api/v1/programs/dp0/applications?cursor=x", headers=auth(staff_token)).status_code == 422

    def test_staff_who_are_not_admins_get_403(self, client: FlaskClient, db_session: Session,
                                              make_person: Callable[..., Person]) -> None:
        (app,) = apply_all(ProgramService(db_session), [make_person("x")], "dp0")
        _, token = AccountService(db_session).create_staff("helper", Role.STAFF, with_token=True)
        for method, url, body in (("get", "/api/v1/programs/dp0/applications", None),
                                  ("post", f"/api/v1/applications/{app.id}/approve", {"checks": ALL_CHECKS})):
            response = getattr(client, method)(url, json=body, headers=auth(token or ""))
            assert response.status_code == 403, url
            assert "administrators" in response.get_json()["error"]["message"]
        assert json.loads(client.get("/openapi.json").get_data())["paths"]["/applications/{application_id}/decline"]
