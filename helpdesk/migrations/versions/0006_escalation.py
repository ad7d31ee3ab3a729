"""escalation: a ticket's bug report in the engineering tracker (Jira or GitHub) and its last known state

Revision ID: 0006_escalation
Revises: 0005_owners_sla
Create Date: 2026-12-01 11:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import helpdesk.db

revision: str = '0006_escalation'
down_revision: str | None = '0005_owners_sla'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('escalation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('tracker', sa.String(length=16), nullable=False),
    sa.Column('remote_key', sa.String(length=64), nullable=True),
    sa.Column('url', sa.String(length=500), nullable=True),
    sa.Column('state', sa.Enum('pending', 'open', 'resolved', 'closed', 'failed', name='escalation_state',
                               native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('remote_status', sa.String(length=100), nullable=True),
    sa.Column('summary', sa.String(length=250), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', helpdesk.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_synced_at', helpdesk.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', helpdesk.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['person.id'], name=op.f('fk_escalation_created_by_id_person'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_escalation_ticket_id_ticket'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation'))
    )
    with op.batch_alter_table('escalation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_ticket_id'), ['ticket_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('escalation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalation_ticket_id'))
    op.drop_table('escalation')
