"""The helpdesk command line, run as a person would: a real subprocess with HELPDESK_* settings."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from flask.testing import FlaskClient

from helpdesk.cli import cli


def run(database_url: str, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HELPDESK_DATABASE_URL": database_url, "HELPDESK_ENV": "testing"}
    return subprocess.run([sys.executable, "-m", "helpdesk", *args], capture_output=True, text=True, env=env,
                          input=input, timeout=120)


def test_staff_create_prints_a_token_that_lists_tickets(database_url: str, client: FlaskClient) -> None:
    result = run(database_url, "staff", "create", "alice", "--role", "admin", "--token")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("hd_")
    response = client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.get_json() == {"items": [], "next_cursor": None, "prev_cursor": None, "count": 0,
                                   "count_capped": False}


def test_staff_create_refuses_a_bad_login(database_url: str, app) -> None:  # type: ignore[no-untyped-def]
    result = run(database_url, "staff", "create", "not a login")
    assert result.returncode == 1
    assert "letters, digits or single hyphens" in result.stderr


def test_queues_load_is_repeatable(database_url: str, app) -> None:  # type: ignore[no-untyped-def]
    result = run(database_url, "queues", "load")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "6 queues: 0 created, 0 updated."


def test_queues_load_reports_a_broken_file(database_url: str, app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    broken = tmp_path / "queues.yaml"
    broken.write_text("queues:\n  - slug: Bad Slug\n")
    result = run(database_url, "queues", "load", "--file", str(broken))
    assert result.returncode == 1
    assert "Cannot read the queues" in result.stderr


def test_demo_load_twice_adds_nothing_the_second_time(database_url: str, client: FlaskClient, staff_token: str) -> None:
    assert run(database_url, "demo", "load").returncode == 0
    assert run(database_url, "demo", "load").returncode == 0
    items = client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {staff_token}"}).get_json()["items"]
    assert len(items) == 6
    assert all(item["subject"].startswith("[demo]") for item in items)


def test_help_lists_the_commands() -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, ["--help"])
    for command in ("serve", "db", "staff", "queues", "demo"):
        assert command in result.output


@pytest.mark.parametrize("variable", ["HELPDESK_ENV=nonsense", "HELPDESK_MAX_REQUEST_BYTES=tiny"])
def test_bad_settings_are_explained(variable: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    name, value = variable.split("=")
    env = {**os.environ, name: value, "HELPDESK_DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3"}
    result = subprocess.run([sys.executable, "-m", "helpdesk", "queues", "load"], capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.returncode == 1
    assert "Invalid HELPDESK_* settings" in result.stderr
