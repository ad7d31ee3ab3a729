"""Attachments: checked by their bytes and extension, stored by rename with their row, served inert."""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person
from helpdesk.config import Settings
from helpdesk.exceptions import InvalidInputError
from helpdesk.tickets.attachments import (
    Attachment,
    AttachmentPolicy,
    AttachmentStore,
    AttachmentTooLargeError,
    AttachmentTypeError,
    Upload,
    display_name,
    sniff,
)
from helpdesk.tickets.models import Source, Ticket
from helpdesk.tickets.services import TicketService
from tests.conftest import csrf_token_from

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
NOTEBOOK = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def stored_files(settings: Settings) -> list[str]:
    directory = settings.resolved_attachment_dir
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


def count(session: Session, model: type) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(model)) or 0


# -- the checks -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "expected"), [
    (PNG, "image/png"), (b"\xff\xd8\xff\xe0rest", "image/jpeg"), (b"GIF89a....", "image/gif"),
    (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"), (b"SIMPLE  =" + b" " * 2871, "application/fits"),
    (NOTEBOOK, "application/x-ipynb+json"), (b'{"a": 1}', "application/json"),
    (b"select * from dp02_dc2_catalogs.Object\n", "text/plain"), (b"<html><script>x</script>", "text/plain"),
    (b"\x00\x01binary", None), (b"\xff\xfe not utf-8 \x80", None),
])
def test_sniff_reads_the_bytes(data: bytes, expected: str | None) -> None:
    assert sniff(data) == expected


@pytest.mark.parametrize(("given", "shown"), [
    ("../../etc/passwd", "passwd"), ("C:\\Users\\me\\shot.png", "shot.png"), ("a\x00b\r\n.txt", "a_b_.txt"),
    ('"><img src=x>.png', "_img src=x_.png"), ("", "file"), ("...", "file"),
])
def test_display_name_keeps_only_a_harmless_last_part(given: str, shown: str) -> None:
    assert display_name(given) == shown


def test_long_names_keep_their_extension() -> None:
    assert display_name("x" * 500 + ".ipynb").endswith(".ipynb") and len(display_name("x" * 500 + ".ipynb")) <= 200


def test_policy_refuses_what_it_should(tmp_path: Path) -> None:
    policy = AttachmentPolicy(tmp_path, max_bytes=100, types=frozenset({"png", "txt", "json", "py"}))
    assert [c.content_type for c in policy.check([Upload("a.png", PNG), Upload("b.py", b"print(1)"),
                                                  Upload("c.txt", b'{"json": "is text"}')])] == \
        ["image/png", "text/x-python", "text/plain"]
    with pytest.raises(AttachmentTooLargeError):
        policy.check([Upload("big.txt", b"x" * 101)])
    with pytest.raises(AttachmentTypeError, match="cannot be attached"):
        policy.check([Upload("page.svg", b"<svg/>")])
    with pytest.raises(AttachmentTypeError, match="cannot be attached"):
        policy.check([Upload("a.gif", b"GIF89a")])  # allowed by the code, not by this policy
    with pytest.raises(AttachmentTypeError, match="does not contain"):
        policy.check([Upload("fake.png", b"just text")])
    with pytest.raises(AttachmentTypeError, match="does not contain"):
        policy.check([Upload("fake.txt", PNG)])
    with pytest.raises(AttachmentTypeError, match="does not contain"):
        policy.check([Upload("data.json", b"not json")])
    with pytest.raises(InvalidInputError, match="empty"):
        policy.check([Upload("e.txt", b"")])
    with pytest.raises(InvalidInputError, match="at most"):
        policy.check([Upload(f"{i}.txt", b"x") for i in range(6)])


def test_settings_refuse_unknown_types(make_settings: Callable[..., Settings]) -> None:
    assert make_settings(attachment_types="PNG, .txt").attachment_types == ["png", "txt"]
    with pytest.raises(ValueError, match="svg"):
        make_settings(attachment_types="png,svg")


# -- the web form -----------------------------------------------------------------------------------


def file_on_the_web(client: FlaskClient, files: list[tuple[bytes, str]], subject: str = "Plot fails") -> object:
    token = csrf_token_from(client.get("/tickets/new").get_data(as_text=True))
    data = {"csrf_token": token, "subject": subject, "body": "See the attached screenshot.",
            "attachments": [(io.BytesIO(content), name) for content, name in files]}
    return client.post("/tickets/new", data=data, content_type="multipart/form-data")


