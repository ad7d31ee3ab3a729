"""Planner statistics: refreshed at ``helpdesk db upgrade`` and, where nothing else does it, by the worker.

Why the desk does this itself
-----------------------------
* **PostgreSQL** caches, per connection, the plan of each foreign-key check (``SELECT 1 FROM ONLY ticket x
  WHERE id = $1 FOR KEY SHARE OF x``). Planned while ``ticket`` had a page or two, that plan is a sequential
  scan, and it stays until the table's statistics change: every new ticket runs seven such checks, so intake
  slows as the desk grows. Autovacuum's autoanalyze fixes it soon; with ``autovacuum = off`` (or
  ``autovacuum_enabled = false`` on a table) nothing ever analyses, so the worker does what autoanalyze would:
  it analyses each table whose ``n_mod_since_analyze`` passed autovacuum's own threshold
  (``autovacuum_analyze_threshold + autovacuum_analyze_scale_factor * reltuples``, the table's own settings
  first). With autovacuum on it does nothing.
* **SQLite** never analyses by itself, and without ``sqlite_stat1`` the board and the lists pick poor indexes
  at 10**5 tickets. ``PRAGMA optimize`` would be the tool, but before SQLite 3.46 it only looks at tables the
  same connection has queried, which the worker's are not; so the worker compares each table's row count with
  the one its statistics were taken at, and analyses the tables that changed by the same threshold
  (50 rows + 10 %). Each ``ANALYZE`` is committed (the engine's ``begin`` hook opens a transaction, which
  would otherwise be rolled back when the connection goes back to the pool).

:func:`analyze_all` is the upgrade's full refresh (new indexes and the extended statistics of migration 0014
are used at once); :func:`refresh_statistics` is the worker's periodic one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger("helpdesk.maintenance")

#: SQLite's threshold, the same as PostgreSQL's defaults: analyse once rows changed by 50 + 10 %.
SQLITE_ANALYZE_THRESHOLD = 50
SQLITE_ANALYZE_SCALE_FACTOR = 0.1
#: Rows of each index the worker's ANALYZE reads on SQLite (``PRAGMA analysis_limit``): enough for the planner.
SQLITE_ANALYSIS_LIMIT = 2000

_PG_TABLES = text(
    "SELECT s.relname, s.n_mod_since_analyze, c.reltuples, c.reloptions FROM pg_stat_user_tables s "
    "JOIN pg_class c ON c.oid = s.relid WHERE s.schemaname = current_schema() ORDER BY s.relname"
)
_RELOPTION = re.compile(r"^(autovacuum_enabled|autovacuum_analyze_threshold|autovacuum_analyze_scale_factor)=(.*)$")


def analyze_all(engine: Engine) -> list[str]:
    """Analyse every table of the desk (``helpdesk db upgrade``); returns their names."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            tables = _sqlite_tables(conn)
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
        return tables
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        tables = [row[0] for row in conn.execute(_PG_TABLES)]
        for name in tables:
            conn.exec_driver_sql(f"ANALYZE {_quote(name)}")
    return tables


def refresh_statistics(engine: Engine) -> list[str]:
    """Analyse the tables whose statistics are stale and that nothing else will analyse; returns their names."""
    analysed = _refresh_sqlite(engine) if engine.dialect.name == "sqlite" else _refresh_postgres(engine)
    if analysed:
        log.info("planner statistics refreshed: %s", ", ".join(analysed))
    return analysed


def _refresh_postgres(engine: Engine) -> list[str]:
    analysed: list[str] = []
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        autovacuum = conn.scalar(text("SELECT current_setting('autovacuum')")) == "on"
        threshold = int(conn.scalar(text("SELECT current_setting('autovacuum_analyze_threshold')")))
        scale = float(conn.scalar(text("SELECT current_setting('autovacuum_analyze_scale_factor')")))
        for name, modified, reltuples, reloptions in conn.execute(_PG_TABLES).all():
            if analyze_due(modified or 0, float(reltuples), reloptions or (), autovacuum=autovacuum,
                           threshold=threshold, scale_factor=scale):
                conn.exec_driver_sql(f"ANALYZE {_quote(name)}")
                analysed.append(name)
    return analysed


def analyze_due(modified: int, reltuples: float, reloptions: Sequence[str], *, autovacuum: bool, threshold: int,
                scale_factor: float) -> bool:
    """Whether the worker should analyse a PostgreSQL table: never when autovacuum looks after it; otherwise
    when more rows changed since its last ANALYZE than autovacuum's threshold, the table's own settings first."""
    options = dict(m.groups() for o in reloptions if (m := _RELOPTION.match(o)))
    if autovacuum and options.get("autovacuum_enabled", "on").lower() not in ("false", "off", "no", "0"):
        return False
    limit = (int(options.get("autovacuum_analyze_threshold", threshold))
             + float(options.get("autovacuum_analyze_scale_factor", scale_factor)) * max(reltuples, 0.0))
    return modified > limit


def _refresh_sqlite(engine: Engine) -> list[str]:
    # Reading the counts takes no write lock; each ANALYZE takes it for one table and commits.
    with engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
        tables = _sqlite_tables(conn)
        has_stats = conn.scalar(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")) is not None
        analysed_at: dict[str, int] = {}
        if has_stats:
            for table, stat in conn.execute(text("SELECT tbl, stat FROM sqlite_stat1")):
                rows = int(str(stat).split()[0]) if stat else 0
                analysed_at[table] = max(analysed_at.get(table, 0), rows)
        stale = []
        for name in tables:
            count = f"SELECT count(*) FROM {_quote(name)}"  # noqa: S608 - a name from sqlite_master, quoted
            rows = int(conn.exec_driver_sql(count).scalar() or 0)
            before = analysed_at.get(name, 0)
            if abs(rows - before) > SQLITE_ANALYZE_THRESHOLD + SQLITE_ANALYZE_SCALE_FACTOR * before:
                stale.append(name)
        conn.rollback()
    for name in stale:
        with engine.begin() as conn:
            # ANALYZE holds SQLite's one write lock while it reads the table; a sample of each index keeps that
            # to milliseconds on a big desk, so intake (Slack waits three seconds) never queues behind it.
            conn.exec_driver_sql(f"PRAGMA analysis_limit = {SQLITE_ANALYSIS_LIMIT}")
            conn.exec_driver_sql(f"ANALYZE {_quote(name)}")
    return stale


def _sqlite_tables(conn: Connection) -> list[str]:
    """Ordinary tables, without SQLite's own, virtual tables (the FTS5 search index) and their shadow tables."""
    rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name")).all()
    virtual = [name for name, sql in rows if (sql or "").upper().startswith("CREATE VIRTUAL")]
    return [name for name, _sql in rows
            if not name.startswith("sqlite_") and name not in virtual
            and not any(name.startswith(f"{v}_") for v in virtual)]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
