"""Shared benchmark machinery: a database per run, gunicorn servers, a baseline app, a load generator.

Every figure is relative: the helpdesk and the baseline run one after the other on the same machine,
the same database server and the same gunicorn settings, so the ratio means something even on a
busy or slow machine where the absolute numbers do not.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEFAULT_SERVER_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
#: Same for the helpdesk and the baseline: the comparison is only fair with identical settings.
GUNICORN_WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
GUNICORN_THREADS = int(os.environ.get("BENCH_THREADS", "4"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DatabaseUnavailableError(RuntimeError):
    """The benchmark asked for PostgreSQL and no server answered."""


def server_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL") or os.environ.get("HELPDESK_TEST_DATABASE_URL") or DEFAULT_SERVER_URL


def _sqlite_file(name: str) -> str:
    path = ROOT / "var" / f"{name}.sqlite3"
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


@contextlib.contextmanager
def bench_database(name: str, kind: str | None = None) -> Iterator[str]:
    """A fresh database for one benchmark, dropped after.

    ``kind`` None: PostgreSQL when a server answers, else SQLite. ``"sqlite"``: a fresh file under var/.
    ``"postgresql"``: a database on the server, or :class:`DatabaseUnavailableError`.
    """
    from helpdesk.db import make_engine

    if kind == "sqlite":
        yield _sqlite_file(name)
        return
    try:
        admin = make_engine(server_url(), pool=False).execution_options(isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure means: no PostgreSQL here
        if kind == "postgresql":
            raise DatabaseUnavailableError(f"PostgreSQL unavailable at {server_url()}: {exc.__class__.__name__}") \
                from exc
        print(f"  (PostgreSQL unavailable: {exc.__class__.__name__}; using SQLite)")
        yield _sqlite_file(name)
        return
    try:
        yield make_url(server_url()).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def helpdesk_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update({
        "HELPDESK_ENV": "testing",
        "HELPDESK_DATABASE_URL": database_url,
        "HELPDESK_SECRET_KEY": "bench-secret-" + "x" * 40,
        "HELPDESK_AUTH": "dev",
        "HELPDESK_LOG_LEVEL": "WARNING",
        "HELPDESK_RATE_LIMIT_ENABLED": "false",
        **extra,
    })
    return env


def helpdesk_cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([str(BIN / "helpdesk"), *args], env=env, capture_output=True, text=True, check=True)
    return result.stdout


def prepare_helpdesk(env: dict[str, str]) -> None:
    """Migrate the benchmark's database and load the queues, as `make run` does."""
    helpdesk_cli(env, "db", "upgrade")
    helpdesk_cli(env, "queues", "load")


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def gunicorn(app_spec: str, env: dict[str, str], ready_path: str = "/healthz", *,
             workers: int | None = None) -> Iterator[Server]:
    """Serve ``app_spec`` with gunicorn (gthread workers, ``workers`` processes) until the block ends."""
    port = free_port()
    # The server's errors go to a file, never to a pipe nobody reads: a full pipe blocks the app's logging (and
    # every thread waiting for the logging lock) the moment it logs more than 64 KiB.
    log_path = ROOT / "var" / f"bench-gunicorn-{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(workers or GUNICORN_WORKERS),
             "--worker-class", "gthread", "--threads", str(GUNICORN_THREADS), "--log-level", "warning", app_spec],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", ready_path)
            if conn.getresponse().status == 200:
                break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"gunicorn {app_spec} did not start: {log_path.read_text()[-2000:]}")
        time.sleep(0.2)
    try:
        yield Server(url, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        errors = log_path.read_text(errors="replace")
        if "Traceback" in errors:
            print(f"  (gunicorn {app_spec} logged errors; the last of them:)\n{errors[-1500:]}")
        log_path.unlink(missing_ok=True)


Request = tuple[str, str, bytes, dict[str, str]]  # method, path, body, headers


@dataclass
class LoadResult:
    sent: int
    acknowledged: int
    errors: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)

    @property
    def throughput(self) -> float:
        return self.acknowledged / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")

    @property
    def p99(self) -> float:
        return self.percentile(99)


def run_load(
    url: str, make_request: Callable[[int], Request], *, total: int, concurrency: int,
    rate: float | None = None, ok: frozenset[int] = frozenset({200, 201, 204}),
) -> LoadResult:
    """Send ``total`` requests over ``concurrency`` keep-alive connections, as fast as possible or at ``rate``/s.

    With a rate, requests are scheduled at fixed times and latency counts from the scheduled time, so a
    slow server cannot hide queueing (no coordinated omission).
    """
    host, port = url.removeprefix("http://").split(":")
    counter = iter(range(total))
    lock = threading.Lock()
    latencies: list[float] = []
    acknowledged = errors = 0
    start = time.perf_counter()

    def worker() -> None:
        nonlocal acknowledged, errors
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                break
            scheduled = start + index / rate if rate else time.perf_counter()
            if rate and (delay := scheduled - time.perf_counter()) > 0:
                time.sleep(delay)
            method, path, body, headers = make_request(index)
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                good = response.status in ok
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=30)
                good = False
            elapsed_ms = (time.perf_counter() - scheduled) * 1000
            with lock:
                if good:
                    acknowledged += 1
                    latencies.append(elapsed_ms)
                else:
                    errors += 1
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return LoadResult(total, acknowledged, errors, time.perf_counter() - start, latencies)


def json_request(path: str, payload: object, headers: dict[str, str] | None = None) -> Request:
    return "POST", path, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})}


def analyze(database_url: str, *, vacuum: bool = False) -> None:
    """Give the database's tables planner statistics, as autovacuum's autoanalyze (or the helpdesk worker where
    autovacuum is off) gives a desk in use: the helpdesk's own :func:`helpdesk.maintenance.analyze_all`, which
    commits it on SQLite; ``vacuum`` also sets PostgreSQL's visibility map first."""
    from helpdesk.db import make_engine
    from helpdesk.maintenance import analyze_all

    engine = make_engine(database_url, pool=False)
    try:
        if vacuum and engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM"))
        analyze_all(engine)
    finally:
        engine.dispose()


def count_rows(database_url: str, table: str) -> int:
    from helpdesk.db import make_engine

    engine = make_engine(database_url, pool=False)
    with engine.connect() as conn:
        count = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()  # noqa: S608 - our own table name
    engine.dispose()
    return count


@dataclass(frozen=True)
class Spread:
    """The median of a benchmark's rounds and their range: every round counts, none is picked."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    def format(self, spec: str = ".1f") -> str:
        if not self.values:
            return "n/a"
        return (f"{self.median:{spec}} (min {min(self.values):{spec}}, max {max(self.values):{spec}}, "
                f"n={len(self.values)})")


def report(title: str, rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    print(f"\n== {title}")
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")


def progress(label: str) -> None:
    print(f"  … {label}", flush=True)