def test_web_form_files_the_ticket_with_its_files(client: FlaskClient, login: Callable[..., Person],
                                                  db_session: Session, settings: Settings) -> None:
    form = client.get("/tickets/new" if login("ana") else "").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in form and 'type="file"' in form and "attachments-help" in form
    response = file_on_the_web(client, [(PNG, "screen shot.png"), (NOTEBOOK, "../work/analysis.ipynb")])
    assert response.status_code == 302, response.get_data(as_text=True)
    rows = db_session.scalars(select(Attachment).order_by(Attachment.id)).all()
    assert [(a.filename, a.content_type, a.size) for a in rows] == [
        ("screen shot.png", "image/png", len(PNG)), ("analysis.ipynb", "application/x-ipynb+json", len(NOTEBOOK))]
    assert rows[0].ticket_id == rows[1].ticket_id and rows[0].message_id is None
    assert stored_files(settings) == sorted(a.stored_name for a in rows)  # no temporary file left behind
    assert (settings.resolved_attachment_dir / rows[0].stored_name).read_bytes() == PNG


@pytest.mark.parametrize(("files", "status", "words"), [
    ([(b"x" * 2049, "big.log")], 413, "files may be up to"),
    ([(b"<svg onload=alert(1)>", "x.svg")], 415, "cannot be attached"),
    ([(b"MZ\x90\x00\x00binary", "tool.py")], 415, "does not contain"),
    ([(b"", "empty.txt")], 422, "is empty"),
])
def test_web_form_refuses_bad_files_and_files_nothing(
    make_settings: Callable[..., Settings], files: list[tuple[bytes, str]], status: int, words: str,
) -> None:
    from helpdesk import create_app
    from tests.conftest import csrf_token_from as token_of

    settings = make_settings(attachment_max_bytes=2048)
    app = create_app(settings)
    client = app.test_client()
    from helpdesk.accounts.services import AccountService

    session = app.extensions["helpdesk"].session_factory()
    AccountService(session).sign_in_github("ana")
    session.close()
    client.post("/auth/login", data={"login": "ana", "csrf_token": token_of(client.get("/auth/login").get_data(
        as_text=True))})
    response = file_on_the_web(client, files)
    html = response.get_data(as_text=True)
    assert response.status_code == status
    assert words in html and 'id="attachments-error" role="alert"' in html
    assert 'aria-invalid="true"' in html and "attachments-help attachments-error" in html
    session = app.extensions["helpdesk"].session_factory()
    assert count(session, Ticket) == 0 and count(session, Attachment) == 0
    session.close()
    assert stored_files(settings) == []
    app.extensions["helpdesk"].engine.dispose()


# -- serving ----------------------------------------------------------------------------------------


def test_files_are_served_inert_to_staff_and_the_requester_only(
    client: FlaskClient, login: Callable[..., Person], db_session: Session, make_person: Callable[..., Person],
) -> None:
    login("ana")
    assert file_on_the_web(client, [(PNG, "plot.png"), (b"<script>alert(1)</script>", "notes.txt")]).status_code == 302
    png, text = db_session.scalars(select(Attachment).order_by(Attachment.id)).all()
    ticket = png.ticket_id
    image = client.get(f"/tickets/{ticket}/attachments/{png.id}")
    assert image.status_code == 200 and image.data == PNG and image.mimetype == "image/png"
    assert image.headers["Content-Disposition"].startswith("inline")
    assert image.headers["X-Content-Type-Options"] == "nosniff" and "sandbox" in image.headers["Content-Security-Policy"]
    download = client.get(f"/tickets/{ticket}/attachments/{text.id}")
    assert download.headers["Content-Disposition"].startswith("attachment") and "notes.txt" in \
        download.headers["Content-Disposition"]
    assert download.mimetype == "text/plain" and "sandbox" in download.headers["Content-Security-Policy"]

    login("bob")  # another requester: not told the file exists
    assert client.get(f"/tickets/{ticket}/attachments/{png.id}").status_code == 404
    login("sam", "staff")
    assert client.get(f"/tickets/{ticket}/attachments/{png.id}").status_code == 200
    assert client.get(f"/tickets/{ticket + 1}/attachments/{png.id}").status_code == 404  # wrong ticket
    page = client.get(f"/staff/tickets/{ticket}").get_data(as_text=True)
    assert "Attachments (2)" in page and f'<img src="/tickets/{ticket}/attachments/{png.id}"' in page
    assert f'href="/tickets/{ticket}/attachments/{text.id}" download' in page
    assert "&lt;script&gt;" not in page and "<script>alert" not in page  # the text is never shown in the page
    client.post("/auth/logout", data={"csrf_token": csrf_token_from(page)})
    assert client.get(f"/tickets/{ticket}/attachments/{png.id}").status_code == 302  # sign in first


# -- the API ----------------------------------------------------------------------------------------


