"""A clock tests can hold still and move on."""

from __future__ import annotations

from datetime import datetime, timedelta

from helpdesk.db import utcnow


class Clock:
    """A frozen clock a little ahead, so what a test enqueues is due; ``advance`` lets leases and backoffs run out."""

    def __init__(self) -> None:
        self.now = utcnow() + timedelta(seconds=30)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
