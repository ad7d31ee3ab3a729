"""Signed Slack event intake (POST /integrations/slack/events) under gunicorn, against the bare baseline.

For SQLite and for PostgreSQL (each in its own block, the same lines every time):

1. the baseline (bare Flask, one INSERT per request), the helpdesk (triage after the acknowledgement, in the
   worker: the default) and the helpdesk sorting inside the request (HELPDESK_TRIAGE_IN_WORKER=false), all
   served at once under the same gunicorn settings, loaded one after the other for ``BENCH_ROUNDS`` rounds
   (the order turns each round). Every helpdesk request is a distinct, freshly signed ``event_callback`` for
   a message in a support channel, so each one files a ticket. The 500 requesters are known after the
   warm-up (a first-time requester costs the person's rows besides). Each round's ratio is against the
   baseline of the same round; the median and the range of the rounds are printed, none is dropped.
   After the warm-up both databases are analysed, as autovacuum (or the helpdesk worker, where autovacuum is
   off) leaves a desk in use: without statistics PostgreSQL keeps, per connection, foreign-key check plans
   made while the tables were empty (sequential scans), and every new ticket then costs more than the last;
2. the helpdesk paced at half of its median peak (latency counted from the scheduled send time), for the
   p99 acknowledgement time;
3. the tickets counted: every acknowledged event must be stored.

Then, on PostgreSQL, intake with one and with two gunicorn processes (each against a baseline with as many).
Targets (issue #12): ratio >= 0.70 on each database, p99 < 100 ms at half of peak, acknowledged == stored.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk.signature import SignatureVerifier

from bench.harness import (
    GUNICORN_THREADS,
    GUNICORN_WORKERS,
    DatabaseUnavailableError,
    LoadResult,
    Request,
    Server,
    Spread,
    analyze,
    bench_database,
    count_rows,
    gunicorn,
    helpdesk_env,
    json_request,
    prepare_helpdesk,
    progress,
    report,
    run_load,
)

TOTAL = int(os.environ.get("BENCH_REQUESTS", "2000"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
PACED_SECONDS = float(os.environ.get("BENCH_PACED_SECONDS", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
SCALE_ROUNDS = int(os.environ.get("BENCH_SCALE_ROUNDS", "3"))
DATABASES = [d for d in os.environ.get("BENCH_SLACK_DATABASES", "sqlite,postgresql").split(",") if d]
REQUESTERS = 500
WARMUP = REQUESTERS
TARGET_RATIO = 0.70
TARGET_P99_MS = 100.0
SECRET = "bench-slack-signing-secret"  # noqa: S105 - a throwaway secret for the benchmark
CHANNEL = "C0SUPPORT"
SIGNER = SignatureVerifier(SECRET)  # Slack's own v0 signing, from the SDK the helpdesk verifies with
TEXT = "My TAP query on dp02_dc2_catalogs.Object with a 0.1 degree cone times out after 30 s. What limits apply?"
BASELINE_BODY = TEXT * 2


def slack_event(run_id: str, index: int) -> Request:
    """One distinct message event, signed now (Slack's v0 scheme) so it is inside the five-minute window."""
    ts = f"{1_700_000_000 + index}.{index % 1_000_000:06d}"
    payload = {
        "token": "bench", "team_id": "T0BENCH", "api_app_id": "A0BENCH", "type": "event_callback",
        "event_id": f"Ev{run_id}{index:08d}", "event_time": int(time.time()), "authed_users": ["U0BENCH"],
        "event": {"type": "message", "channel": CHANNEL, "channel_type": "channel",
                  "user": f"U{index % REQUESTERS:05d}", "text": TEXT, "ts": ts, "event_ts": ts, "team": "T0BENCH",
                  "client_msg_id": str(uuid.UUID(int=index))},
    }
    body = json.dumps(payload, separators=(",", ":")).encode()
    stamp = str(int(time.time()))
    signature = SIGNER.generate_signature(timestamp=stamp, body=body)
    return "POST", "/integrations/slack/events", body, {
        "Content-Type": "application/json", "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature,
    }


def baseline_request(index: int) -> Request:
    return json_request("/store", {"subject": f"event {index}", "body": BASELINE_BODY})


class Events:
    """Distinct signed events for one helpdesk database, counted as they are acknowledged."""

    def __init__(self) -> None:
        self.run_id = uuid.uuid4().hex[:6]
        self.offset = 0
        self.acknowledged = self.errors = 0

    def load(self, server: Server, total: int, **kwargs: object) -> LoadResult:
        start = self.offset
        self.offset += total
        result = run_load(server.url, lambda i: slack_event(self.run_id, start + i), total=total, **kwargs)
        self.acknowledged += result.acknowledged
        self.errors += result.errors
        return result


@dataclass
class Rounds:
    baseline: list[LoadResult]
    helpdesk: list[LoadResult]
    in_request: list[LoadResult]

    def ratios(self, runs: list[LoadResult]) -> Spread:
        return Spread(tuple(r.throughput / b.throughput if b.throughput else 0.0 for r, b in zip(runs, self.baseline, strict=True)))


def throughput(runs: list[LoadResult]) -> Spread:
    return Spread(tuple(r.throughput for r in runs))


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def alternate(rounds: int, loads: list[Callable[[], None]]) -> None:
    """Run each load once per round, the order turning by one each round (no load always goes first)."""
    for round_no in range(rounds):
        progress(f"round {round_no + 1}/{rounds}")
        turn = round_no % len(loads)
        for load in loads[turn:] + loads[:turn]:
            load()


def create_baseline_table(database_url: str) -> None:
    """The baseline's table, made before its gunicorn workers start: each worker's own ``create_all`` then finds it,
    where two of them creating it at the same moment on PostgreSQL can collide (``type "bench_row" already
    exists``) and leave the baseline failing every request."""
    from sqlalchemy import inspect

    from bench.baseline_app import Base
    from helpdesk.db import make_engine

    engine = make_engine(database_url, pool=False)
    Base.metadata.create_all(engine)
    assert inspect(engine).has_table("bench_row")
    engine.dispose()


def measure(kind: str) -> dict[str, float]:
    """One database's block: rounds at full speed, the paced run, the count."""
    with bench_database(f"helpdesk_bench_slack_base_{kind}", kind) as base_url, \
            bench_database(f"helpdesk_bench_slack_{kind}", kind) as url:
        env = helpdesk_env(url, HELPDESK_SLACK_SIGNING_SECRET=SECRET, HELPDESK_SLACK_CHANNEL_IDS=CHANNEL)
        prepare_helpdesk(env)
        create_baseline_table(base_url)
        events = Events()
        rounds = Rounds([], [], [])
        progress(f"{kind}: baseline, helpdesk and helpdesk triaging in the request, {ROUNDS} rounds of {TOTAL}")
        with gunicorn("bench.baseline_app:create_app()", helpdesk_env(base_url)) as base, \
                gunicorn("helpdesk:create_app()", env) as desk, \
                gunicorn("helpdesk:create_app()", {**env, "HELPDESK_TRIAGE_IN_WORKER": "false"}) as in_request:
            run_load(base.url, baseline_request, total=WARMUP, concurrency=CONCURRENCY)
            events.load(desk, WARMUP, concurrency=CONCURRENCY)
            events.load(in_request, WARMUP // 5, concurrency=CONCURRENCY)
            analyze(url), analyze(base_url)
            alternate(ROUNDS, [
                lambda: rounds.baseline.append(run_load(base.url, baseline_request, total=TOTAL,
                                                        concurrency=CONCURRENCY)),
                lambda: rounds.helpdesk.append(events.load(desk, TOTAL, concurrency=CONCURRENCY)),
                lambda: rounds.in_request.append(events.load(in_request, TOTAL, concurrency=CONCURRENCY)),
            ])
            peak = throughput(rounds.helpdesk).median
            rate = max(1.0, peak / 2)
            paced_total = max(50, int(rate * PACED_SECONDS))
            progress(f"{kind}: helpdesk paced at half of peak ({rate:.0f} events/s for {paced_total} events)")
            paced = events.load(desk, paced_total, concurrency=CONCURRENCY * 2, rate=rate)
        stored = count_rows(url, "ticket")
        ledger = count_rows(url, "inbound_delivery")

    ratio = rounds.ratios(rounds.helpdesk)
    in_request_ratio = rounds.ratios(rounds.in_request)
    p50s = Spread(tuple(r.p50 for r in rounds.helpdesk))
    p99s = Spread(tuple(r.p99 for r in rounds.helpdesk))
    report(f"Signed Slack event intake vs bare Flask + one INSERT: {kind}", [
        ("gunicorn", f"{GUNICORN_WORKERS} workers x {GUNICORN_THREADS} threads (gthread), same for all"),
        ("rounds", f"{ROUNDS} x {TOTAL} requests, {CONCURRENCY} in flight; median (min, max) over the rounds"),
        ("baseline events/s", throughput(rounds.baseline).format()),
        ("helpdesk events/s", throughput(rounds.helpdesk).format()),
        ("ratio helpdesk/baseline", f"{ratio.format('.2f')}  target >= {TARGET_RATIO:.2f}: "
                                    f"{verdict(ratio.median >= TARGET_RATIO)}"),
        ("helpdesk latency at peak", f"p50 {p50s.format()} ms; p99 {p99s.format()} ms"),
        ("triage in request: ev/s", throughput(rounds.in_request).format()),
        ("triage in request: ratio", in_request_ratio.format(".2f")),
        ("paced at half of peak", f"{rate:.1f} ev/s  p50 {paced.p50:.1f} ms  p99 {paced.p99:.1f} ms  "
                                  f"target p99 < {TARGET_P99_MS:.0f} ms: {verdict(paced.p99 < TARGET_P99_MS)}"),
        ("acknowledged / stored", f"{events.acknowledged}/{stored}  errors {events.errors}  ledger rows {ledger}  "
                                  f"{verdict(stored == events.acknowledged)}"),
    ])
    return {"ratio": ratio.median, "ratio_min": min(ratio.values), "ratio_max": max(ratio.values),
            "in_request_ratio": in_request_ratio.median, "p99_ms": paced.p99,
            "acknowledged": events.acknowledged, "stored": stored}


def scale_out() -> dict[str, float]:
    """PostgreSQL: one gunicorn process against two, each beside a baseline with as many processes."""
    results: dict[int, Rounds] = {}
    with bench_database("helpdesk_bench_scale_base", "postgresql") as base_url, \
            bench_database("helpdesk_bench_scale", "postgresql") as url:
        env = helpdesk_env(url, HELPDESK_SLACK_SIGNING_SECRET=SECRET, HELPDESK_SLACK_CHANNEL_IDS=CHANNEL)
        prepare_helpdesk(env)
        create_baseline_table(base_url)
        events = Events()
        progress(f"postgresql: 1 and 2 app processes x {GUNICORN_THREADS} threads, {SCALE_ROUNDS} rounds")
        with gunicorn("bench.baseline_app:create_app()", helpdesk_env(base_url), workers=1) as base1, \
                gunicorn("bench.baseline_app:create_app()", helpdesk_env(base_url), workers=2) as base2, \
                gunicorn("helpdesk:create_app()", env, workers=1) as desk1, \
                gunicorn("helpdesk:create_app()", env, workers=2) as desk2:
            events.load(desk2, WARMUP, concurrency=CONCURRENCY)
            events.load(desk1, WARMUP // 5, concurrency=CONCURRENCY)
            analyze(url), analyze(base_url)
            loads = []
            for processes, base, desk in ((1, base1, desk1), (2, base2, desk2)):
                run_load(base.url, baseline_request, total=WARMUP // 5, concurrency=CONCURRENCY)
                rounds = results[processes] = Rounds([], [], [])
                loads += [
                    lambda b=base, r=rounds: r.baseline.append(
                        run_load(b.url, baseline_request, total=TOTAL, concurrency=CONCURRENCY)),
                    lambda d=desk, r=rounds: r.helpdesk.append(events.load(d, TOTAL, concurrency=CONCURRENCY)),
                ]
            alternate(SCALE_ROUNDS, loads)
        stored = count_rows(url, "ticket")
    one, two = throughput(results[1].helpdesk), throughput(results[2].helpdesk)
    gains = Spread(tuple(b.throughput / a.throughput if a.throughput else 0.0
                         for a, b in zip(results[1].helpdesk, results[2].helpdesk, strict=True)))
    report("Slack intake with one and with two app processes: postgresql", [
        ("gunicorn", f"1 or 2 processes x {GUNICORN_THREADS} threads (gthread), the baseline likewise"),
        ("rounds", f"{SCALE_ROUNDS} x {TOTAL} requests, {CONCURRENCY} in flight; median (min, max) over the rounds"),
        ("1 process: baseline events/s", throughput(results[1].baseline).format()),
        ("1 process: helpdesk events/s", f"{one.format()}  ratio {results[1].ratios(results[1].helpdesk).format('.2f')}"),
        ("2 processes: baseline events/s", throughput(results[2].baseline).format()),
        ("2 processes: helpdesk events/s", f"{two.format()}  ratio {results[2].ratios(results[2].helpdesk).format('.2f')}"),
        ("helpdesk 2 processes / 1", gains.format(".2f")),
        ("acknowledged / stored", f"{events.acknowledged}/{stored}  errors {events.errors}  "
                                  f"{verdict(stored == events.acknowledged)}"),
    ])
    return {"one_process": one.median, "two_processes": two.median, "gain": gains.median}


def main() -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for kind in DATABASES:
        try:
            results[kind] = measure(kind)
        except DatabaseUnavailableError as exc:
            report(f"Signed Slack event intake vs bare Flask + one INSERT: {kind}", [("skipped", str(exc))])
    if "postgresql" in DATABASES:
        try:
            results["scale_out"] = scale_out()
        except DatabaseUnavailableError as exc:
            report("Slack intake with one and with two app processes: postgresql", [("skipped", str(exc))])
    rows = [(kind, f"ratio {r['ratio']:.2f} ({r['ratio_min']:.2f}-{r['ratio_max']:.2f}), triage in request "
                   f"{r['in_request_ratio']:.2f}, paced p99 {r['p99_ms']:.1f} ms, "
                   f"acknowledged/stored {r['acknowledged']}/{r['stored']}")
            for kind, r in results.items() if kind in ("sqlite", "postgresql")]
    if rows:
        report("Slack intake, summary (median ratio of the rounds, range)", rows)
    return results


if __name__ == "__main__":
    main()
