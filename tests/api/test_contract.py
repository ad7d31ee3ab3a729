"""The OpenAPI description is exact, and the HTTP layer turns hostile addresses into clear 4xx answers."""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from helpdesk import create_app
from helpdesk.accounts.models import Person
from helpdesk.accounts.routes import _safe_next
from helpdesk.api.openapi import build_openapi, declared_query_parameters
from helpdesk.config import Settings
from helpdesk.errors import ID_MAX
from helpdesk.tickets.queues import load_queue_config, sync_queues
from tests.conftest import csrf_token_from


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


# -- the description -------------------------------------------------------------------------------


def test_every_ref_resolves(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    refs = set(_refs(spec))
    assert "#/components/schemas/Priority" in refs and "#/components/schemas/Visibility" in refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in schemas, f"{ref} does not resolve"


def test_queue_slugs_come_from_the_configured_queues_file(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    queues = tmp_path / "queues.yaml"
    queues.write_text("queues:\n  - {slug: only-this, name: Only, team: T, covers: all, first_response_hours: 1,"
                      " wip_limit_per_assignee: 2}\n")
    app = create_app(make_settings(queues_file=queues))
    spec = app.test_client().get("/openapi.json").get_json()
    app.extensions["helpdesk"].engine.dispose()
    (queue,) = [p for p in spec["paths"]["/tickets"]["get"]["parameters"] if p["name"] == "queue"]
    assert queue["schema"]["enum"] == ["only-this"]
    update = spec["components"]["schemas"]["TicketUpdate"]["properties"]["queue"]
    assert {"type": "string", "enum": ["only-this"]} in update["anyOf"]


def test_shipped_description_uses_the_shipped_queues() -> None:
    spec = build_openapi()
    (queue,) = [p for p in spec["paths"]["/tickets"]["get"]["parameters"] if p["name"] == "queue"]
    assert queue["schema"]["enum"] == [q.slug for q in load_queue_config()]


def test_ids_and_limits_carry_their_ranges() -> None:
    spec = build_openapi()
    (ticket_id,) = spec["paths"]["/tickets/{ticket_id}"]["get"]["parameters"]
    assert ticket_id["schema"] == {"type": "integer", "minimum": 1, "maximum": ID_MAX}
    search = {p["name"]: p for p in spec["paths"]["/kb/search"]["get"]["parameters"]}
    assert search["q"]["schema"]["maxLength"] >= 4000 and search["q"]["required"]
    assert search["limit"]["schema"]["maximum"] == 50


def test_every_operation_declares_auth_outage_and_bad_parameters() -> None:
    for path, item in build_openapi()["paths"].items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            assert {"401", "422", "503"} <= codes, (method, path)
            if "requestBody" in operation:
                assert {"400", "413", "415", "429"} <= codes, (method, path)
                assert "Retry-After" in operation["responses"]["429"]["headers"]
            for code, response in operation["responses"].items():
                assert list(response["content"]) == ["application/json"], (method, path, code)


def test_not_found_descriptions_name_what_is_missing() -> None:
    paths = build_openapi()["paths"]
    for method in ("get", "patch"):
        assert "programme" in paths["/programs/{slug}"][method]["responses"]["404"]["description"]
        assert "ticket" not in paths["/programs/{slug}"][method]["responses"]["404"]["description"]
        assert "ticket" in paths["/tickets/{ticket_id}"][method]["responses"]["404"]["description"]


def test_declared_query_parameters_are_the_enforced_ones(app: Flask) -> None:
    spec = build_openapi()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = rule.rule.removeprefix("/api/v1").replace("<int:", "{").replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operation = spec["paths"][path][method.lower()]
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
            assert declared == set(declared_query_parameters(rule.endpoint)), (method, path)


@pytest.mark.parametrize("url", ["/api/v1/tickets?statuses=new", "/api/v1/queues?x=1", "/api/v1/tickets/1?a=b",
                                 "/api/v1/kb/search?q=tap&page=2"])
def test_unknown_query_parameters_are_422(client: FlaskClient, staff_token: str, url: str) -> None:
    response = client.get(url, headers=auth(staff_token))
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid" and "Unknown query parameter" in error["message"]


def test_405_keeps_the_allow_header(client: FlaskClient, staff_token: str) -> None:
    response = client.put("/api/v1/tickets", headers=auth(staff_token))
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_429_keeps_retry_after(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings(rate_limit_enabled=True, rate_limit_public="1 per minute"))
    client = app.test_client()
    # An empty login is refused (400) but counted; the session, and so the CSRF token, stays the same.
    data = {"login": "", "csrf_token": csrf_token_from(client.get("/auth/login").get_data(as_text=True))}
    assert client.post("/auth/login", data=data).status_code == 400
    response = client.post("/auth/login", data=data, headers={"Accept": "application/json"})
    app.extensions["helpdesk"].engine.dispose()
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) > 0


def test_api_write_limit_is_a_declared_429_with_retry_after(
    make_settings: Callable[..., Settings], staff_token: str
) -> None:
    app = create_app(make_settings(rate_limit_enabled=True, rate_limit_api_writes="1 per minute"))
    client = app.test_client()
    client.patch("/api/v1/programs/dp0", json={"cap": 5}, headers=auth(staff_token))
    response = client.patch("/api/v1/programs/dp0", json={"cap": 6}, headers=auth(staff_token))
    app.extensions["helpdesk"].engine.dispose()
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "429" in build_openapi()["paths"]["/programs/{slug}"]["patch"]["responses"]


def test_program_not_found_says_programme(client: FlaskClient, staff_token: str) -> None:
    response = client.get("/api/v1/programs/dp9", headers=auth(staff_token))
    assert response.status_code == 404
    message = response.get_json()["error"]["message"]
    assert "programme" in message and "dp9" in message and "ticket" not in message


# -- hostile input ---------------------------------------------------------------------------------


HUGE = "99999999999999999999"


@pytest.mark.parametrize("method", ["get", "patch"])
@pytest.mark.parametrize("ticket_id", [HUGE, str(ID_MAX + 1), str(2**63)])
def test_ids_beyond_the_database_are_404(client: FlaskClient, staff_token: str, method: str, ticket_id: str) -> None:
    response = getattr(client, method)(f"/api/v1/tickets/{ticket_id}", json={"status": "closed"},
                                       headers=auth(staff_token))
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    reply = client.post(f"/api/v1/tickets/{ticket_id}/replies", json={"body": "x"}, headers=auth(staff_token))
    assert reply.status_code == 404


def test_largest_id_is_an_ordinary_404(client: FlaskClient, staff_token: str) -> None:
    response = client.get(f"/api/v1/tickets/{ID_MAX}", headers=auth(staff_token))
    assert response.status_code == 404
    assert response.get_json()["error"]["message"] == f"No ticket {ID_MAX}."


def test_staff_pages_with_huge_ids_are_404(client: FlaskClient, login: Callable[..., Person]) -> None:
    login("sam", "staff")
    for url in (f"/staff/tickets/{HUGE}", f"/staff/tickets/{ID_MAX + 1}"):
        assert client.get(url).status_code == 404


def test_people_merge_with_huge_ids_is_not_a_server_error(client: FlaskClient, login: Callable[..., Person]) -> None:
    login("sam", "admin")
    token = csrf_token_from(client.get("/staff/people").get_data(as_text=True))
    response = client.post("/staff/people/merge", data={"source_id": HUGE, "target_id": str(ID_MAX + 1),
                                                       "csrf_token": token})
    assert 400 <= response.status_code < 500 or response.status_code in (302, 303)


@pytest.mark.parametrize("number", [2**63, 10**30, ID_MAX + 1])
def test_cursor_encoding_a_huge_number_is_422(client: FlaskClient, staff_token: str, number: int) -> None:
    cursor = base64.urlsafe_b64encode(f"t:{number}".encode()).decode().rstrip("=")
    response = client.get(f"/api/v1/tickets?cursor={cursor}", headers=auth(staff_token))
    assert response.status_code == 422


def test_overlong_cursor_is_422(client: FlaskClient, staff_token: str) -> None:
    response = client.get("/api/v1/tickets?cursor=" + "A" * 5000, headers=auth(staff_token))
    assert response.status_code == 422


@pytest.mark.parametrize(("url", "status"), [
    ("/api/v1/programs/%00", 404), ("/api/v1/programs/dp0%00", 404), ("/api/v1/tickets?queue=%00", 422),
    ("/api/v1/tickets?cursor=%00", 422), ("/api/v1/tickets?status=new%00", 422), ("/api/v1/tickets?%00=1", 422),
    ("/api/v1/kb/search?q=tap%00", 422), ("/staff/?queue=%00", 422), ("/signup?program=%00", 422),
])
def test_nul_in_the_address_is_a_clear_4xx(client: FlaskClient, staff_token: str, url: str, status: int) -> None:
    response = client.get(url, headers={**auth(staff_token), "Accept": "application/json"})
    assert response.status_code == status
    assert "NUL" in response.get_json()["error"]["message"]


def test_nul_in_the_idempotency_key_is_422(client: FlaskClient, staff_token: str) -> None:
    response = client.post("/api/v1/tickets", json={"subject": "s", "body": "b"},
                           headers={**auth(staff_token), "Idempotency-Key": "a\x00b"})
    assert response.status_code == 422
    assert response.get_json()["error"]["details"][0]["field"] == "Idempotency-Key"


@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_deeply_nested_json_is_400(client: FlaskClient, staff_token: str, depth: int) -> None:
    for url in ("/api/v1/tickets", "/api/v1/tickets/1/replies"):
        response = client.post(url, data="[" * depth + "]" * depth,
                               headers={**auth(staff_token), "Content-Type": "application/json"})
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize("target", [
    "/\r\nSet-Cookie: a=b", "/x\nLocation: //evil.com", "/\\evil.com", "/\\/evil.com", "/\t/evil.com",
    "//evil.com", "https://evil.com", "\\\\evil.com", "/\x00", " /x", "/x\x7f",
])
def test_safe_next_refuses_tricks(target: str) -> None:
    assert _safe_next(target) == "/"


@pytest.mark.parametrize("target", ["/", "/staff/tickets/3", "/tickets/new?page=/docs/x.html#top"])
def test_safe_next_keeps_same_site_paths(target: str) -> None:
    assert _safe_next(target) == target


def test_login_with_crlf_next_is_not_a_server_error(client: FlaskClient) -> None:
    page = client.get("/auth/login?next=/%0d%0aSet-Cookie:%20a=b")
    assert page.status_code == 200
    response = client.post("/auth/login", data={"login": "dana", "next": "/\r\nSet-Cookie: a=b",
                                                "csrf_token": csrf_token_from(page.get_data(as_text=True))})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


# -- a chunked body over the limit, through a real HTTP server -------------------------------------


@pytest.fixture
def small_server(make_settings: Callable[..., Settings]) -> Iterator[tuple[int, Flask]]:
    app = create_app(make_settings(max_request_bytes=4096))
    session = app.extensions["helpdesk"].session_factory()
    sync_queues(session, load_queue_config())
    session.close()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port, app
    finally:
        server.shutdown()
        thread.join(timeout=5)
        app.extensions["helpdesk"].engine.dispose()


def _send_chunked(port: int, path: str, token: str, payload: bytes, chunk: int = 1024) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
                     "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                     .encode())
        try:
            for start in range(0, len(payload), chunk):
                part = payload[start:start + chunk]
                conn.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            conn.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading everything
        answer = b""
        while b"\r\n\r\n" not in answer and (data := conn.recv(65536)):
            answer += data
        head, _, body = answer.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        while len(body) < length and (data := conn.recv(65536)):
            body += data
    return int(head.split()[1]), body


def test_chunked_body_over_the_limit_is_413(small_server: tuple[int, Flask], staff_token: str) -> None:
    port, _app = small_server
    payload = json.dumps({"subject": "big", "body": "x" * 20_000}).encode()
    status, body = _send_chunked(port, "/api/v1/tickets", staff_token, payload)
    assert status == 413
    assert b"too_large" in body


def test_chunked_body_within_the_limit_is_filed(small_server: tuple[int, Flask], staff_token: str) -> None:
    port, _app = small_server
    status, body = _send_chunked(port, "/api/v1/tickets", staff_token,
                                 json.dumps({"subject": "small", "body": "fits"}).encode(), chunk=7)
    assert status == 201, body
