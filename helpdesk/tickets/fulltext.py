"""Full-text search over tickets and their messages: one index row per ticket, kept by the ticket service.

The index is the table ``ticket_search``, one row per ticket, in the database's own full-text engine:

* **PostgreSQL**: a plain table ``(ticket_id, document, public_document)`` of ``tsvector`` values (text search
  configuration ``english``), with a GIN index on ``document``. Queries go through ``websearch_to_tsquery``,
  which reads any text at all ("quoted phrases", ``or``, ``-word``) and never raises a syntax error.
* **SQLite** (the embedded default): an FTS5 virtual table with the same two columns (Porter stemming, accents
  folded) whose rowid is the ticket id. Every word typed is quoted as an FTS5 string, so no input is read as
  FTS5 syntax: the words are simply all required.

``document`` holds the subject, the question and every message (internal notes too: staff search it);
``public_document`` only what the requester can read, so a requester searching their own tickets never matches
on a staff note. :class:`helpdesk.tickets.services.TicketService` writes the row as a ticket is filed
(:func:`filed`) and extends it with each message (:func:`message_added`), in the same transaction and the same
round trip as the rest of the write: there is no trigger and no query per row.

Neither table is an ORM model (their column types exist on one engine each), so :func:`create_statements` makes
them: the migration ``0009_workspace_lists`` on upgrade, and ``Base.metadata.create_all`` through the
``after_create`` hook below. The drift check ignores them (:func:`is_search_object`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    DDL,
    ColumnElement,
    Insert,
    Integer,
    Text,
    Update,
    column,
    event,
    func,
    insert,
    literal_column,
    select,
    table,
    update,
)
from sqlalchemy.dialects.postgresql import TSVECTOR

from helpdesk.tickets.models import Ticket

TABLE = "ticket_search"
#: PostgreSQL's text search configuration for the index and the queries.
CONFIG = "english"
#: The longest search the desk reads, in characters; and the most words of it that count (SQLite).
QUERY_MAX = 500
WORDS_MAX = 32

_PG = table(TABLE, column("ticket_id", Integer), column("document", TSVECTOR), column("public_document", TSVECTOR))
_SQLITE = table(TABLE, column("rowid", Integer), column("document", Text), column("public_document", Text))
_REGCONFIG = literal_column(f"'{CONFIG}'::regconfig")


def create_statements(dialect: str) -> list[str]:
    """The DDL of the index table on ``dialect`` (nothing on engines without full-text search)."""
    if dialect == "postgresql":
        return [
            f"CREATE TABLE {TABLE} (ticket_id INTEGER NOT NULL PRIMARY KEY REFERENCES ticket (id) ON DELETE CASCADE, "
            "document TSVECTOR NOT NULL, public_document TSVECTOR NOT NULL)",
            f"CREATE INDEX ix_{TABLE}_document ON {TABLE} USING gin (document)",
        ]
    if dialect == "sqlite":
        return [f"CREATE VIRTUAL TABLE {TABLE} USING fts5(document, public_document, "
                "tokenize = 'porter unicode61 remove_diacritics 2')"]
    return []


def drop_statements(dialect: str) -> list[str]:
    return [f"DROP TABLE IF EXISTS {TABLE}"] if dialect in ("postgresql", "sqlite") else []


def backfill_statements(dialect: str) -> list[str]:
    """Index the tickets already stored (the upgrade to 0009): subject, question and messages, in id order."""
    if dialect == "postgresql":
        return [
            "INSERT INTO ticket_search (ticket_id, document, public_document) SELECT t.id, "
            "to_tsvector('english', t.subject || E'\\n' || t.body || coalesce(E'\\n' || "
            "(SELECT string_agg(m.body, E'\\n' ORDER BY m.id) FROM message m WHERE m.ticket_id = t.id), '')), "
            "to_tsvector('english', t.subject || E'\\n' || t.body || coalesce(E'\\n' || "
            "(SELECT string_agg(m.body, E'\\n' ORDER BY m.id) FROM message m WHERE m.ticket_id = t.id "
            "AND m.visibility = 'public'), '')) FROM ticket t",
        ]
    if dialect == "sqlite":
        return [
            "INSERT INTO ticket_search (rowid, document, public_document) SELECT t.id, "
            "t.subject || char(10) || t.body || coalesce(char(10) || (SELECT group_concat(body, char(10)) FROM "
            "(SELECT m.body FROM message m WHERE m.ticket_id = t.id ORDER BY m.id)), ''), "
            "t.subject || char(10) || t.body || coalesce(char(10) || (SELECT group_concat(body, char(10)) FROM "
            "(SELECT m.body FROM message m WHERE m.ticket_id = t.id AND m.visibility = 'public' ORDER BY m.id)), '') "
            "FROM ticket t",
        ]
    return []


def is_search_object(name: str | None) -> bool:
    """Whether a table is the index (or, on SQLite, one of FTS5's shadow tables): not in the ORM's metadata."""
    return bool(name) and (name == TABLE or name.startswith(f"{TABLE}_"))  # type: ignore[union-attr]


def _create(target: Any, connection: Any, **_kw: Any) -> None:
    for statement in create_statements(connection.dialect.name):
        connection.execute(DDL(statement))


def _drop(target: Any, connection: Any, **_kw: Any) -> None:
    for statement in drop_statements(connection.dialect.name):
        connection.execute(DDL(statement))


# create_all and drop_all (the test databases) make and remove the index with the ticket table.
event.listen(Ticket.__table__, "after_create", _create)
event.listen(Ticket.__table__, "before_drop", _drop)


# -- writes (the ticket service runs them with the rest of its write) -----------------------------------------


def filed(dialect: str, ticket_id: int, subject: str, body: str) -> Insert | None:
    """The index row of a new ticket."""
    text = f"{subject}\n{body}"
    if dialect == "postgresql":
        vector = func.to_tsvector(_REGCONFIG, text)
        return insert(_PG).values(ticket_id=ticket_id, document=vector, public_document=vector)
    if dialect == "sqlite":
        return insert(_SQLITE).values(rowid=ticket_id, document=text, public_document=text)
    return None


def message_added(dialect: str, ticket_id: int, body: str, *, public: bool) -> Update | None:
    """Extend a ticket's index row with a new message; a staff note only reaches ``document``."""
    if dialect == "postgresql":
        values: dict[str, Any] = {"document": _PG.c.document.op("||")(func.to_tsvector(_REGCONFIG, body))}
        if public:
            values["public_document"] = _PG.c.public_document.op("||")(func.to_tsvector(_REGCONFIG, body))
        return update(_PG).where(_PG.c.ticket_id == ticket_id).values(values)
    if dialect == "sqlite":
        values = {"document": _SQLITE.c.document + "\n" + body}
        if public:
            values["public_document"] = _SQLITE.c.public_document + "\n" + body
        return update(_SQLITE).where(_SQLITE.c.rowid == ticket_id).values(values)
    return None


# -- reading --------------------------------------------------------------------------------------------------


def fts5_query(text: str) -> str:
    """``text`` as an FTS5 query that means "all these words": each word an FTS5 string ("" escapes ")."""
    words = text.split()[:WORDS_MAX]
    return " ".join('"' + word.replace('"', '""') + '"' for word in words)


def matches(dialect: str, text: str, *, public_only: bool = False) -> ColumnElement[bool]:
    """A condition on :class:`Ticket`: its index row matches ``text`` (a person's search, any characters)."""
    if dialect == "postgresql":
        target = _PG.c.public_document if public_only else _PG.c.document
        query = func.websearch_to_tsquery(_REGCONFIG, text)
        return Ticket.id.in_(select(_PG.c.ticket_id).where(target.op("@@")(query)))
    if dialect == "sqlite":
        left = literal_column("public_document") if public_only else literal_column(TABLE)
        return Ticket.id.in_(select(_SQLITE.c.rowid).where(left.op("MATCH")(fts5_query(text))))
    # Another engine: a plain substring search of subject and question (slow, but it answers).
    like = f"%{text}%"
    return Ticket.subject.ilike(like) | Ticket.body.ilike(like)


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic's ``include_name`` hook: the comparison of models and database leaves the index out."""
    return not (type_ == "table" and is_search_object(name))
