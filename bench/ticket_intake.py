"""Ticket intake through POST /api/v1/tickets under gunicorn, against the bare baseline endpoint.

Prints throughput for both, their ratio, latency percentiles, and acknowledged versus stored.
"""

from __future__ import annotations

import os
import uuid

from bench.harness import (
    GUNICORN_THREADS,
    GUNICORN_WORKERS,
    analyze,
    bench_database,
    count_rows,
    gunicorn,
    helpdesk_cli,
    helpdesk_env,
    json_request,
    prepare_helpdesk,
    progress,
    report,
    run_load,
)

TOTAL = int(os.environ.get("BENCH_REQUESTS", "2000"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
WARMUP = 100


def main() -> dict[str, float]:
    body = "A TAP query on dp02_dc2_catalogs.Object with a 0.1 degree cone times out after 30 s. " * 4

    with bench_database("helpdesk_bench_baseline") as url:
        progress("baseline: bare Flask endpoint storing one row per request")
        env = helpdesk_env(url)
        with gunicorn("bench.baseline_app:create_app()", env) as server:
            make = lambda i: json_request("/store", {"subject": f"ticket {i}", "body": body})  # noqa: E731
            run_load(server.url, make, total=WARMUP, concurrency=CONCURRENCY)
            analyze(url)  # as autovacuum leaves a database in use (bench.harness.analyze)
            baseline = run_load(server.url, make, total=TOTAL, concurrency=CONCURRENCY)
        baseline_stored = count_rows(url, "bench_row") - WARMUP

    with bench_database("helpdesk_bench_intake") as url:
        progress("helpdesk: POST /api/v1/tickets with a bearer token and an Idempotency-Key")
        env = helpdesk_env(url)
        prepare_helpdesk(env)
        token = helpdesk_cli(env, "staff", "create", "bench", "--role", "staff", "--token").strip().splitlines()[-1]
        run_id = uuid.uuid4().hex[:8]

        def make(i: int):  # type: ignore[no-untyped-def]
            return json_request("/api/v1/tickets", {"subject": f"ticket {i}", "body": body}, {
                "Authorization": f"Bearer {token}", "Idempotency-Key": f"{run_id}-{i}"})

        with gunicorn("helpdesk:create_app()", env) as server:
            run_load(server.url, lambda i: make(TOTAL + i), total=WARMUP, concurrency=CONCURRENCY)
            analyze(url)
            helpdesk = run_load(server.url, make, total=TOTAL, concurrency=CONCURRENCY)
        stored = count_rows(url, "ticket") - WARMUP
        # The same requests with triage off: the cost of sorting at intake, against the same baseline.
        progress("helpdesk again with HELPDESK_TRIAGE_ENABLED=false")
        untriaged_env = {**env, "HELPDESK_TRIAGE_ENABLED": "false"}
        with gunicorn("helpdesk:create_app()", untriaged_env) as server:
            run_load(server.url, lambda i: make(3 * TOTAL + i), total=WARMUP, concurrency=CONCURRENCY)
            untriaged = run_load(server.url, lambda i: make(4 * TOTAL + i), total=TOTAL, concurrency=CONCURRENCY)

    ratio = helpdesk.throughput / baseline.throughput if baseline.throughput else 0.0
    report("Ticket intake (POST /api/v1/tickets) vs bare Flask + one INSERT", [
        ("database", url.split(":")[0]),
        ("gunicorn", f"{GUNICORN_WORKERS} workers x {GUNICORN_THREADS} threads (gthread), same for both"),
        ("requests / concurrency", f"{TOTAL} / {CONCURRENCY}"),
        ("baseline throughput", f"{baseline.throughput:8.1f} req/s  p50 {baseline.p50:6.1f} ms  p99 {baseline.p99:6.1f} ms"),
        ("helpdesk throughput", f"{helpdesk.throughput:8.1f} req/s  p50 {helpdesk.p50:6.1f} ms  p99 {helpdesk.p99:6.1f} ms"
                                "  (triage on)"),
        ("ratio helpdesk/baseline", f"{ratio:.2f}  (triage on)"),
        ("without triage", f"{untriaged.throughput:8.1f} req/s  p50 {untriaged.p50:6.1f} ms  p99 {untriaged.p99:6.1f} ms"
                           f"  ratio {untriaged.throughput / baseline.throughput if baseline.throughput else 0:.2f}"),
        ("baseline acknowledged/stored", f"{baseline.acknowledged}/{baseline_stored}  errors {baseline.errors}"),
        ("helpdesk acknowledged/stored", f"{helpdesk.acknowledged}/{stored}  errors {helpdesk.errors}"),
    ])
    return {"ratio": ratio, "ratio_without_triage": untriaged.throughput / baseline.throughput if baseline.throughput else 0.0, "helpdesk_rps": helpdesk.throughput, "baseline_rps": baseline.throughput}


if __name__ == "__main__":
    main()
