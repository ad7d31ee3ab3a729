"""workspace lists: full-text search, tags, saved views and the indexes the staff lists sort by

Revision ID: 0009_workspace_lists
Revises: 0008_self_served
Create Date: 2026-12-01 12:10:00

The search index (``ticket_search``) is a table of the database's own full-text engine, not an ORM model:
PostgreSQL gets ``tsvector`` columns with a GIN index, SQLite an FTS5 virtual table. Tickets already stored
are indexed here (subject, question and messages). The DDL is written out, not imported from
``helpdesk.tickets.fulltext``, so this migration never changes when that module does.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import helpdesk.db

revision: str = '0009_workspace_lists'
down_revision: str | None = '0008_self_served'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Open tickets: the partial indexes of the due-time order hold only these.
_OPEN = "status IN ('new', 'triaged', 'in_progress', 'waiting_on_user')"
_PG_SEARCH = [
    "CREATE TABLE ticket_search (ticket_id INTEGER NOT NULL PRIMARY KEY REFERENCES ticket (id) ON DELETE CASCADE, "
    "document TSVECTOR NOT NULL, public_document TSVECTOR NOT NULL)",
    "CREATE INDEX ix_ticket_search_document ON ticket_search USING gin (document)",
    "INSERT INTO ticket_search (ticket_id, document, public_document) SELECT t.id, "
    "to_tsvector('english', t.subject || E'\\n' || t.body || coalesce(E'\\n' || "
    "(SELECT string_agg(m.body, E'\\n' ORDER BY m.id) FROM message m WHERE m.ticket_id = t.id), '')), "
    "to_tsvector('english', t.subject || E'\\n' || t.body || coalesce(E'\\n' || "
    "(SELECT string_agg(m.body, E'\\n' ORDER BY m.id) FROM message m WHERE m.ticket_id = t.id "
    "AND m.visibility = 'public'), '')) FROM ticket t",
]
_SQLITE_SEARCH = [
    "CREATE VIRTUAL TABLE ticket_search USING fts5(document, public_document, "
    "tokenize = 'porter unicode61 remove_diacritics 2')",
    "INSERT INTO ticket_search (rowid, document, public_document) SELECT t.id, "
    "t.subject || char(10) || t.body || coalesce(char(10) || (SELECT group_concat(body, char(10)) FROM "
    "(SELECT m.body FROM message m WHERE m.ticket_id = t.id ORDER BY m.id)), ''), "
    "t.subject || char(10) || t.body || coalesce(char(10) || (SELECT group_concat(body, char(10)) FROM "
    "(SELECT m.body FROM message m WHERE m.ticket_id = t.id AND m.visibility = 'public' ORDER BY m.id)), '') "
    "FROM ticket t",
]


def upgrade() -> None:
    op.create_table('tag',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('created_at', helpdesk.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tag')),
    sa.UniqueConstraint('name', name=op.f('uq_tag_name'))
    )
    op.create_table('ticket_tag',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.Column('added_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', helpdesk.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['added_by_id'], ['person.id'], name=op.f('fk_ticket_tag_added_by_id_person'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tag_id'], ['tag.id'], name=op.f('fk_ticket_tag_tag_id_tag'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_ticket_tag_ticket_id_ticket'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_tag')),
    sa.UniqueConstraint('ticket_id', 'tag_id', name=op.f('uq_ticket_tag_ticket_id_tag_id'))
    )
    with op.batch_alter_table('ticket_tag', schema=None) as batch_op:
        batch_op.create_index('ix_ticket_tag_tag_id_ticket_id', ['tag_id', 'ticket_id'], unique=False)

    op.create_table('saved_view',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('query', sa.String(length=1000), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('shared', sa.Boolean(), nullable=False),
    sa.Column('created_at', helpdesk.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', helpdesk.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['person.id'], name=op.f('fk_saved_view_owner_id_person'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_view')),
    sa.UniqueConstraint('owner_id', 'name', name=op.f('uq_saved_view_owner_id_name'))
    )
    with op.batch_alter_table('saved_view', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_saved_view_owner_id'), ['owner_id'], unique=False)

    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_queue_status')
        batch_op.create_index('ix_ticket_queue_status_id', ['queue_id', 'status', 'id'], unique=False)
        batch_op.create_index('ix_ticket_updated_at_id', ['updated_at', 'id'], unique=False)
        batch_op.create_index('ix_ticket_open_id', ['id'], unique=False, postgresql_where=sa.text(_OPEN),
                              sqlite_where=sa.text(_OPEN))
        batch_op.create_index('ix_ticket_open_due_id', ['first_response_due_at', 'id'], unique=False,
                              postgresql_where=sa.text(_OPEN), sqlite_where=sa.text(_OPEN))
        batch_op.create_index('ix_ticket_open_queue_due_id', ['queue_id', 'first_response_due_at', 'id'], unique=False,
                              postgresql_where=sa.text(_OPEN), sqlite_where=sa.text(_OPEN))

    dialect = op.get_bind().dialect.name
    for statement in {'postgresql': _PG_SEARCH, 'sqlite': _SQLITE_SEARCH}.get(dialect, []):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name in ('postgresql', 'sqlite'):
        op.execute('DROP TABLE IF EXISTS ticket_search')

    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_open_queue_due_id')
        batch_op.drop_index('ix_ticket_open_due_id')
        batch_op.drop_index('ix_ticket_open_id')
        batch_op.drop_index('ix_ticket_updated_at_id')
        batch_op.drop_index('ix_ticket_queue_status_id')
        batch_op.create_index('ix_ticket_queue_status', ['queue_id', 'status'], unique=False)

    with op.batch_alter_table('saved_view', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_saved_view_owner_id'))
    op.drop_table('saved_view')
    with op.batch_alter_table('ticket_tag', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_tag_tag_id_ticket_id')
    op.drop_table('ticket_tag')
    op.drop_table('tag')
