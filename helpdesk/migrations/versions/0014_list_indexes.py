"""list indexes: the queue summaries and the SLA counts from partial indexes of open tickets, extended
statistics of queue and status (PostgreSQL), and the ticket page's stored possible duplicates

The board and ``GET /api/v1/queues`` counted every open ticket through the heap (a bitmap scan of 10 % of the
table at 10**6 tickets); both partial indexes below hold only open tickets, so the counts are index-only scans
of a few per cent of the table; the same index's assignee prefix serves the console's "mine" and "unassigned"
counts, and a source filter and a queue's "last update" order get indexes ending in their sort key.
``ticket.duplicates`` keeps what the ticket page found, so a view does not
score 500 candidates again. Plain ``ADD COLUMN`` and ``CREATE INDEX`` (no table rebuild on SQLite).

Revision ID: 0014_list_indexes
Revises: 0013_attachments
Create Date: 2026-12-01 13:05:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014_list_indexes'
down_revision: str | None = '0013_attachments'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = "status IN ('new', 'triaged', 'in_progress', 'waiting_on_user')"
_RUNNING = (f"{_OPEN} AND first_response_at IS NULL AND sla_paused_at IS NULL "
            "AND first_response_due_at IS NOT NULL")
#: The planner assumes queue and status independent (unsorted tickets are almost all open, not 1 % closed);
#: the statistics tell it otherwise (helpdesk.tickets.listing; bench/million.py makes the same).
STATISTICS = "CREATE STATISTICS IF NOT EXISTS st_ticket_queue_status (dependencies, mcv) ON queue_id, status FROM ticket"


def upgrade() -> None:
    op.add_column('ticket', sa.Column('duplicates', sa.JSON(), nullable=True))
    op.create_index('ix_ticket_open_assignee_queue_created', 'ticket', ['assignee_id', 'queue_id', 'created_at'],
                    unique=False, postgresql_where=sa.text(_OPEN), sqlite_where=sa.text(_OPEN))
    op.create_index('ix_ticket_source_id', 'ticket', ['source', 'id'], unique=False)
    op.create_index('ix_ticket_queue_updated_id', 'ticket', ['queue_id', 'updated_at', 'id'], unique=False)
    op.create_index('ix_ticket_clock_running', 'ticket', ['queue_id', 'first_response_due_at'], unique=False,
                    postgresql_where=sa.text(_RUNNING), sqlite_where=sa.text(_RUNNING))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(STATISTICS)
        op.execute("ANALYZE ticket")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP STATISTICS IF EXISTS st_ticket_queue_status")
    op.drop_index('ix_ticket_clock_running', table_name='ticket')
    op.drop_index('ix_ticket_queue_updated_id', table_name='ticket')
    op.drop_index('ix_ticket_source_id', table_name='ticket')
    op.drop_index('ix_ticket_open_assignee_queue_created', table_name='ticket')
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_column('duplicates')
