"""What the per-person ticket limits cost at filing: the same in-process filings with the limits off (the
baseline, measured in the same run) and on (set high, so every filing is checked and none is refused).

The check locks the requester's row and counts on the (requester, filing time) index; printed per filing.
Runs on SQLite, and on PostgreSQL too when the benchmarks' server answers (a scratch database, dropped after).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.harness import DatabaseUnavailableError, bench_database
from helpdesk.accounts.models import Person, Role
from helpdesk.db import Base, make_engine, make_session_factory
from helpdesk.tickets.limits import TicketLimits
from helpdesk.tickets.models import Source
from helpdesk.tickets.services import TicketService

PEOPLE = int(os.environ.get("BENCH_LIMIT_PEOPLE", "50"))
PER_PERSON = int(os.environ.get("BENCH_LIMIT_TICKETS", "20"))
ROUNDS = 3


def _run(url: str, limits: TicketLimits) -> list[float]:
    engine = make_engine(url, pool=False)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    factory = make_session_factory(engine)
    session = factory()
    people = [Person(display_name=f"p{i}", role=Role.USER) for i in range(PEOPLE)]
    session.add_all(people)
    session.commit()
    service = TicketService(session, acknowledge=False, limits=limits)
    times = []
    for n in range(PER_PERSON):
        for person in people:
            started = time.perf_counter()
            service.file(person, f"Question {n}", "A TAP query times out after 30 s.", Source.API)
            times.append(time.perf_counter() - started)
    session.close()
    engine.dispose()
    return times


def _report(label: str, url: str) -> dict[str, float]:
    high = TicketLimits(open_per_person=10 * PER_PERSON, per_day=10 * PER_PERSON)
    off_runs, on_runs = [], []
    for _ in range(ROUNDS):  # alternate, so a noisy neighbour hurts both alike
        off_runs.append(statistics.median(_run(url, TicketLimits())))
        on_runs.append(statistics.median(_run(url, high)))
    off, on = min(off_runs) * 1000, min(on_runs) * 1000
    print(f"  {label}: {PEOPLE * PER_PERSON} filings, median per filing: limits off {off:.2f} ms (baseline), "
          f"limits on {on:.2f} ms, +{on - off:.2f} ms ({on / off:.2f}x)")
    return {f"{label}_off_ms": off, f"{label}_on_ms": on}


def main() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        results = _report("sqlite", f"sqlite:///{Path(tmp) / 'limits.sqlite3'}")
    try:
        with bench_database("helpdesk_bench_limits", "postgresql") as url:
            results |= _report("postgresql", url)
    except DatabaseUnavailableError as exc:
        print(f"  ({exc}; PostgreSQL skipped)")
    return results


if __name__ == "__main__":
    main()
