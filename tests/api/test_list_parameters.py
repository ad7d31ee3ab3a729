"""GET /api/v1/tickets with q, assignee, priority, sort, tag and sla: the filters, pages both ways, counts,
and a 422 naming the parameter for every value it does not take."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Role
from helpdesk.accounts.services import AccountService
from helpdesk.api.openapi import build_openapi
from helpdesk.tickets.models import Source
from helpdesk.tickets.services import TicketService


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def filed(db_session: Session, staff_token: str) -> dict[str, int]:
    accounts = AccountService(db_session)
    alice = accounts.find_by_login("alice")
    dana = accounts.sign_in_github("delegate-dana")
    tickets = TicketService(db_session)
    tap = tickets.file(dana, "TAP query times out", "ADQL on the Object table", Source.WEB).ticket.id
    butler = tickets.file(dana, "Butler calexp missing", "butler.get fails", Source.WEB).ticket.id
    other = tickets.file(dana, "Portal login", "Cannot sign in", Source.API).ticket.id
    tickets.update(alice, butler, {"queue": "butler", "assignee": "alice", "priority": "urgent"})
    tickets.reply(dana, tap, "It mentions qserv in the error")
    tickets.set_tags(alice, other, ["accounts"])
    return {"tap": tap, "butler": butler, "other": other}


def ids(response) -> list[int]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.get_json()
    return [t["id"] for t in response.get_json()["items"]]


def test_filters_search_and_sorts(client: FlaskClient, staff_token: str, filed: dict[str, int]) -> None:
    def get(query: str) -> list[int]:
        return ids(client.get(f"/api/v1/tickets?{query}", headers=auth(staff_token)))

    tap, butler, other = filed["tap"], filed["butler"], filed["other"]
    assert get("") == [other, butler, tap]
    assert get("q=qserv") == [tap]
    assert get("q=butler+calexp") == [butler]
    assert get("assignee=me") == [butler]
    assert get("assignee=alice") == [butler]
    assert get("assignee=none") == [other, tap]
    assert get("priority=urgent") == [butler]
    assert get("priority=urgent,normal&sort=oldest") == [tap, butler, other]
    assert get("sort=updated")[0] == other  # tagged last
    assert get("sort=due")[0] == butler  # the only one with a due time
    assert get("tag=accounts") == [other]
    assert get("sla=on_time") == [butler]
    assert get("queue=unsorted&status=new") == [other, tap]
    body = client.get("/api/v1/tickets?q=qserv", headers=auth(staff_token)).get_json()
    assert (body["count"], body["count_capped"], body["next_cursor"], body["prev_cursor"]) == (1, False, None, None)


def test_pages_both_ways(client: FlaskClient, staff_token: str, filed: dict[str, int]) -> None:
    first = client.get("/api/v1/tickets?limit=2&sort=oldest", headers=auth(staff_token)).get_json()
    assert [t["id"] for t in first["items"]] == [filed["tap"], filed["butler"]] and first["prev_cursor"] is None
    second = client.get(f"/api/v1/tickets?limit=2&sort=oldest&cursor={first['next_cursor']}",
                        headers=auth(staff_token)).get_json()
    assert [t["id"] for t in second["items"]] == [filed["other"]] and second["next_cursor"] is None
    back = client.get(f"/api/v1/tickets?limit=2&sort=oldest&cursor={second['prev_cursor']}",
                      headers=auth(staff_token)).get_json()
    assert back["items"] == first["items"] and back["count"] == 3
    wrong_sort = client.get(f"/api/v1/tickets?limit=2&cursor={first['next_cursor']}", headers=auth(staff_token))
    assert wrong_sort.status_code == 422
    assert wrong_sort.get_json()["error"]["details"][0]["field"] == "cursor"


@pytest.mark.parametrize(("query", "parameter"), [
    ("sort=relevance", "sort"), ("priority=huge", "priority"), ("assignee=nobody-at-all", "assignee"),
    ("assignee=delegate-dana", "assignee"), ("assignee=no%20such", "assignee"), ("sla=late", "sla"),
    ("status=done", "status"), ("tag=a/b", "tag"), ("q=" + "x" * 501, "q"), ("queue=nope", "queue"),
    ("source=fax", "source"), ("limit=x", "limit"), ("limit=0", "limit"), ("cursor=abc", "cursor"),
])
def test_unknown_values_are_422_naming_the_parameter(client: FlaskClient, staff_token: str, filed: dict[str, int],
                                                     query: str, parameter: str) -> None:
    response = client.get(f"/api/v1/tickets?{query}", headers=auth(staff_token))
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid" and error["details"][0]["field"] == parameter, error


@pytest.mark.parametrize("text", ['"', "a OR", "-", "(x", "x:y", "'; drop table ticket; --", "*", "NEAR(a b)"])
def test_hostile_search_text_is_an_ordinary_answer(client: FlaskClient, staff_token: str, filed: dict[str, int],
                                                   text: str) -> None:
    response = client.get("/api/v1/tickets", query_string={"q": text}, headers=auth(staff_token))
    assert response.status_code == 200


def test_staff_search_internal_notes_too(client: FlaskClient, db_session: Session, staff_token: str,
                                                   filed: dict[str, int]) -> None:
    accounts = AccountService(db_session)
    from helpdesk.tickets.models import Visibility

    TicketService(db_session).reply(accounts.find_by_login("alice"), filed["tap"], "secret qserv-outage note",
                                    Visibility.INTERNAL)
    _, token = accounts.create_staff("bob", Role.STAFF, with_token=True)
    assert ids(client.get("/api/v1/tickets?q=outage", headers=auth(token))) == [filed["tap"]]


def test_every_list_parameter_is_documented() -> None:
    operation = build_openapi()["paths"]["/tickets"]["get"]
    names = {p["name"]: p for p in operation["parameters"]}
    assert {"q", "assignee", "priority", "sort", "tag", "sla", "cursor"} <= set(names)
    assert names["sort"]["schema"]["enum"] == ["newest", "oldest", "updated", "due"]
    assert all(p.get("description") for name, p in names.items() if name not in ("source", "limit"))
    page = build_openapi()["components"]["schemas"]["TicketPage"]
    assert {"prev_cursor", "count", "count_capped"} <= set(page["required"])
