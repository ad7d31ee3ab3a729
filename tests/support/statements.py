"""Counting the SQL statements a request sends: a page that must not send more as the desk grows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, event


@contextmanager
def counting(engine: Engine, *, queries_only: bool = False) -> Iterator[list[str]]:
    """The statements sent through ``engine`` (the app's: ``app.extensions["helpdesk"].engine``) while the block
    runs, in order.

    ``queries_only`` leaves out SQLite's explicit ``BEGIN`` (helpdesk.db opens each transaction with one;
    PostgreSQL's driver does so without a statement of its own), so that both databases count alike.
    """
    seen: list[str] = []

    def listener(*args: object) -> None:
        statement = str(args[2])
        if not (queries_only and statement.startswith("BEGIN")):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listener)
