"""The staff lists at scale: the board, a filtered list, a search and the ticket page with many tickets in
PostgreSQL, p50 and p95 of each, and the SQL statements each page sends (it must not grow with the page).

The tickets are written in bulk with Core INSERTs (not through the API: filing 100,000 tickets one request at a
time would measure intake, not the lists), spread over a year, five queues, six statuses, four priorities and a
dozen staff, a third with a later message, one in ten tagged; the search index is built from them with the
same statement the migration uses. ``BENCH_LIST_TICKETS`` sets how many (default 20,000 for ``make bench``;
the figures in docs/reference/performance.md are of the 100,000 run). Each page is requested
``BENCH_LIST_REQUESTS`` times (default 60) through the WSGI app in this process, signed in as staff, after a
warm-up; the baseline is ``/healthz`` in the same app, the floor any page pays.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, insert, select, text

from bench.harness import bench_database, progress, report

TICKETS = int(os.environ.get("BENCH_LIST_TICKETS", "20000"))
REQUESTS = int(os.environ.get("BENCH_LIST_REQUESTS", "60"))
BATCH = 5000
WORDS = ["butler", "calexp", "deepCoadd", "tap", "adql", "query", "timeout", "object", "table", "portal", "login", "notebook", "jupyter", "kernel", "qserv", "cutout", "image", "visit", "detector", "collection", "repository", "registry", "dataset", "refcat", "photometry", "astrometry", "source", "forcedSource", "truth", "match", "schema", "column", "error", "exception", "traceback", "memory", "crash", "slow", "fails", "missing", "empty", "permission", "token", "github", "account", "password", "rsp", "aspire", "lsst", "dp0", "cone", "search", "magnitude", "flux", "coadd", "tract", "patch", "band", "filter", "skymap", "wcs", "header", "fits", "download", "upload"]
TAGS = ("tap", "butler", "needs-docs", "bug", "dp0.2", "portal", "notebook", "follow-up", "data-rights", "slow")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def fill(url: str, count: int) -> dict[str, object]:
    """Schema, queues, staff and ``count`` tickets with messages, tags and their search index; returns ids."""
    import helpdesk.models  # noqa: F401 - every table
    from helpdesk.accounts.models import Identity, Person, Provider, Role
    from helpdesk.db import Base, make_engine
    from helpdesk.tickets import fulltext
    from helpdesk.tickets.models import Message, Queue, Ticket
    from helpdesk.tickets.queues import load_queue_config, sync_queues
    from helpdesk.tickets.tags import Tag, TicketTag

    engine = make_engine(url, pool=False)
    Base.metadata.create_all(engine)
    rng = random.Random(20261201)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        from sqlalchemy.orm import Session

        with Session(bind=conn) as session:
            sync_queues(session, load_queue_config())
            session.flush()
        queues = {row.id: row.first_response_hours for row in conn.execute(select(Queue.id,
                                                                                Queue.first_response_hours))}
        staff_ids, people = [], []
        for i in range(12):
            pid = conn.execute(insert(Person).values(display_name=f"staff{i}", role=Role.ADMIN if i == 0 else Role.STAFF,
                                                      created_at=now).returning(Person.id)).scalar_one()
            conn.execute(insert(Identity).values(person_id=pid, provider=Provider.GITHUB, external_id=f"login:staff{i}",
                                                 username=f"staff{i}", created_at=now))
            staff_ids.append(pid)
        for i in range(0, 2000, 500):
            rows = [{"display_name": f"delegate{j}", "role": Role.USER, "created_at": now} for j in range(i, i + 500)]
            people.extend(conn.execute(insert(Person).returning(Person.id), rows).scalars())
        tag_ids = list(conn.execute(insert(Tag).returning(Tag.id), [{"name": t, "created_at": now} for t in TAGS])
                       .scalars())
        statuses = ["new", "triaged", "in_progress", "waiting_on_user", "resolved", "closed"]
        weights = [2, 3, 3, 2, 20, 70]  # most tickets of a year are done
        queue_ids = list(queues)
        made = 0
        while made < count:
            batch = []
            for i in range(min(BATCH, count - made)):
                created = now - timedelta(minutes=(count - made - i) * 525_600 / count)
                status = rng.choices(statuses, weights)[0]
                queue_id = rng.choice(queue_ids) if status != "new" else None
                answered = status in ("waiting_on_user", "resolved", "closed") or rng.random() < 0.3
                batch.append({
                    "subject": _text(rng, 6).capitalize(), "body": _text(rng, 40), "source": rng.choice(
                        ["slack", "discourse", "web", "api"]), "status": status,
                    "priority": rng.choices(["low", "normal", "high", "urgent"], [2, 6, 2, 1])[0],
                    "queue_id": queue_id, "requester_id": rng.choice(people),
                    "assignee_id": rng.choice(staff_ids) if queue_id and rng.random() < 0.8 else None,
                    "external": {}, "created_at": created,
                    "updated_at": created + timedelta(hours=rng.random() * 48),
                    "first_response_due_at": created + timedelta(hours=queues[queue_id]) if queue_id else None,
                    "first_response_at": created + timedelta(hours=rng.random() * 12) if queue_id and answered else None,
                    "resolved_at": None,
                })
            ids = list(conn.execute(insert(Ticket).returning(Ticket.id, sort_by_parameter_order=True), batch).scalars())
            messages = [{"ticket_id": tid, "body": _text(rng, 25), "visibility": "public", "direction": "outbound",
                         "author_id": staff_ids[0], "created_at": now} for tid in ids if rng.random() < 0.35]
            if messages:
                conn.execute(insert(Message), messages)
            tagged = [{"ticket_id": tid, "tag_id": rng.choice(tag_ids), "created_at": now} for tid in ids
                      if rng.random() < 0.1]
            if tagged:
                conn.execute(insert(TicketTag), tagged)
            made += len(ids)
            progress(f"{made:,} tickets written")
        for statement in fulltext.backfill_statements(engine.dialect.name):
            conn.execute(text(statement))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))  # as autovacuum leaves a desk in use: visibility map and statistics
    with engine.connect() as conn:
        sample = list(conn.execute(select(Ticket.id).order_by(Ticket.id.desc()).limit(200)).scalars())
    engine.dispose()
    return {"sample": sample, "staff": "staff1"}


@contextlib.contextmanager
def _filled_database(reuse: str | None) -> Iterator[tuple[str, dict[str, object], float]]:
    """A new database filled with TICKETS tickets, or (``BENCH_LIST_DATABASE_URL``) one this bench filled before,
    so the pages can be timed again at a quieter moment without filling it again."""
    if reuse:
        from sqlalchemy import func

        from helpdesk.db import make_engine
        from helpdesk.tickets.models import Ticket

        engine = make_engine(reuse, pool=False)
        with engine.connect() as conn:
            count = conn.execute(select(func.count(Ticket.id))).scalar_one()
            sample = list(conn.execute(select(Ticket.id).order_by(Ticket.id.desc()).limit(200)).scalars())
        engine.dispose()
        global TICKETS
        TICKETS = count
        yield reuse, {"sample": sample, "staff": "staff1"}, 0.0
        return
    with bench_database("helpdesk_bench_lists", "postgresql") as url:
        progress(f"filling PostgreSQL with {TICKETS:,} tickets (Core INSERTs, then the search index)")
        started = time.perf_counter()
        filled = fill(url, TICKETS)
        yield url, filled, time.perf_counter() - started


def main() -> dict[str, float]:
    from helpdesk import create_app
    from helpdesk.config import Settings

    reuse = os.environ.get("BENCH_LIST_DATABASE_URL")
    with _filled_database(reuse) as (url, filled, fill_seconds):
        app = create_app(Settings(env="testing", database_url=url, secret_key="bench-secret-" + "x" * 40,
                                  auth="dev", rate_limit_enabled=False, log_level="WARNING", triage_enabled=False,
                                  incident_checks=False))
        engine = app.extensions["helpdesk"].engine
        statements: list[str] = []
        event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        client = app.test_client()
        page = client.get("/auth/login")
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True))
        assert token, "no CSRF token on the sign-in form"
        client.post("/auth/login", data={"login": filled["staff"], "csrf_token": token.group(1)})
        sample: list[int] = filled["sample"]  # type: ignore[assignment]
        pages = {
            "baseline /healthz": lambda i: "/healthz",
            "board /staff/": lambda i: "/staff/",
            "filtered list": lambda i: ("/staff/tickets?queue=" + ["butler", "catalogs", "accounts"][i % 3]
                                        + "&status=open&priority=high&sort=due"),
            "mine, last update": lambda i: "/staff/tickets?assignee=me&status=any&sort=updated",
            "search": lambda i: "/staff/tickets?status=any&q=" + ["calexp timeout", "deepCoadd", "qserv crash",
                                                                   "portal login"][i % 4],
            "search API": lambda i: "/api/v1/tickets?q=" + ["tract patch", "butler", "fits header"][i % 3],
            "page 20 (keyset)": None,
            "ticket page": lambda i: f"/staff/tickets/{sample[i % len(sample)]}",
        }
        # A deep page: follow next_cursor 20 times, then time that page.
        cursor_url = "/api/v1/tickets?status=any&limit=50"
        for _ in range(20):
            nxt = client.get(cursor_url).get_json()["next_cursor"]
            cursor_url = f"/api/v1/tickets?status=any&limit=50&cursor={nxt}"
        pages["page 20 (keyset)"] = lambda i: cursor_url
        results: dict[str, tuple[float, float, int, int | str]] = {}
        for name, make in pages.items():
            assert make is not None
            try:
                for i in range(5):
                    client.get(make(i))
            except Exception as exc:  # noqa: BLE001 - a page that fails is reported, the others still run
                results[name] = (0.0, 0.0, 0, f"{exc.__class__.__name__}: {exc}"[:100])
                progress(f"{name}: failed ({exc.__class__.__name__})")
                continue
            times, counts, status = [], [], 200
            for i in range(REQUESTS):
                statements.clear()
                began = time.perf_counter()
                response = client.get(make(i))
                times.append((time.perf_counter() - began) * 1000)
                counts.append(len(statements))
                if response.status_code != 200:
                    status = response.status_code
            results[name] = (statistics.median(times), percentile(times, 95), max(counts), status)
            progress(f"{name}: p50 {results[name][0]:.1f} ms")
        engine.dispose()

    filled_in = f"filled in {fill_seconds:.0f} s" if fill_seconds else "filled before"
    rows = [("database", f"PostgreSQL, {TICKETS:,} tickets ({filled_in})"),
            ("requests per page", f"{REQUESTS}, in-process WSGI, signed in as staff")]
    for name, (p50, p95, count, status) in results.items():
        if isinstance(status, str):
            rows.append((name, f"failed: {status}"))
            continue
        flag = "" if status == 200 else f"  HTTP {status}!"
        rows.append((name, f"p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  {count:2d} SQL statements{flag}"))
    report("Staff lists: board, filtered list, search, ticket page (target p95 < 100 ms)", rows)
    return {name: p95 for name, (_p50, p95, _c, _s) in results.items()}


if __name__ == "__main__":
    main()