def test_api_attaches_files_to_a_ticket(client: FlaskClient, staff_token: str, db_session: Session,
                                        settings: Settings) -> None:
    ticket = client.post("/api/v1/tickets", json={"subject": "Butler", "body": "fails"},
                         headers=auth(staff_token)).get_json()["id"]
    response = client.post(f"/api/v1/tickets/{ticket}/attachments", headers=auth(staff_token),
                           data={"file": [(io.BytesIO(b"Traceback...\n"), "run.log"), (io.BytesIO(PNG), "a.png")]},
                           content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    items = response.get_json()["items"]
    assert [(i["filename"], i["content_type"]) for i in items] == [("run.log", "text/plain"), ("a.png", "image/png")]
    assert items[0]["url"] == f"/tickets/{ticket}/attachments/{items[0]['id']}"
    assert len(stored_files(settings)) == 2


@pytest.mark.parametrize(("kwargs", "status", "code"), [
    (lambda: {"json": {"file": "x"}}, 415, "unsupported_media_type"),
    (lambda: {"data": {"other": "x"}, "content_type": "multipart/form-data"}, 422, "invalid"),
    (lambda: {"data": {"file": (io.BytesIO(b"%PDF-1.7"), "paper.pdf")}, "content_type": "multipart/form-data"},
     415, "attachment_type"),
    (lambda: {"data": {"file": (io.BytesIO(b"x" * 2049), "big.txt")}, "content_type": "multipart/form-data"},
     413, "attachment_too_large"),
])
def test_api_refuses_bad_uploads_and_stores_nothing(make_settings: Callable[..., Settings],
                                                    kwargs: Callable[[], dict], status: int, code: str) -> None:
    from helpdesk import create_app
    from helpdesk.accounts.models import Role
    from helpdesk.accounts.services import AccountService

    settings = make_settings(attachment_max_bytes=2048)
    app = create_app(settings)
    session = app.extensions["helpdesk"].session_factory()
    _, token = AccountService(session).create_staff("alice", Role.STAFF, with_token=True)
    session.close()
    client = app.test_client()
    ticket = client.post("/api/v1/tickets", json={"subject": "s", "body": "b"}, headers=auth(token)).get_json()["id"]
    response = client.post(f"/api/v1/tickets/{ticket}/attachments", headers=auth(token), **kwargs())
    assert response.status_code == status and response.get_json()["error"]["code"] == code
    session = app.extensions["helpdesk"].session_factory()
    assert count(session, Attachment) == 0
    session.close()
    assert stored_files(settings) == []
    app.extensions["helpdesk"].engine.dispose()


def test_api_requester_of_another_ticket_gets_404(client: FlaskClient, login: Callable[..., Person],
                                                  staff_token: str) -> None:
    ticket = client.post("/api/v1/tickets", json={"subject": "s", "body": "b"},
                         headers=auth(staff_token)).get_json()["id"]
    login("mallory")
    token = csrf_token_from(client.get("/tickets/new").get_data(as_text=True))
    response = client.post(f"/api/v1/tickets/{ticket}/attachments", headers={"X-CSRFToken": token},
                           data={"file": (io.BytesIO(b"hi"), "a.txt")}, content_type="multipart/form-data")
    assert response.status_code == 404


# -- no orphans -------------------------------------------------------------------------------------


def test_a_failed_commit_leaves_no_file(app: Flask, make_person: Callable[..., Person], settings: Settings,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    person = make_person("ana")
    session = app.extensions["helpdesk"].session_factory()
    service = TicketService(session, attachments=AttachmentPolicy(settings.resolved_attachment_dir))
    real_commit = session.commit

    def failing_commit() -> None:
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(session, "commit", failing_commit)
    with pytest.raises(OperationalError):
        service.file(person, "s", "b", Source.WEB, attachments=[Upload("a.txt", b"hello")])
    monkeypatch.setattr(session, "commit", real_commit)
    session.rollback()
    assert stored_files(settings) == []
    assert count(session, Attachment) == 0 and count(session, Ticket) == 0
    session.close()


def test_sweep_removes_only_old_files_without_a_row(app: Flask, make_person: Callable[..., Person],
                                                    settings: Settings) -> None:
    person = make_person("ana")
    session = app.extensions["helpdesk"].session_factory()
    service = TicketService(session, attachments=AttachmentPolicy(settings.resolved_attachment_dir))
    service.file(person, "s", "b", Source.WEB, attachments=[Upload("kept.txt", b"kept")])
    store = AttachmentStore(settings.resolved_attachment_dir)
    orphan, young = store.write(b"orphan"), store.write(b"young")
    temp = settings.resolved_attachment_dir / f"{AttachmentStore.TEMP_PREFIX}dead"
    temp.write_bytes(b"half")
    old = time.time() - 7200
    for name in [*stored_files(settings)]:
        if name != young:
            os.utime(settings.resolved_attachment_dir / name, (old, old))
    assert store.sweep_orphans(session) == sorted([orphan, temp.name])
    (kept,) = session.scalars(select(Attachment.stored_name))
    assert stored_files(settings) == sorted([kept, young])
    session.close()


def test_the_worker_sweeps_orphan_files(app: Flask, settings: Settings) -> None:
    from helpdesk.worker import OutboxWorker

    store = AttachmentStore(settings.resolved_attachment_dir)
    orphan = store.write(b"left by a crash")
    old = time.time() - 7200
    os.utime(settings.resolved_attachment_dir / orphan, (old, old))
    OutboxWorker(app.extensions["helpdesk"].session_factory, settings).run_once()
    assert stored_files(settings) == []
