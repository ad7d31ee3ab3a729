"""The JSON API as a client sees it: auth, filing, idempotency, bad input, paging, changes."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person
from helpdesk.tickets.models import InboundDelivery, Message, Ticket


def auth(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


def ticket_count(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Ticket)) or 0


def file(client: FlaskClient, token: str, **body: object):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/tickets", json=body or {"subject": "TAP timeout", "body": "Details"},
                       headers=auth(token))


def test_token_lists_tickets(client: FlaskClient, staff_token: str) -> None:
    assert file(client, staff_token).status_code == 201
    response = client.get("/api/v1/tickets", headers=auth(staff_token))
    assert response.status_code == 200
    data = response.get_json()
    assert [t["subject"] for t in data["items"]] == ["TAP timeout"]
    assert data["next_cursor"] is None


def test_ticket_json_has_the_documented_fields(client: FlaskClient, staff_token: str) -> None:
    created = file(client, staff_token)
    assert created.status_code == 201
    assert created.headers["Location"] == f"/api/v1/tickets/{created.get_json()['id']}"
    ticket = client.get(created.headers["Location"], headers=auth(staff_token)).get_json()
    for field in ("id", "subject", "body", "source", "queue", "status", "priority", "requester", "assignee",
                  "external", "created_at", "updated_at", "messages"):
        assert field in ticket
    assert ticket["source"] == "api" and ticket["status"] == "new" and ticket["priority"] == "normal"
    assert ticket["requester"]["login"] == "alice"


@pytest.mark.parametrize(
    ("headers", "code"),
    [({}, "unauthenticated"), ({"Authorization": "Bearer nope"}, "invalid_token"),
     ({"Authorization": "Basic abc"}, "unauthenticated"), ({"Authorization": "Bearer "}, "unauthenticated")],
)
def test_missing_or_wrong_credentials_get_401(
    client: FlaskClient, db_session: Session, headers: dict[str, str], code: str
) -> None:
    response = client.post("/api/v1/tickets", json={"subject": "s", "body": "b"}, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == code
    assert ticket_count(db_session) == 0


BAD_BODIES = [
    ("not json at all", "application/json", 400, "invalid_json"),
    ('["a list"]', "application/json", 400, "invalid_json"),
    ('{"subject": "s", "body": "b"}', "text/plain", 415, "unsupported_media_type"),
    ('{"subject": "s"}', "application/json", 422, "invalid"),
    ('{"subject": 5, "body": "b"}', "application/json", 422, "invalid"),
    ('{"subject": "s", "body": null}', "application/json", 422, "invalid"),
    ('{"subject": "s", "body": "b", "queue": "catalogs"}', "application/json", 422, "invalid"),
    ('{"subject": "", "body": "b"}', "application/json", 422, "invalid"),
    (json.dumps({"subject": "s" * 201, "body": "b"}), "application/json", 422, "invalid"),
    ('{"subject": "   ", "body": "b"}', "application/json", 422, "invalid"),
]


@pytest.mark.parametrize(("raw", "content_type", "status", "code"), BAD_BODIES)
def test_bad_input_is_a_clear_4xx_and_writes_nothing(
    client: FlaskClient, staff_token: str, db_session: Session, raw: str, content_type: str, status: int, code: str
) -> None:
    response = client.post("/api/v1/tickets", data=raw, headers=auth(staff_token, **{"Content-Type": content_type}))
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert ticket_count(db_session) == 0


def test_oversized_body_is_413(make_settings, staff_token: str) -> None:  # type: ignore[no-untyped-def]
    from helpdesk import create_app

    app = create_app(make_settings(max_request_bytes=2048))
    response = app.test_client().post(
        "/api/v1/tickets", json={"subject": "s", "body": "x" * 5000}, headers=auth(staff_token)
    )
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "too_large"
    app.extensions["helpdesk"].engine.dispose()


def test_validation_errors_name_the_fields(client: FlaskClient, staff_token: str) -> None:
    response = client.post("/api/v1/tickets", json={"subject": 1, "extra": True}, headers=auth(staff_token))
    fields = {d["field"] for d in response.get_json()["error"]["details"]}
    assert fields == {"subject", "body", "extra"}


def test_idempotency_key_files_one_ticket(client: FlaskClient, staff_token: str, db_session: Session) -> None:
    headers = auth(staff_token, **{"Idempotency-Key": "req-1"})
    first = client.post("/api/v1/tickets", json={"subject": "s", "body": "b"}, headers=headers)
    second = client.post("/api/v1/tickets", json={"subject": "s", "body": "b"}, headers=headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.headers["Idempotent-Replayed"] == "true"
    assert first.get_json()["id"] == second.get_json()["id"]
    assert ticket_count(db_session) == 1


def test_idempotency_key_reused_for_other_body_is_409(client: FlaskClient, staff_token: str) -> None:
    headers = auth(staff_token, **{"Idempotency-Key": "req-2"})
    client.post("/api/v1/tickets", json={"subject": "s", "body": "b"}, headers=headers)
    response = client.post("/api/v1/tickets", json={"subject": "s", "body": "different"}, headers=headers)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "idempotency_key_reused"


def test_ten_threads_one_key_one_ticket(app: Flask, staff_token: str, db_session: Session) -> None:
    """The same request sent at the same moment from ten threads files exactly one ticket."""
    barrier = threading.Barrier(10)
    statuses: list[int] = []
    ids: set[int] = set()
    lock = threading.Lock()

    def send() -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post("/api/v1/tickets", json={"subject": "race", "body": "b"},
                               headers=auth(staff_token, **{"Idempotency-Key": "same-moment"}))
        with lock:
            statuses.append(response.status_code)
            ids.add(response.get_json()["id"])

    threads = [threading.Thread(target=send) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 9 + [201]
    assert len(ids) == 1
    assert ticket_count(db_session) == 1
    assert db_session.scalar(select(func.count()).select_from(InboundDelivery)) == 1


def test_cursor_pagination(client: FlaskClient, staff_token: str) -> None:
    for i in range(5):
        file(client, staff_token, subject=f"t{i}", body="b")
    first = client.get("/api/v1/tickets?limit=2", headers=auth(staff_token)).get_json()
    second = client.get(f"/api/v1/tickets?limit=2&cursor={first['next_cursor']}", headers=auth(staff_token)).get_json()
    third = client.get(f"/api/v1/tickets?limit=2&cursor={second['next_cursor']}", headers=auth(staff_token)).get_json()
    subjects = [t["subject"] for page in (first, second, third) for t in page["items"]]
    assert subjects == ["t4", "t3", "t2", "t1", "t0"]
    assert third["next_cursor"] is None


@pytest.mark.parametrize("query", ["status=bogus", "source=fax", "cursor=%%%", "limit=0", "limit=x", "queue=nope"])
def test_bad_filters_are_422(client: FlaskClient, staff_token: str, query: str) -> None:
    response = client.get(f"/api/v1/tickets?{query}", headers=auth(staff_token))
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "invalid"


def test_patch_and_reply(client: FlaskClient, staff_token: str, db_session: Session) -> None:
    ticket_id = file(client, staff_token).get_json()["id"]
    patched = client.patch(f"/api/v1/tickets/{ticket_id}", json={"queue": "catalogs", "priority": "high",
                                                                  "assignee": "alice"}, headers=auth(staff_token))
    assert patched.status_code == 200
    body = patched.get_json()
    assert (body["queue"], body["status"], body["priority"], body["assignee"]["login"]) == (
        "catalogs", "triaged", "high", "alice")
    reply = client.post(f"/api/v1/tickets/{ticket_id}/replies", json={"body": "note", "visibility": "internal"},
                        headers=auth(staff_token))
    assert reply.status_code == 201
    assert reply.get_json()["visibility"] == "internal"
    detail = client.get(f"/api/v1/tickets/{ticket_id}", headers=auth(staff_token)).get_json()
    assert [m["body"] for m in detail["messages"]] == ["note"]


@pytest.mark.parametrize(
    ("body", "status"),
    [({}, 422), ({"status": "flying"}, 422), ({"status": None}, 422), ({"owner": "x"}, 422),
     ({"status": "triaged"}, 409), ({"assignee": "nobody-here"}, 422)],
)
def test_bad_patch_changes_nothing(
    client: FlaskClient, staff_token: str, db_session: Session, body: dict, status: int
) -> None:
    ticket_id = file(client, staff_token).get_json()["id"]
    response = client.patch(f"/api/v1/tickets/{ticket_id}", json=body, headers=auth(staff_token))
    assert response.status_code == status
    after = client.get(f"/api/v1/tickets/{ticket_id}", headers=auth(staff_token)).get_json()
    assert (after["status"], after["queue"], after["assignee"]) == ("new", None, None)


def test_unknown_ticket_is_404(client: FlaskClient, staff_token: str) -> None:
    response = client.get("/api/v1/tickets/999", headers=auth(staff_token))
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_reply_with_bad_visibility_writes_nothing(client: FlaskClient, staff_token: str, db_session: Session) -> None:
    ticket_id = file(client, staff_token).get_json()["id"]
    response = client.post(f"/api/v1/tickets/{ticket_id}/replies", json={"body": "x", "visibility": "secret"},
                           headers=auth(staff_token))
    assert response.status_code == 422
    assert db_session.scalar(select(func.count()).select_from(Message)) == 0


def test_session_caller_needs_the_csrf_header(
    client: FlaskClient, login: Callable[..., Person], db_session: Session
) -> None:
    login("delegate")
    refused = client.post("/api/v1/tickets", json={"subject": "s", "body": "b"})
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "csrf_failed"
    page = client.get("/tickets/new").get_data(as_text=True)
    from tests.conftest import csrf_token_from

    accepted = client.post("/api/v1/tickets", json={"subject": "s", "body": "b"},
                           headers={"X-CSRFToken": csrf_token_from(page)})
    assert accepted.status_code == 201
    listed = client.get("/api/v1/tickets").get_json()
    assert [t["id"] for t in listed["items"]] == [accepted.get_json()["id"]]


def test_requester_cannot_patch(client: FlaskClient, login: Callable[..., Person], staff_token: str) -> None:
    ticket_id = file(client, staff_token).get_json()["id"]
    login("delegate")
    page = client.get("/tickets/new").get_data(as_text=True)
    from tests.conftest import csrf_token_from

    response = client.get(f"/api/v1/tickets/{ticket_id}")
    assert response.status_code == 404  # not theirs: not even its existence is told
    response = client.patch(f"/api/v1/tickets/{ticket_id}", json={"status": "closed"},
                            headers={"X-CSRFToken": csrf_token_from(page)})
    assert response.status_code == 403


def test_queues_endpoint(client: FlaskClient, staff_token: str) -> None:
    file(client, staff_token)
    items = client.get("/api/v1/queues", headers=auth(staff_token)).get_json()["items"]
    assert [q["slug"] for q in items] == [None, "accounts", "science-platform", "catalogs", "butler", "pipelines",
                                          "general"]
    assert items[0]["open_count"] == 1
    assert items[3]["first_response_hours"] == 24


def test_openapi_describes_the_api(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    assert set(spec["paths"]) == {"/tickets", "/tickets/{ticket_id}", "/tickets/{ticket_id}/replies", "/queues",
                                  "/kb/search", "/programs/{slug}", "/tickets/{ticket_id}/escalations",
                                  "/tickets/{ticket_id}/attachments",
                                  "/programs/{slug}/applications", "/applications/{application_id}",
                                  "/applications/{application_id}/approve", "/applications/{application_id}/decline",
                                  "/applications/{application_id}/reclaim"}
    assert spec["components"]["schemas"]["TicketCreate"]["additionalProperties"] is False


def test_unknown_api_route_is_json_404(client: FlaskClient, staff_token: str) -> None:
    response = client.get("/api/v1/nothing", headers=auth(staff_token))
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
