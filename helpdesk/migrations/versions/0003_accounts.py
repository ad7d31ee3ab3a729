"""server-side web sessions; GitHub identities keyed by GitHub's numeric user id

Revision ID: 0003_accounts
Revises: 0002
Create Date: 2026-12-01 10:00:00

Until now a GitHub identity's ``external_id`` was the lower-cased login. A login can be renamed, and a
freed login can be registered by someone else, so identities are now keyed by GitHub's numeric user id.
The ids of existing identities are not known until their owners sign in again, so every existing GitHub
identity becomes *pending* (``login:<login>``): the next GitHub sign-in with that login claims it and
records the id, exactly as for an identity made by ``helpdesk staff create`` before a first sign-in.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import helpdesk.db

revision: str = '0003_accounts'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = "login:"
DEV = "dev:"


def upgrade() -> None:
    op.create_table('web_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('session_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', helpdesk.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', helpdesk.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', helpdesk.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_web_session_person_id_person'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_web_session')),
    sa.UniqueConstraint('session_hash', name=op.f('uq_web_session_session_hash'))
    )
    with op.batch_alter_table('web_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_session_person_id'), ['person_id'], unique=False)

    identity = sa.table('identity', sa.column('provider', sa.String), sa.column('external_id', sa.String),
                        sa.column('person_id', sa.Integer))
    person = sa.table('person', sa.column('id', sa.Integer), sa.column('is_demo', sa.Boolean))
    demo = sa.select(person.c.id).where(person.c.is_demo.is_(True))
    # Old external ids are lower-cased logins (letters, digits, hyphens), so none already has a prefix.
    old = (identity.c.provider == 'github') & ~identity.c.external_id.like(PENDING + '%') \
        & ~identity.c.external_id.like(DEV + '%')
    # Demo people (helpdesk demo load) must never be claimed by whoever registers "demo-staff" on GitHub.
    op.execute(identity.update().where(old, identity.c.person_id.in_(demo))
               .values(external_id=sa.literal(DEV) + identity.c.external_id))
    op.execute(identity.update().where(old).values(external_id=sa.literal(PENDING) + identity.c.external_id))


def downgrade() -> None:
    identity = sa.table('identity', sa.column('id', sa.Integer), sa.column('provider', sa.String),
                        sa.column('external_id', sa.String), sa.column('username', sa.String))
    conn = op.get_bind()
    rows = conn.execute(sa.select(identity.c.id, identity.c.external_id, identity.c.username)
                        .where(identity.c.provider == 'github')).all()
    taken: set[str] = set()
    for row_id, external_id, username in rows:
        # Back to the lower-cased login: pending and dev identities carry it, claimed ones in their username.
        if external_id.startswith(PENDING):
            login = external_id[len(PENDING):]
        elif external_id.startswith(DEV):
            login = external_id[len(DEV):]
        else:
            login = (username or external_id).lower()
        if login in taken:  # two records of one login (a renamed account): keep the id on the second
            login = f"{login}#{external_id}"
        taken.add(login)
        conn.execute(identity.update().where(identity.c.id == row_id).values(external_id=login))
    with op.batch_alter_table('web_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_session_person_id'))
    op.drop_table('web_session')
