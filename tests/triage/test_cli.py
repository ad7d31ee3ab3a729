"""``helpdesk triage classify`` and ``retrain`` as an operator runs them (real subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.orm import Session

from helpdesk.audit import record
from helpdesk.tickets.models import Queue, Source, Ticket
from helpdesk.triage.model import FORMAT_VERSION, load_model
from helpdesk.triage.training import iter_sorted_tickets

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    environment.update({"HELPDESK_ENV": "testing", "HELPDESK_LOG_LEVEL": "WARNING", **env})
    return subprocess.run([sys.executable, "-m", "helpdesk", "triage", *args], input=stdin, text=True,
                          capture_output=True, env=environment, cwd=ROOT, timeout=300)


def test_classify_round_trip_with_a_bad_line() -> None:
    lines = [
        json.dumps({"id": "a", "title": "TAP query times out", "body": "SELECT * FROM dp02_dc2_catalogs.Object"}),
        "{not json",
        json.dumps({"id": "c", "title": "cannot log in", "body": "GitHub login says not authorized"}),
        json.dumps(["a", "list"]),
        "",
        json.dumps({"id": 5, "title": "calexp", "body": "butler.get('calexp') DatasetNotFoundError"}),
    ]
    result = run(["classify"], "\n".join(lines) + "\n")
    assert result.returncode == 1
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o.get("id") for o in out] == ["a", None, "c", None, 5]
    assert [o.get("queue") for o in out] == ["catalogs", None, "accounts", None, "butler"]
    assert out[1]["line"] == 2 and "line 2" in out[1]["error"]
    assert out[3]["line"] == 4 and "JSON object" in out[3]["error"]
    for good in (out[0], out[2], out[4]):
        assert set(good) >= {"id", "queue", "priority", "confidence", "reasons"}
        assert 0 <= good["confidence"] <= 1 and good["reasons"]
    assert out[2]["priority"] == "high"
    assert "2 line(s)" in result.stderr


def test_classify_all_good_exits_zero() -> None:
    result = run(["classify"], json.dumps({"id": 1, "title": "Qserv", "body": "ADQL"}) + "\n")
    assert result.returncode == 0, result.stderr


def test_classify_refuses_a_mismatched_model_file(tmp_path: Path) -> None:
    path = tmp_path / "model.joblib"
    path.write_bytes(json.dumps({"format": "dp0-helpdesk-triage-model", "format_version": FORMAT_VERSION,
                                 "sklearn_version": "0.0.1", "classes": []}).encode() + b"\n")
    result = run(["classify"], "", HELPDESK_TRIAGE_MODEL_FILE=str(path))
    assert result.returncode == 1
    assert "scikit-learn 0.0.1" in result.stderr and "retrain" in result.stderr


def _ticket(session: Session, person_id: int, queue: Queue | None, subject: str) -> Ticket:
    ticket = Ticket(subject=subject, body=f"{subject} body", source=Source.WEB, requester_id=person_id, queue=queue)
    session.add(ticket)
    session.flush()
    return ticket


def test_sorted_tickets_are_those_a_person_sorted(app, make_person) -> None:  # type: ignore[no-untyped-def]
    session = app.extensions["helpdesk"].session_factory()
    staff = make_person("sorter", role="staff")
    requester = make_person("asker")
    queues = {q.slug: q for q in session.query(Queue)}
    by_person = _ticket(session, requester.id, queues["butler"], "sorted by staff")
    record(session, "ticket.updated", actor_id=staff.id, ticket_id=by_person.id,
           changes={"queue": [None, "catalogs"]})
    corrected = _ticket(session, requester.id, queues["pipelines"], "corrected later")
    record(session, "triage.corrected", actor_id=staff.id, ticket_id=corrected.id, changes={"queue": ["a", "b"]})
    by_system = _ticket(session, requester.id, queues["general"], "sorted by the system")
    record(session, "ticket.updated", actor_id=None, ticket_id=by_system.id, changes={"queue": [None, "general"]})
    unsorted_again = _ticket(session, requester.id, None, "queue removed")
    record(session, "ticket.updated", actor_id=staff.id, ticket_id=unsorted_again.id, changes={"queue": ["x", None]})
    status_only = _ticket(session, requester.id, queues["accounts"], "status change only")
    record(session, "ticket.updated", actor_id=staff.id, ticket_id=status_only.id, changes={"status": ["a", "b"]})
    session.commit()
    examples = list(iter_sorted_tickets(session))
    session.close()
    # The ticket's queue now is the label (the later decision wins), only for people's choices.
    assert examples == [("sorted by staff", "sorted by staff body", "butler"),
                        ("corrected later", "corrected later body", "pipelines")]


def test_retrain_writes_a_model_that_loads_and_prints_accuracy_per_queue(
        tmp_path: Path, app, settings) -> None:  # type: ignore[no-untyped-def]
    output = tmp_path / "model.joblib"
    result = run(["retrain", "--output", str(output), "--folds", "3"], HELPDESK_DATABASE_URL=settings.database_url)
    assert result.returncode == 0, result.stderr
    assert "0 sorted tickets" in result.stdout and "seed questions" in result.stdout
    assert "Cross-validated accuracy (3-fold, stratified)" in result.stdout
    for slug in ("accounts", "science-platform", "catalogs", "butler", "pipelines", "general"):
        assert f"  {slug}" in result.stdout
    model = load_model(output)
    assert set(model.examples_per_queue) == {"accounts", "science-platform", "catalogs", "butler", "pipelines",
                                             "general"}
    assert model.predict("ADQL", "Qserv TAP query")[0][0][0] == "catalogs"
