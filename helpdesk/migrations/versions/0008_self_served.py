"""self-served tickets and the best suggestion's score: deflection counted, knowledge gaps found

Revision ID: 0008_self_served
Revises: 0007_incidents
Create Date: 2026-12-01 12:05:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import helpdesk.db

revision: str = '0008_self_served'
down_revision: str | None = '0007_incidents'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('suggestions', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('best_score', sa.Double(), nullable=True))
        batch_op.add_column(sa.Column('self_served_at', helpdesk.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('self_served_via', sa.String(length=16), nullable=True))
        batch_op.create_index('ix_ticket_best_score_created_at', ['best_score', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_self_served_via'), ['self_served_via'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_self_served_via'))
        batch_op.drop_index('ix_ticket_best_score_created_at')
        batch_op.drop_column('self_served_via')
        batch_op.drop_column('self_served_at')
        batch_op.drop_column('best_score')
        batch_op.drop_column('suggestions')
