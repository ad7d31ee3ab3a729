"""Profile signed Slack intake in one process: CPU per request, and the statements each request sends.

``python -m bench.profile_intake [N]`` files N signed Slack events through the WSGI app (no web server, no
network), on a fresh SQLite file (or ``BENCH_DATABASE_URL``), and prints the milliseconds of CPU per request,
the statements per request (counted with a SQLAlchemy listener), and cProfile's top entries by cumulative
time. Not part of ``make bench``: it is the tool for finding what a request does that it does not need.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import subprocess
import sys
import time
import uuid
from collections import Counter

from sqlalchemy import event

from bench.harness import ROOT, helpdesk_cli, helpdesk_env, prepare_helpdesk
from bench.slack_intake import CHANNEL, SECRET, slack_event

WARMUP = 500


def main(argv: list[str]) -> None:
    total = int(argv[0]) if argv else 2000
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{ROOT / 'var' / 'bench_profile.sqlite3'}"
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.unlink(path + suffix)
    env = helpdesk_env(url, HELPDESK_SLACK_SIGNING_SECRET=SECRET, HELPDESK_SLACK_CHANNEL_IDS=CHANNEL,
                       **({"HELPDESK_TRIAGE_ENABLED": os.environ["TRIAGE"]} if "TRIAGE" in os.environ else {}))
    try:
        prepare_helpdesk(env)
    except subprocess.CalledProcessError:
        # The migrations lag the models while a change is in progress: the models' own tables will do here.
        import helpdesk.models  # noqa: F401 - every table on the metadata
        from helpdesk.db import Base, make_engine

        Base.metadata.create_all(make_engine(url, pool=False))
        helpdesk_cli(env, "queues", "load")
    os.environ.update(env)
    from helpdesk import create_app

    app = create_app()
    engine = app.extensions["helpdesk"].engine
    statements: Counter[str] = Counter()

    def _count(_conn, _cursor, statement, _params, _context, _many):  # type: ignore[no-untyped-def]
        statements[" ".join(statement.split()[:3])] += 1

    client = app.test_client()
    run_id = uuid.uuid4().hex[:6]

    def post(i: int) -> None:
        _method, path, body, headers = slack_event(run_id, i)
        response = client.post(path, data=body, headers=headers)
        assert response.status_code == 200, response.data

    for i in range(WARMUP):  # every one of the 500 requesters once: the loop measures known people
        post(i)
    # Statements are counted on a pass of their own: a cursor listener makes the intake take SQLAlchemy's
    # execution path (helpdesk.tickets.intake.Prepared.run), so the timed loop runs without one.
    counted = min(total, 200)
    event.listen(engine, "before_cursor_execute", _count)
    for i in range(WARMUP, WARMUP + counted):
        post(i)
    event.remove(engine, "before_cursor_execute", _count)
    start = WARMUP + counted
    profiler = cProfile.Profile() if os.environ.get("PROFILE", "1") == "1" else None
    started_cpu, started = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    for i in range(start, start + total):
        post(i)
    if profiler:
        profiler.disable()
    cpu, wall = time.process_time() - started_cpu, time.perf_counter() - started
    print(f"{url.split(':')[0]}: {total} signed events, {cpu / total * 1000:.2f} ms CPU and "
          f"{wall / total * 1000:.2f} ms wall per request (profiler {'on' if profiler else 'off'})")
    print(f"statements per request (over {counted} more): {sum(statements.values()) / counted:.2f}")
    for statement, count in statements.most_common():
        print(f"  {count / counted:5.2f}  {statement}")
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(int(os.environ.get("TOP", "45")))


if __name__ == "__main__":
    main(sys.argv[1:])
