"""A clock the tests move by hand, and a ticket service on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """Frozen at a whole hour, moved with :meth:`advance`."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now
