"""A real ``helpdesk worker`` process, killed with SIGKILL in the middle of a delivery, then run again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def kill_worker_once(env: dict[str, str], arrived: Callable[[], bool], what: str) -> None:
    """Start the worker, wait (30 s at most) until ``arrived()`` says the remote got its request, kill -9 it."""
    worker = subprocess.Popen([sys.executable, "-m", "helpdesk", "worker"], env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while not arrived() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert arrived(), f"the worker never {what}"
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)


def rerun_worker(env: dict[str, str], lease_seconds: float = 2.0) -> subprocess.CompletedProcess[str]:
    """Wait out the dead worker's lease, then ``helpdesk worker --once``."""
    time.sleep(lease_seconds + 0.2)
    return subprocess.run([sys.executable, "-m", "helpdesk", "worker", "--once"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
