"""incidents and duplicates: grouped reports of one failure, their one answer, and tickets merged into another

Revision ID: 0007_incidents
Revises: 0006_escalation
Create Date: 2026-12-01 12:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import helpdesk.db

revision: str = '0007_incidents'
down_revision: str | None = '0006_escalation'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('incident',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('status', sa.Enum('open', 'closed', name='incident_status', native_enum=False, create_constraint=True,
              length=32), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', helpdesk.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', helpdesk.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', helpdesk.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['closed_by_id'], ['person.id'], name=op.f('fk_incident_closed_by_id_person'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_id'], ['person.id'], name=op.f('fk_incident_created_by_id_person'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident'))
    )
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_status'), ['status'], unique=False)

    op.create_table('incident_answer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('created_at', helpdesk.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['person.id'], name=op.f('fk_incident_answer_author_id_person'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('fk_incident_answer_incident_id_incident'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_answer')),
    sa.UniqueConstraint('incident_id', 'idempotency_key', name=op.f('uq_incident_answer_incident_id_idempotency_key'))
    )
    op.create_table('incident_ticket',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('score', sa.Double(), nullable=True),
    sa.Column('linked_by_id', sa.Integer(), nullable=True),
    sa.Column('linked_at', helpdesk.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('fk_incident_ticket_incident_id_incident'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['linked_by_id'], ['person.id'], name=op.f('fk_incident_ticket_linked_by_id_person'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_incident_ticket_ticket_id_ticket'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_ticket')),
    sa.UniqueConstraint('ticket_id', name=op.f('uq_incident_ticket_ticket_id'))
    )
    with op.batch_alter_table('incident_ticket', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_ticket_incident_id'), ['incident_id'], unique=False)

    op.create_table('incident_reply',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('answer_id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('created_at', helpdesk.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['answer_id'], ['incident_answer.id'],
                            name=op.f('fk_incident_reply_answer_id_incident_answer'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_id'], ['message.id'], name=op.f('fk_incident_reply_message_id_message'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_incident_reply_ticket_id_ticket'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_reply')),
    sa.UniqueConstraint('answer_id', 'ticket_id', name=op.f('uq_incident_reply_answer_id_ticket_id'))
    )
    with op.batch_alter_table('incident_reply', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_reply_ticket_id'), ['ticket_id'], unique=False)

    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('merged_into_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_ticket_merged_into_id'), ['merged_into_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_ticket_merged_into_id_ticket'), 'ticket', ['merged_into_id'],
                                    ['id'], ondelete='SET NULL')



def downgrade() -> None:
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_ticket_merged_into_id_ticket'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_ticket_merged_into_id'))
        batch_op.drop_column('merged_into_id')

    with op.batch_alter_table('incident_reply', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incident_reply_ticket_id'))

    op.drop_table('incident_reply')
    with op.batch_alter_table('incident_ticket', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incident_ticket_incident_id'))

    op.drop_table('incident_ticket')
    op.drop_table('incident_answer')
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incident_status'))

    op.drop_table('incident')
