"""Run calls at the same moment from several threads, to race them against each other."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

#: Long enough for any honest call; a thread still running after it means the call hangs.
JOIN_SECONDS = 60


def run_together(call: Callable[..., Any], arguments: Iterable[tuple[Any, ...]]) -> list[Any]:
    """Call ``call(*args)`` for each tuple in ``arguments``, each in its own thread, released at once.

    Returns the results in the order of ``arguments``. An exception in any thread is raised here (the
    first one), so a failure inside a thread cannot pass unseen; a thread that never returns fails too.
    """
    argument_list = [tuple(args) for args in arguments]
    barrier = threading.Barrier(len(argument_list))
    results: list[Any] = [None] * len(argument_list)
    errors: list[BaseException] = []

    def run(index: int, args: tuple[Any, ...]) -> None:
        try:
            barrier.wait()
            results[index] = call(*args)
        except BaseException as exc:  # noqa: BLE001 - raised again in the test's thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, args), daemon=True) for i, args in enumerate(argument_list)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_SECONDS)
    if errors:
        raise errors[0]
    stuck = sum(thread.is_alive() for thread in threads)
    assert not stuck, f"{stuck} of {len(threads)} threads did not finish within {JOIN_SECONDS} s"
    return results
