"""A query's rows as one JSON value, so that a page can read several small lists in one SQL statement.

``json_rows(query)`` wraps a SELECT as a scalar subquery giving a JSON array with one object per row (keys: the
query's column labels), on SQLite (``json_group_array``/``json_object``) and PostgreSQL
(``json_agg``/``json_build_object``) alike; ``JsonRows.read`` turns the array back into rows whose values have
the columns' Python types (datetimes, enums, booleans, JSON), in the query's order. Put many of them side by side
in one statement (:class:`JsonPanels`) and a page reads all its panels at once, instead of one statement (or
more, with relationship loads) per panel.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import JSON, ColumnElement, Select, func, literal_column, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

#: The key holding each row's place in the query's order (aggregates do not promise to keep it).
ORDER_KEY = "_n"


class _JsonObject(FunctionElement[Any]):
    """``json_object(key, value, ...)``: one row as an object."""

    type = JSON()
    inherit_cache = True


class _JsonArray(FunctionElement[Any]):
    """The aggregate of the objects as an array; ``[]`` when there are no rows."""

    type = JSON()
    inherit_cache = True


class _EmbeddedJson(FunctionElement[Any]):
    """A JSON column nested as JSON, not as its text."""

    type = JSON()
    inherit_cache = True


#: Each construct's SQL on SQLite and on PostgreSQL, ``{}`` standing for its arguments. SQLite keeps JSON columns
#: as text: json() makes json_object nest the value instead of quoting it.
_SQL = {
    _JsonObject: ("json_object({})", "json_build_object({})"),
    _JsonArray: ("json_group_array({})", "coalesce(json_agg({}), '[]'::json)"),
    _EmbeddedJson: ("json({})", "{}"),
}


def _register(construct: type[FunctionElement[Any]], sql: str, dialect: str | None) -> None:
    def compile_(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
        return sql.format(compiler.process(element.clauses, **kw))

    if dialect is None:
        compiles(construct)(compile_)
    else:
        compiles(construct, dialect)(compile_)


for _construct, (_sqlite, _postgresql) in _SQL.items():
    _register(_construct, _sqlite, None)  # SQLite's, the default
    _register(_construct, _postgresql, "postgresql")


def _python_type(column: ColumnElement[Any]) -> type | None:
    kind = column.type
    if isinstance(kind, TypeDecorator):
        kind = kind.impl_instance  # e.g. helpdesk.db.UTCDateTime, a DateTime
    if isinstance(kind, JSON):
        return None  # already decoded with the array that holds it
    try:
        return kind.python_type
    except NotImplementedError:
        return None


def _decode(value: Any, kind: type | None) -> Any:
    if value is None or kind is None:
        return value
    if kind is datetime:
        # SQLite gives its stored text ("2026-12-01 15:22:16.962000", naive UTC), PostgreSQL ISO 8601 with an offset.
        moment = datetime.fromisoformat(value)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if kind is bool:
        return bool(value)  # SQLite's 0/1
    if issubclass(kind, enum.Enum):
        return kind(value)
    return value


@dataclass(frozen=True)
class JsonRows:
    """One query's rows as a JSON array (``column``, to select) and how to read that array back (``read``)."""

    column: ColumnElement[Any]
    types: Mapping[str, type | None]

    def read(self, value: Any) -> list[SimpleNamespace]:
        """The rows, in the query's order, as objects with one attribute per column."""
        rows = sorted(value or [], key=lambda row: row[ORDER_KEY])
        return [SimpleNamespace(**{key: _decode(row[key], kind) for key, kind in self.types.items()}) for row in rows]


def json_rows(query: Select[Any], *order_by: Any) -> JsonRows:
    """``query``'s rows, ordered by ``order_by``, as one JSON array.

    The query's columns become the keys (label the expressions). A LIMIT on the query keeps the first rows of
    that order. Each object also holds its row number in that order, since an aggregate does not promise to keep
    the order of the rows it reads.
    """
    numbered = (
        query.order_by(*order_by)
        .add_columns(func.row_number().over(order_by=list(order_by) or None).label(ORDER_KEY))
        .subquery()
    )
    types = {c.key: _python_type(c) for c in query.selected_columns}
    pairs: list[Any] = []
    for column in numbered.c:
        value = _EmbeddedJson(column) if isinstance(column.type, JSON) else column
        # The keys are the query's own labels (identifiers), written into the SQL as they are.
        assert column.key.isidentifier(), column.key
        pairs += [literal_column(f"'{column.key}'"), value]
    array = select(_JsonArray(_JsonObject(*pairs))).select_from(numbered).scalar_subquery()
    return JsonRows(array, types)


@dataclass(frozen=True)
class JsonPanels:
    """Named :class:`JsonRows` side by side in one statement: ``SELECT (rows 1) AS name1, (rows 2) AS name2, ...``.

    Build it once (constructing the queries costs more than running them on a small page) with ``bindparam()``
    for what changes per request, and :meth:`read` it with those values.
    """

    panels: Mapping[str, JsonRows]
    statement: Select[Any]

    @classmethod
    def of(cls, panels: Mapping[str, JsonRows]) -> JsonPanels:
        return cls(dict(panels), select(*[rows.column.label(name) for name, rows in panels.items()]))

    def read(self, session: Session, params: Mapping[str, Any]) -> dict[str, list[SimpleNamespace]]:
        """Every panel's rows, by name, from one statement."""
        row = session.execute(self.statement, dict(params)).one()
        return {name: rows.read(value) for (name, rows), value in zip(self.panels.items(), row, strict=True)}


def read_all(session: Session, panels: Mapping[str, JsonRows]) -> dict[str, list[SimpleNamespace]]:
    """Every panel's rows in one statement, built for this call (:class:`JsonPanels` keeps a built one)."""
    if not panels:
        return {}
    return JsonPanels.of(panels).read(session, {})
