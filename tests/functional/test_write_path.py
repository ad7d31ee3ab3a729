"""One write path: the same text policy, status rule and link safety whichever way a ticket arrives."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person
from helpdesk.links import safe_link
from helpdesk.tickets.models import Message, Source, Ticket
from helpdesk.tickets.services import TicketService
from tests.conftest import csrf_token_from

HELPDESK = Path(__file__).resolve().parents[2] / "helpdesk"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def counts(session: Session) -> tuple[int, int]:
    session.expire_all()
    return (session.scalar(select(func.count()).select_from(Ticket)) or 0,
            session.scalar(select(func.count()).select_from(Message)) or 0)


@pytest.mark.parametrize(("field", "value"), [
    ("subject", "TAP \x00 timeout"), ("body", "a NUL \x00 in the middle"), ("subject", "half a pair \ud800"),
])
def test_api_refuses_unstorable_characters_with_a_422_naming_the_field(
    client: FlaskClient, staff_token: str, db_session: Session, field: str, value: str,
) -> None:
    body = {"subject": "TAP timeout", "body": "Details", field: value}
    response = client.post("/api/v1/tickets", json=body, headers=auth(staff_token))
    assert response.status_code == 422, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["details"][0]["field"] == field and field in error["message"]
    assert counts(db_session) == (0, 0)


def test_api_reply_with_a_nul_is_a_422_and_stores_nothing(
    client: FlaskClient, staff_token: str, db_session: Session,
) -> None:
    ticket = client.post("/api/v1/tickets", json={"subject": "s", "body": "b"}, headers=auth(staff_token)).get_json()
    response = client.post(f"/api/v1/tickets/{ticket['id']}/replies", json={"body": "x\x00y"},
                           headers=auth(staff_token))
    assert response.status_code == 422 and response.get_json()["error"]["details"][0]["field"] == "body"
    assert counts(db_session) == (1, 0)


@pytest.mark.parametrize(("path", "fields"), [
    ("/signup", {"name": "Vera \x00", "email": "vera@example.org", "institution": "Rubin", "data_rights": "y",
                 "program": "dp0"}),
    ("/auth/login", {"login": "vera\x00"}),
])
def test_every_form_refuses_unstorable_characters_on_the_field(
    client: FlaskClient, login: Callable[..., Person], path: str, fields: dict[str, str],
) -> None:
    if path == "/signup":
        login()
    page = client.get(path)
    response = client.post(path, data={**fields, "csrf_token": csrf_token_from(page.get_data(as_text=True))})
    assert response.status_code == 400, response.get_data(as_text=True)[:500]
    assert "cannot be stored" in response.get_data(as_text=True)


def test_web_form_shows_the_policy_error_on_its_field(
    client: FlaskClient, login: Callable[..., Person], db_session: Session,
) -> None:
    login()
    page = client.get("/tickets/new")
    response = client.post("/tickets/new", data={"subject": "Butler \x00", "body": "Which collection?",
                                                 "csrf_token": csrf_token_from(page.get_data(as_text=True))})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="subject-error"' in html and "cannot be stored" in html
    assert counts(db_session) == (0, 0)


def test_an_internal_note_is_outbound_even_on_the_staff_member_s_own_ticket(
    client: FlaskClient, staff_token: str,
) -> None:
    ticket = client.post("/api/v1/tickets", json={"subject": "s", "body": "b"}, headers=auth(staff_token)).get_json()
    note = client.post(f"/api/v1/tickets/{ticket['id']}/replies", json={"body": "n", "visibility": "internal"},
                       headers=auth(staff_token)).get_json()
    assert note["visibility"] == "internal" and note["direction"] == "outbound"
    # A public message on one's own ticket is the requester speaking.
    public = client.post(f"/api/v1/tickets/{ticket['id']}/replies", json={"body": "p"},
                         headers=auth(staff_token)).get_json()
    assert public["direction"] == "inbound"


@pytest.mark.parametrize("link", [
    "javascript:alert(document.cookie)", "JavaScript:alert(1)", " javascript:alert(1)", "data:text/html,<b>x",
    "//evil.example/docs/", "/staff/outbox", "java\tscript:alert(1)", "https:evil", "vbscript:msgbox",
])
def test_unsafe_page_links_are_never_stored_or_linked(
    client: FlaskClient, login: Callable[..., Person], db_session: Session, link: str,
) -> None:
    assert safe_link(link) is None
    login()
    form = client.get("/tickets/new", query_string={"page": link, "subject": "About a page"})
    html = form.get_data(as_text=True)
    assert 'href="' + link not in html and "javascript:" not in html.lower().replace("javascript:void", "")
    response = client.post("/tickets/new", data={"subject": "s", "body": "b", "page": link,
                                                 "csrf_token": csrf_token_from(html)})
    assert response.status_code == 302
    db_session.expire_all()
    assert "page" not in db_session.scalars(select(Ticket)).one().external


def test_a_stored_unsafe_link_is_shown_to_staff_as_text(
    client: FlaskClient, login: Callable[..., Person], db_session: Session, make_person: Callable[..., Person],
) -> None:
    # A ticket stored before links were checked.
    requester = make_person("delegate")
    ticket = TicketService(db_session).file(requester, "s", "b", Source.WEB,
                                            external={"page": "javascript:alert(1)"}).ticket
    login("alice", "staff")
    html = client.get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)
    assert "javascript:alert(1)" in html and 'href="javascript:' not in html


@pytest.mark.parametrize("link", ["/docs/reference/catalogs/dp02/Object.html", "https://dp0.lsst.io/x?y=1"])
def test_documentation_pages_and_web_addresses_are_links(link: str) -> None:
    assert safe_link(link) == link


def test_only_the_ticket_service_writes_tickets_and_messages() -> None:
    """One module owns every write: no other module builds Ticket or Message rows or INSERTs them."""
    owner = HELPDESK / "tickets" / "services.py"
    offenders = []
    for path in HELPDESK.rglob("*.py"):
        if path == owner or "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                name = ast.unparse(node.func)
                args = [ast.unparse(a) for a in node.args]
                if name in ("Ticket", "Message") or (name == "insert" and args and args[0].split(".")[0]
                                                     in ("Ticket", "Message")):
                    offenders.append(f"{path.relative_to(HELPDESK)}:{node.lineno} {name}({', '.join(args)})")
    assert offenders == []


def test_a_rate_limited_api_caller_is_told_when_to_try_again(make_settings, make_person) -> None:  # type: ignore[no-untyped-def]
    from helpdesk import create_app
    from helpdesk.accounts.models import Role
    from helpdesk.accounts.services import AccountService

    app = create_app(make_settings(rate_limit_enabled=True, rate_limit_api_writes="2 per minute"))
    session = app.extensions["helpdesk"].session_factory()
    _, token = AccountService(session).create_staff("rita", Role.STAFF, with_token=True)
    session.close()
    client = app.test_client()
    answers = [client.post("/api/v1/tickets", json={"subject": "s", "body": "b"}, headers=auth(token))
               for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 429]
    import re

    wait = int(answers[2].headers["Retry-After"])
    said = re.search(r"try again in (\d+) seconds", answers[2].get_json()["error"]["message"])
    assert 0 < wait <= 60 and said is not None and abs(int(said.group(1)) - wait) <= 1
    app.extensions["helpdesk"].engine.dispose()
