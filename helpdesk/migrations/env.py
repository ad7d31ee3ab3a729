"""Alembic environment: the URL comes from the caller (``helpdesk db upgrade``) or the settings."""

from __future__ import annotations

from alembic import context

import helpdesk.models  # noqa: F401 - registers every table on Base.metadata
from helpdesk.db import Base, make_engine
from helpdesk.tickets.fulltext import include_name

config = context.config
url = config.attributes.get("database_url")
if url is None:
    from helpdesk.config import Settings

    url = Settings().database_url


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(url, pool=False)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    # render_as_batch: SQLite cannot ALTER most things; batch mode rebuilds the table instead.
    # include_name: the full-text index (helpdesk.tickets.fulltext) is made by the migrations, not the models.
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                      compare_type=True, include_name=include_name)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
