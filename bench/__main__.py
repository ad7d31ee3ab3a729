"""``python -m bench`` (``make bench``): run every benchmark in turn; ``python -m bench NAME`` runs one."""

from __future__ import annotations

import importlib
import sys
import time

#: Modules under bench/ with a main(); each prints its own figures.
BENCHMARKS = ["ticket_intake", "slack_intake", "triage_accuracy", "search_relevance", "search_speed", "signups", "workspace_lists", "million",
              "ticket_limits"]


def main(argv: list[str]) -> None:
    names = argv or BENCHMARKS
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    for number, name in enumerate(names, 1):
        print(f"[{number}/{len(names)}] {name}", flush=True)
        started = time.perf_counter()
        importlib.import_module(f"bench.{name}").main()
        print(f"  ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
