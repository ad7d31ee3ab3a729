"""What the root ``helpdesk`` group hands its sub-commands: the settings and sessions on one engine.

Sub-commands live with their domain (``accounts/cli.py``, ``programs/cli.py``, ``search/cli.py`` …) and
reach the database only through :func:`cli_context`, so no domain module imports the command line's
root and the root imports nothing of theirs but their click groups.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click
from pydantic import ValidationError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

    from helpdesk.config import Settings
    from helpdesk.factory import Factory


class CliContext:
    """Settings read once, on first use (so ``--help`` works with broken settings), and one engine."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings
        self._engine: Engine | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from helpdesk.config import Settings

            try:
                self._settings = Settings()
            except ValidationError as exc:
                raise click.ClickException(f"Invalid HELPDESK_* settings:\n{exc}") from exc
        return self._settings

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from helpdesk.db import make_engine

            ensure_sqlite_dir(self.settings.database_url)
            self._engine = make_engine(self.settings.database_url)
        return self._engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session for one command: rolled back on error, always closed."""
        from helpdesk.db import make_session_factory, session_scope

        with session_scope(make_session_factory(self.engine)) as session:
            yield session

    @contextmanager
    def factory(self) -> Iterator[Factory]:
        """The service factory on a fresh session: commands build services the way requests do."""
        from helpdesk.factory import Factory

        with self.session() as session:
            yield Factory(session, self.settings)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def cli_context() -> CliContext:
    """The running command's context (made on first use, closed when the command ends)."""
    ctx = click.get_current_context()
    root = ctx.find_root()
    if not isinstance(root.obj, CliContext):
        root.obj = CliContext()
        root.call_on_close(root.obj.close)
    return root.obj


@contextmanager
def cli_session() -> Iterator[Session]:
    """Shorthand for ``cli_context().session()``."""
    with cli_context().session() as session:
        yield session


def ensure_sqlite_dir(database_url: str) -> None:
    """SQLite creates the file but not its folder: make ``var/`` on first use."""
    if database_url.startswith("sqlite") and ":///" in database_url:
        path = database_url.split(":///", 1)[1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


@contextmanager
def progress_bar(items: list, label: str) -> Iterator:  # type: ignore[type-arg]
    """A progress bar on standard error, so that standard output stays parseable."""
    import sys

    with click.progressbar(items, label=label, file=sys.stderr) as bar:
        yield bar
