"""ticket workspace: macros (canned replies), presence on a ticket page, email opt-outs, satisfaction ratings

Revision ID: 0010_ticket_workspace
Revises: 0009_workspace_lists
Create Date: 2026-12-01 12:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import helpdesk.db

revision: str = '0010_ticket_workspace'
down_revision: str | None = '0009_workspace_lists'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('email_opt_out',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('created_at', helpdesk.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_email_opt_out_person_id_person'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_opt_out')),
    sa.UniqueConstraint('person_id', name=op.f('uq_email_opt_out_person_id'))
    )
    op.create_table('macro',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=120), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('shared', sa.Boolean(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('created_at', helpdesk.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', helpdesk.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['person.id'], name=op.f('fk_macro_owner_id_person'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_macro'))
    )
    op.create_index(op.f('ix_macro_owner_id'), 'macro', ['owner_id'], unique=False)
    op.create_table('ticket_presence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.Enum('viewing', 'replying', name='presence_action', native_enum=False,
              create_constraint=True, length=32), nullable=False),
    sa.Column('last_seen_at', helpdesk.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_ticket_presence_person_id_person'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_ticket_presence_ticket_id_ticket'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_presence')),
    sa.UniqueConstraint('ticket_id', 'person_id', name=op.f('uq_ticket_presence_ticket_id_person_id'))
    )
    op.create_index(op.f('ix_ticket_presence_last_seen_at'), 'ticket_presence', ['last_seen_at'], unique=False)
    op.create_table('ticket_rating',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('created_at', helpdesk.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('score BETWEEN 1 AND 5', name=op.f('ck_ticket_rating_score_range')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_ticket_rating_person_id_person'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_ticket_rating_ticket_id_ticket'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_rating')),
    sa.UniqueConstraint('ticket_id', name=op.f('uq_ticket_rating_ticket_id'))
    )


def downgrade() -> None:
    op.drop_table('ticket_rating')
    op.drop_index(op.f('ix_ticket_presence_last_seen_at'), table_name='ticket_presence')
    op.drop_table('ticket_presence')
    op.drop_index(op.f('ix_macro_owner_id'), table_name='macro')
    op.drop_table('macro')
    op.drop_table('email_opt_out')
