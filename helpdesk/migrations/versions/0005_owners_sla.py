"""owners and SLA: queue membership, and each ticket's first-response clock

Revision ID: 0005_owners_sla
Revises: 0004_triage
Create Date: 2026-12-01 10:00:00

Tickets that already sit in a queue get their due time from their filing time and their queue's
``first_response_hours`` (so old unanswered tickets show as breached, which they are); tickets waiting
on the requester start paused.
"""
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import helpdesk.db

revision: str = '0005_owners_sla'
down_revision: str | None = '0004_triage'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('queue_member',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('queue_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('created_at', helpdesk.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_assigned_at', helpdesk.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_queue_member_person_id_person'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['queue_id'], ['queue.id'], name=op.f('fk_queue_member_queue_id_queue'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_queue_member')),
    sa.UniqueConstraint('queue_id', 'person_id', name=op.f('uq_queue_member_queue_id_person_id'))
    )
    with op.batch_alter_table('queue_member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_queue_member_person_id'), ['person_id'], unique=False)

    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_response_due_at', helpdesk.db.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('sla_paused_at', helpdesk.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('sla_warned_at', helpdesk.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_ticket_first_response_due_at', ['first_response_due_at'], unique=False)

    _backfill_clocks()


def _backfill_clocks() -> None:
    """Due times for tickets already in a queue (the rule of helpdesk.tickets.sla, written out here so the
    migration never changes when the module does)."""
    bind = op.get_bind()
    ticket, queue = sa.table('ticket', sa.column('id', sa.Integer()), sa.column('queue_id', sa.Integer()),
                             sa.column('created_at', helpdesk.db.UTCDateTime(timezone=True)),
                             sa.column('status', sa.String()),
                             sa.column('first_response_at', helpdesk.db.UTCDateTime(timezone=True)),
                             sa.column('first_response_due_at', helpdesk.db.UTCDateTime(timezone=True)),
                             sa.column('sla_paused_at', helpdesk.db.UTCDateTime(timezone=True))), \
        sa.table('queue', sa.column('id', sa.Integer()), sa.column('first_response_hours', sa.Integer()))
    now = datetime.now(UTC)
    rows = bind.execute(
        sa.select(ticket.c.id, ticket.c.created_at, ticket.c.status, ticket.c.first_response_at,
                  queue.c.first_response_hours)
        .join(queue, queue.c.id == ticket.c.queue_id)
    ).all()
    for row in rows:
        paused = row.status == 'waiting_on_user' and row.first_response_at is None
        bind.execute(ticket.update().where(ticket.c.id == row.id).values(
            first_response_due_at=row.created_at + timedelta(hours=row.first_response_hours),
            sla_paused_at=now if paused else None))


def downgrade() -> None:
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_first_response_due_at')
        batch_op.drop_column('sla_warned_at')
        batch_op.drop_column('sla_paused_at')
        batch_op.drop_column('first_response_due_at')

    with op.batch_alter_table('queue_member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_queue_member_person_id'))

    op.drop_table('queue_member')
