"""The staff workspace and the API at a million tickets: the board, every list filter and sort, deep keyset pages,
one ticket, the queue summaries, search and /metrics, p50/p95 and SQL statements per page, beside /healthz.

Shape (issue #12): six queues, every status (about 10 % open), 20,000 requesters, 1-5 messages per ticket, the
full-text table filled from them, then ``ANALYZE`` (as autovacuum would leave a desk in use). The rows are made by
the database itself in a few ``INSERT ... SELECT`` statements over ``generate_series`` (PostgreSQL) or a
recursive CTE (SQLite), from a pool of 4,096 random texts, so 10**6 tickets load in minutes, not through the API
(that would measure intake). The schema is the models' (``create_all``; the drift check keeps it equal to the
migrations').

Settings (environment):

``HELPDESK_BENCH_TICKETS``  tickets to load (default 20,000 so ``make bench`` stays short; the performance page
                            reports 1,000,000 on PostgreSQL and 100,000 on SQLite)
``HELPDESK_BENCH_DB``       ``postgresql`` (default, SQLite when no server answers) or ``sqlite``
``HELPDESK_BENCH_REQUESTS`` requests per page (default 60) after 5 warm-ups, through the WSGI app in this process,
                            signed in as staff
``HELPDESK_BENCH_REUSE``    a database URL this bench filled before: time it again without filling
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from sqlalchemy import event, func, insert, select, text

from bench.harness import analyze, bench_database, progress, report

TICKETS = int(os.environ.get("HELPDESK_BENCH_TICKETS", "20000"))
REQUESTS = int(os.environ.get("HELPDESK_BENCH_REQUESTS", "60"))
KIND = os.environ.get("HELPDESK_BENCH_DB") or None
REQUESTERS = 20_000
#: The extended statistics migration 0014_list_indexes makes on PostgreSQL (create_all knows only the indexes).
STATISTICS = "CREATE STATISTICS IF NOT EXISTS st_ticket_queue_status (dependencies, mcv) ON queue_id, status FROM ticket"
STAFF = 12
POOL = 4096
WORDS = ["butler", "calexp", "deepCoadd", "tap", "adql", "query", "timeout", "object", "table", "portal", "login",
         "notebook", "jupyter", "kernel", "qserv", "cutout", "image", "visit", "detector", "collection", "registry",
         "dataset", "refcat", "photometry", "astrometry", "source", "forcedSource", "truth", "match", "schema",
         "column", "error", "exception", "traceback", "memory", "crash", "slow", "fails", "missing", "empty",
         "permission", "token", "github", "account", "password", "rsp", "aspire", "lsst", "dp0", "cone", "search",
         "magnitude", "flux", "coadd", "tract", "patch", "band", "filter", "skymap", "wcs", "header", "fits",
         "download", "upload", "galaxy", "star", "redshift", "variability", "lightcurve", "diaSource", "template"]

# Status by h % 1000 (every status, about 10 % open), queue by another hash (one in a hundred unsorted).
_STATUS = ("CASE WHEN {h} < 10 THEN 'new' WHEN {h} < 30 THEN 'triaged' WHEN {h} < 70 THEN 'in_progress' "
           "WHEN {h} < 100 THEN 'waiting_on_user' WHEN {h} < 300 THEN 'resolved' ELSE 'closed' END")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _ticket_sql(dialect: str, count: int, queue_ids: list[int], first: int, requester0: int, staff0: int) -> str:
    """One INSERT ... SELECT of ``count`` tickets numbered from 1, all columns from hashes of the number."""
    pg = dialect == "postgresql"
    series = (f"generate_series(1::bigint, {count}) AS s(g)" if pg else
              f"(WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {count}) SELECT g FROM s) s")  # noqa: S608
    hs = "((g * 7919) % 1000)"
    hq = "((g * 104729) % 100)"
    status = _STATUS.format(h=hs)
    # Weighted queues: the first takes most, as a real desk's busiest queue does.
    shares = [30, 25, 15, 12, 10, 7]
    parts, edge = [], 1
    for queue_id, share in zip(queue_ids, shares, strict=False):
        edge += share
        parts.append(f"WHEN {hq} < {edge} THEN {queue_id}")
    queue = f"CASE WHEN {hq} < 1 OR {hs} < 10 THEN NULL {' '.join(parts)} ELSE {queue_ids[0]} END"
    minutes = f"(({count} - g) * 525600.0 / {count})"  # the last year, oldest first

    def at(offset: str) -> str:
        if pg:
            return f"(now() - interval '1 minute' * {minutes} + {offset})"
        return f"strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || {minutes} || ' minutes', {offset})"

    hours = (lambda n: f"interval '1 hour' * {n}") if pg else (lambda n: f"'+' || ({n}) || ' hours'")
    zero = "interval '0'" if pg else "'+0 hours'"
    open_ = f"{hs} < 100"
    answered = f"({hs} >= 70 OR (g % 3) = 0)"
    assignee = f"CASE WHEN {queue} IS NOT NULL AND (g % 5) <> 0 THEN {staff0} + (g % {STAFF}) END"
    columns = {
        "id": f"{first - 1} + g",
        "subject": "substr(p1.words, 1, 80)",
        "body": "p2.words",
        "source": "CASE g % 4 WHEN 0 THEN 'slack' WHEN 1 THEN 'discourse' WHEN 2 THEN 'web' ELSE 'api' END",
        "status": status,
        "priority": "CASE (g * 31) % 11 WHEN 0 THEN 'urgent' WHEN 1 THEN 'high' WHEN 2 THEN 'high' "
                    "WHEN 3 THEN 'low' WHEN 4 THEN 'low' ELSE 'normal' END",
        "queue_id": queue,
        "requester_id": f"{requester0} + ((g * 6007) % {REQUESTERS})",
        "assignee_id": assignee,
        "external": "'{}'",
        "created_at": at(zero),
        "updated_at": at(hours("(g % 48)")),
        "first_response_due_at": f"CASE WHEN {queue} IS NOT NULL THEN {at(hours('24'))} END",
        "first_response_at": f"CASE WHEN {queue} IS NOT NULL AND {answered} THEN {at(hours('(g % 12)'))} END",
        "resolved_at": f"CASE WHEN NOT ({open_}) THEN {at(hours('(g % 96)'))} END",
    }
    if pg:
        columns["external"] = "'{}'::json"
    names = ", ".join(columns)
    values = ", ".join(columns.values())
    return (f"INSERT INTO ticket ({names}) SELECT {values} FROM {series} "  # noqa: S608 - numbers and our SQL
            f"JOIN bench_pool p1 ON p1.n = (g * 17) % {POOL} JOIN bench_pool p2 ON p2.n = (g * 23 + 7) % {POOL}")


def _message_sql(dialect: str, first: int, last: int, staff0: int) -> str:
    """1-5 messages per ticket (3 on average): replies, internal notes and follow-ups."""
    pg = dialect == "postgresql"
    k = ("generate_series(1, 5) AS k(k)" if pg else
         "(WITH RECURSIVE k(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM k WHERE k < 5) SELECT k FROM k) k")
    created = ("t.created_at + interval '1 hour' * k.k" if pg else
               "strftime('%Y-%m-%d %H:%M:%f', t.created_at, '+' || k.k || ' hours')")
    return (
        "INSERT INTO message (ticket_id, author_id, body, visibility, direction, created_at) "
        f"SELECT t.id, CASE WHEN k.k % 2 = 0 THEN {staff0} + (t.id % {STAFF}) ELSE t.requester_id END, "
        "substr(p.words, 1, 160), CASE WHEN (t.id + k.k) % 7 = 0 THEN 'internal' ELSE 'public' END, "
        "CASE WHEN k.k % 2 = 0 THEN 'outbound' ELSE 'inbound' END, " + created + " "
        f"FROM ticket t CROSS JOIN {k} JOIN bench_pool p ON p.n = (t.id * 13 + k.k * 101) % {POOL} "
        f"WHERE t.id BETWEEN {first} AND {last} AND k.k <= 1 + (t.id * 37) % 5"
    )


def fill(url: str, count: int) -> dict[str, object]:
    """Schema, six queues, staff, 20,000 requesters and ``count`` tickets with messages and their search index."""
    from sqlalchemy.orm import Session

    import helpdesk.models  # noqa: F401 - every table
    from helpdesk.accounts.models import Identity, Person, Provider, Role
    from helpdesk.db import Base, make_engine
    from helpdesk.tickets import fulltext
    from helpdesk.tickets.models import Queue
    from helpdesk.tickets.queues import load_queue_config, sync_queues

    engine = make_engine(url, pool=False)
    dialect = engine.dialect.name
    Base.metadata.create_all(engine)
    if dialect == "postgresql":  # what migration 0014 adds beside the models' indexes
        with engine.begin() as conn:
            conn.execute(text(STATISTICS))
    rng = random.Random(20261201)
    now = datetime.now(UTC)
    timings: dict[str, float] = {}
    with engine.begin() as conn:
        with Session(bind=conn) as session:
            sync_queues(session, load_queue_config())
            session.flush()
        queue_ids = list(conn.execute(select(Queue.id).order_by(Queue.position, Queue.id)).scalars())
        staff = []
        for i in range(STAFF):
            pid = conn.execute(insert(Person).values(display_name=f"staff{i}", role=Role.ADMIN if i == 0 else Role.STAFF,
                                                      created_at=now).returning(Person.id)).scalar_one()
            conn.execute(insert(Identity).values(person_id=pid, provider=Provider.GITHUB, external_id=f"login:staff{i}",
                                                 username=f"staff{i}", created_at=now))
            staff.append(pid)
        assert staff == list(range(staff[0], staff[0] + STAFF)), "staff ids not consecutive"
        requesters = list(conn.execute(insert(Person).returning(Person.id, sort_by_parameter_order=True), [
            {"display_name": f"delegate{j}", "role": Role.USER, "created_at": now} for j in range(REQUESTERS)])
            .scalars())
        assert requesters == list(range(requesters[0], requesters[0] + REQUESTERS)), "requester ids not consecutive"
        conn.execute(text("CREATE TEMPORARY TABLE bench_pool (n INTEGER PRIMARY KEY, words TEXT NOT NULL)"))
        conn.execute(text("INSERT INTO bench_pool (n, words) VALUES (:n, :w)"), [
            {"n": n, "w": " ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 40))).capitalize()}
            for n in range(POOL)])
        started = time.perf_counter()
        conn.execute(text(_ticket_sql(dialect, count, queue_ids, 1, requesters[0], staff[0])))
        timings["tickets"] = time.perf_counter() - started
        progress(f"{count:,} tickets in {timings['tickets']:.0f} s")
        started = time.perf_counter()
        step = 200_000
        for first in range(1, count + 1, step):
            conn.execute(text(_message_sql(dialect, first, min(count, first + step - 1), staff[0])))
        timings["messages"] = time.perf_counter() - started
        progress(f"messages in {timings['messages']:.0f} s")
        if dialect == "postgresql":
            for name in ("ticket", "message", "person"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "  # noqa: S608
                                  f"(SELECT max(id) FROM {name}))"))
        started = time.perf_counter()
        for statement in fulltext.backfill_statements(dialect):
            conn.execute(text(statement))
        timings["search index"] = time.perf_counter() - started
        progress(f"search index in {timings['search index']:.0f} s")
        conn.execute(text("DROP TABLE bench_pool"))
    started = time.perf_counter()
    analyze(engine.url.render_as_string(hide_password=False), vacuum=True)
    timings["analyze"] = time.perf_counter() - started
    with engine.connect() as conn:
        messages = conn.execute(text("SELECT count(*) FROM message")).scalar_one()
    engine.dispose()
    return {"timings": timings, "messages": messages}


@contextlib.contextmanager
def _database() -> Iterator[tuple[str, dict[str, object]]]:
    reuse = os.environ.get("HELPDESK_BENCH_REUSE")
    if reuse:
        yield reuse, {"timings": {}, "messages": None}
        return
    with bench_database("helpdesk_bench_million", KIND) as url:
        progress(f"filling {url.split(':')[0]} with {TICKETS:,} tickets (INSERT ... SELECT, then the search index)")
        yield url, fill(url, TICKETS)


def _pages(client: object, ids: dict[str, object]) -> dict[str, Callable[[int], str]]:
    queues = ["accounts", "science-platform", "catalogs", "butler", "pipelines", "general"]
    searches = ["calexp timeout", "deepCoadd", "qserv crash", "portal login", "tract patch", "butler registry"]
    tickets: list[int] = ids["tickets"]  # type: ignore[assignment]
    pages: dict[str, Callable[[int], str]] = {
        "baseline /healthz": lambda i: "/healthz",
        "board /staff/": lambda i: "/staff/",
        "board, one queue": lambda i: f"/staff/?queue={queues[i % 6]}",
        "list: any status": lambda i: "/staff/tickets?status=any",
        "list: closed": lambda i: "/staff/tickets?status=closed",
        "list: queue + status": lambda i: f"/staff/tickets?queue={queues[i % 6]}&status={['open', 'closed'][i % 2]}",
        "list: unsorted, closed": lambda i: "/staff/tickets?queue=unsorted&status=closed",
        "list: unsorted (open)": lambda i: "/staff/tickets?queue=unsorted",
        "list: assignee me": lambda i: "/staff/tickets?assignee=me&status=any",
        "list: assignee none": lambda i: "/staff/tickets?assignee=none",
        "list: priority urgent": lambda i: "/staff/tickets?priority=urgent&status=any",
        "list: source slack": lambda i: "/staff/tickets?source=slack&status=any",
        "list: tag": lambda i: "/staff/tickets?tag=tap&status=any",
        "list: sla breached": lambda i: "/staff/tickets?sla=breached",
        "list: sla due_soon": lambda i: "/staff/tickets?sla=due_soon",
        "sort: oldest": lambda i: "/staff/tickets?status=any&sort=oldest",
        "sort: updated": lambda i: "/staff/tickets?status=any&sort=updated",
        "sort: due": lambda i: f"/staff/tickets?queue={queues[i % 6]}&sort=due",
        "sort: updated, queue": lambda i: f"/staff/tickets?queue={queues[i % 6]}&status=any&sort=updated",
        "deep page: newest": lambda i: f"/staff/tickets?status=any&cursor={ids['deep_newest'][i % 3]}",
        "deep page: updated": lambda i: f"/staff/tickets?status=any&sort=updated&cursor={ids['deep_updated'][i % 3]}",
        "deep page: API": lambda i: f"/api/v1/tickets?status=any&limit=50&cursor={ids['deep_api'][i % 3]}",
        "API list, queue filter": lambda i: f"/api/v1/tickets?queue={queues[i % 6]}&status=resolved&limit=50",
        "search (console)": lambda i: f"/staff/tickets?status=any&q={searches[i % 6]}",
        "search, open (console)": lambda i: f"/staff/tickets?q={searches[i % 6]}",
        "search (API)": lambda i: f"/api/v1/tickets?status=any&q={searches[i % 6]}",
        "ticket page": lambda i: f"/staff/tickets/{tickets[i % len(tickets)]}",
        "ticket page, first view": lambda i: f"/staff/tickets/{ids['unseen'][i]}",
        "ticket (API)": lambda i: f"/api/v1/tickets/{tickets[i % len(tickets)]}",
        "queue summaries (API)": lambda i: "/api/v1/queues",
        "/metrics": lambda i: "/metrics",
    }
    return pages


def _ids(url: str) -> dict[str, object]:
    """Tickets to open (open and closed, old and new) and cursors into the middle of the table."""
    from sqlalchemy.orm import Session

    from helpdesk.db import make_engine
    from helpdesk.tickets.listing import encode_cursor
    from helpdesk.tickets.models import Ticket

    engine = make_engine(url, pool=False)
    with Session(engine) as session:
        total = session.scalar(select(func.max(Ticket.id))) or 0
        tickets = [max(1, total * k // 40) for k in range(1, 41)]
        # Never opened before (also when timing a database filled before): the view that scores duplicates.
        offset = int(time.time()) % 997
        # Spread over the table and shifted by the offset, wrapping at the end (at a small size the shift would
        # otherwise run past the last ticket: a 404 timed as a page).
        unseen = [1 + ((total * k) // (REQUESTS + 7) + offset) % max(total, 1) for k in range(1, REQUESTS + 6)]
        middle = [session.get(Ticket, max(1, total * k // 4)) for k in (1, 2, 3)]
        result = {
            "total": total, "tickets": tickets, "unseen": unseen,
            "deep_newest": [encode_cursor("newest", True, t) for t in middle],
            "deep_updated": [encode_cursor("updated", True, t) for t in middle],
            "deep_api": [_api_cursor(t.id) for t in middle],
        }
    engine.dispose()
    return result


def _api_cursor(ticket_id: int) -> str:
    from helpdesk.tickets.listing import encode_cursor

    class _Edge:
        id = ticket_id

    return encode_cursor("newest", True, _Edge)  # type: ignore[arg-type]


def main() -> dict[str, float]:
    from helpdesk import create_app
    from helpdesk.config import Settings

    with _database() as (url, filled):
        ids = _ids(url)
        app = create_app(Settings(env="testing", database_url=url, secret_key="bench-secret-" + "x" * 40,
                                  auth="dev", rate_limit_enabled=False, log_level="ERROR", triage_enabled=False))
        engine = app.extensions["helpdesk"].engine
        dialect = engine.dialect.name
        statements: list[str] = []
        event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        client = app.test_client()
        page = client.get("/auth/login")
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True))
        assert token, "no CSRF token on the sign-in form"
        client.post("/auth/login", data={"login": "staff1", "csrf_token": token.group(1)})
        results: dict[str, tuple[float, float, int, int | str]] = {}
        for name, make in _pages(client, ids).items():
            try:
                # Warm-up; the ticket page's once all its tickets (their first view scores duplicates, timed apart).
                for i in range(len(ids["tickets"]) if name == "ticket page" else 5):  # type: ignore[arg-type]
                    client.get(make(i))
            except Exception as exc:  # noqa: BLE001 - a page that fails is reported, the others still run
                results[name] = (0.0, 0.0, 0, f"{exc.__class__.__name__}: {exc}"[:100])
                continue
            times, counts, status = [], [], 200
            for i in range(5, REQUESTS + 5):
                statements.clear()
                began = time.perf_counter()
                response = client.get(make(i))
                times.append((time.perf_counter() - began) * 1000)
                counts.append(len(statements))
                if response.status_code != 200:
                    status = response.status_code
            results[name] = (statistics.median(times), percentile(times, 95), max(counts), status)
        engine.dispose()

    timings: dict[str, float] = filled["timings"]  # type: ignore[assignment]
    load = ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()) or "filled before"
    rows = [("database", f"{dialect}, {ids['total']:,} tickets, {filled['messages'] or '?'} messages, "
                         f"{REQUESTERS:,} requesters"),
            ("load", load),
            ("requests per page", f"{REQUESTS} after 5 warm-ups, in-process WSGI, signed in as staff")]
    for name, (p50, p95, count, status) in results.items():
        if isinstance(status, str):
            rows.append((name, f"failed: {status}"))
            continue
        flag = "" if status == 200 else f"  HTTP {status}!"
        over = "  OVER 100 ms" if p95 >= 100 else ""
        rows.append((name, f"p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  {count:2d} SQL{flag}{over}"))
    report(f"Workspace at {ids['total']:,} tickets on {dialect} (target p95 < 100 ms, /healthz the floor)", rows)
    return {name: p95 for name, (_p50, p95, _c, _s) in results.items()}


if __name__ == "__main__":
    main()
