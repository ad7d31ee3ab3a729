"""The queues by slug, and which have members, cached per process: every filing needs them."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, make_transient_to_detached

from helpdesk.tickets.models import Queue, QueueMember


class QueueCache:
    """The queues by slug, read at most once a minute per process: triage needs one for every new ticket.

    Queues change only when an operator loads them (``helpdesk queues load``), so a minute's delay is fine;
    the cached rows are merged into each session without SQL, so the ticket's ``queue`` needs no query either.
    """

    TTL = timedelta(seconds=60)

    def __init__(self) -> None:
        self._by_bind: dict[str, tuple[datetime, dict[str, Queue], frozenset[int]]] = {}
        self._lock = threading.Lock()

    def _current(self, session: Session, now: datetime) -> tuple[datetime, dict[str, Queue], frozenset[int]]:
        key = str(session.get_bind().url)
        with self._lock:
            cached = self._by_bind.get(key)
        if cached is None or now - cached[0] > self.TTL or now < cached[0]:
            queues = {queue.slug: _detached_copy(queue) for queue in session.scalars(select(Queue))}
            staffed = frozenset(session.scalars(select(QueueMember.queue_id).distinct()))
            cached = (now, queues, staffed)
            with self._lock:
                self._by_bind[key] = cached
        return cached

    def get(self, session: Session, slug: str, now: datetime) -> Queue | None:
        queue = self._current(session, now)[1].get(slug)
        return session.merge(queue, load=False) if queue is not None else None

    def has_members(self, session: Session, queue_id: int, now: datetime) -> bool:
        """Whether anyone works the queue: filing skips owner assignment (and its queries) for queues nobody does."""
        return queue_id in self._current(session, now)[2]

    def clear(self) -> None:
        with self._lock:
            self._by_bind.clear()


def _detached_copy(queue: Queue) -> Queue:
    """A copy of a loaded queue that belongs to no session, to merge into others without a query."""
    values = {column.key: getattr(queue, column.key) for column in Queue.__table__.columns}
    copy = Queue(**values)
    make_transient_to_detached(copy)
    return copy


QUEUE_CACHE = QueueCache()
