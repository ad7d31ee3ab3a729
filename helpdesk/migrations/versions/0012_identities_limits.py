"""identities and limits: OpenID Connect identities, a person's last activity and idle-seat reminders,
questions held past a ticket limit, and the index the limits count with

Revision ID: 0012_identities_limits
Revises: 0011_programmes
Create Date: 2026-12-01 13:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import helpdesk.db

revision: str = '0012_identities_limits'
down_revision: str | None = '0011_programmes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_PROVIDERS = ('github', 'slack', 'discourse', 'email')
NEW_PROVIDERS = (*OLD_PROVIDERS, 'oidc')


def _provider(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name='identity_provider', native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    # The provider's CHECK constraint learns 'oidc' (batch: SQLite rebuilds the table, PostgreSQL alters it).
    with op.batch_alter_table('identity', schema=None) as batch_op:
        batch_op.alter_column('provider', existing_type=_provider(OLD_PROVIDERS), type_=_provider(NEW_PROVIDERS),
                              existing_nullable=False)
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_active_at', helpdesk.db.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.create_index('ix_ticket_requester_created', ['requester_id', 'created_at'], unique=False)

    op.create_table('held_delivery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('thread_key', sa.String(length=200), nullable=True),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('external', sa.JSON(), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('retry_at', helpdesk.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', helpdesk.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('released_at', helpdesk.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('released_ticket_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_held_delivery_person_id_person'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['released_ticket_id'], ['ticket.id'],
                            name=op.f('fk_held_delivery_released_ticket_id_ticket'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_held_delivery'))
    )
    op.create_index(op.f('ix_held_delivery_person_id'), 'held_delivery', ['person_id'], unique=False)
    op.create_index('ix_held_delivery_source_thread_key', 'held_delivery', ['source', 'thread_key'], unique=False)

    op.create_table('idle_reminder',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('unanswered', sa.Integer(), nullable=False),
    sa.Column('last_reminded_at', helpdesk.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', helpdesk.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['application.id'],
                            name=op.f('fk_idle_reminder_application_id_application'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idle_reminder')),
    sa.UniqueConstraint('application_id', name=op.f('uq_idle_reminder_application_id'))
    )


def downgrade() -> None:
    op.drop_table('idle_reminder')
    op.drop_index('ix_held_delivery_source_thread_key', table_name='held_delivery')
    op.drop_index(op.f('ix_held_delivery_person_id'), table_name='held_delivery')
    op.drop_table('held_delivery')
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_requester_created')
    # Not rebuilt on SQLite (ALTER TABLE … DROP COLUMN, SQLite 3.35+): dropping the old person table would
    # cascade to every row that points at a person.
    with op.batch_alter_table('person', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('last_active_at')
    # OpenID Connect identities cannot stay behind a constraint that no longer knows them.
    op.execute("DELETE FROM identity WHERE provider = 'oidc'")
    with op.batch_alter_table('identity', schema=None) as batch_op:
        batch_op.alter_column('provider', existing_type=_provider(NEW_PROVIDERS), type_=_provider(OLD_PROVIDERS),
                              existing_nullable=False)
