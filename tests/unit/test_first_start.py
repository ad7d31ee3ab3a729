"""The documented first start gives a working desk on an empty database: queues, programme, search."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from helpdesk import create_app
from helpdesk.config import Settings
from tests.conftest import TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]


def helpdesk(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "helpdesk", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, cwd=ROOT, timeout=180)


def test_init_on_an_empty_database_opens_sign_up_and_search(tmp_path: Path) -> None:
    env = {"HELPDESK_ENV": "testing", "HELPDESK_DATABASE_URL": f"sqlite:///{tmp_path}/fresh/helpdesk.sqlite3",
           "HELPDESK_INDEX_DIR": str(tmp_path / "index"), "HELPDESK_DOCS_DIR": str(tmp_path / "no-docs-built")}
    result = helpdesk(env, "init")
    assert result.returncode == 0, result.stderr
    assert "Loaded 6 default queues" in result.stdout and "knowledge base only" in result.stdout
    again = helpdesk(env, "init")
    assert again.returncode == 0 and "default queues" not in again.stdout  # safe to repeat, loads nothing twice

    token = helpdesk(env, "staff", "create", "alice", "--role", "admin", "--token").stdout.strip().splitlines()[-1]
    hits = json.loads(helpdesk(env, "kb", "search", "TAP query timeout", "--json").stdout)
    assert hits and all(hit["kind"] == "kb" for hit in hits)

    app = create_app(Settings(env="testing", database_url=env["HELPDESK_DATABASE_URL"], secret_key=TEST_SECRET,
                              auth="dev", index_dir=tmp_path / "index", rate_limit_enabled=False))
    client = app.test_client()
    program = client.get("/api/v1/programs/dp0", headers={"Authorization": f"Bearer {token}"})
    assert program.status_code == 200 and program.get_json()["cap"] > 0
    queues = client.get("/api/v1/queues", headers={"Authorization": f"Bearer {token}"}).get_json()["items"]
    assert len([q for q in queues if q["slug"]]) == 6
    assert client.get("/api/v1/kb/search?q=butler", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    app.extensions["helpdesk"].engine.dispose()


def test_db_upgrade_alone_loads_the_defaults_unless_told_not_to(tmp_path: Path) -> None:
    bare = {"HELPDESK_ENV": "testing", "HELPDESK_DATABASE_URL": f"sqlite:///{tmp_path}/bare.sqlite3"}
    result = helpdesk(bare, "db", "upgrade", "--no-defaults")
    assert result.returncode == 0 and "default queues" not in result.stdout
    full = {"HELPDESK_ENV": "testing", "HELPDESK_DATABASE_URL": f"sqlite:///{tmp_path}/full.sqlite3"}
    result = helpdesk(full, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert "Loaded 6 default queues" in result.stdout and "programme" in result.stdout
    shown = helpdesk(full, "programs", "show", "dp0")
    assert shown.returncode == 0 and "cap=" in shown.stdout
