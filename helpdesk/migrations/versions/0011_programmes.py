"""programmes: selection modes (first come or weighted lottery), application windows, reserved pools,
the data-rights checklist, decline and reclaim reasons, waitlist positions and each application's history

Revision ID: 0011_programmes
Revises: 0010_ticket_workspace
Create Date: 2026-12-01 12:40:00
"""
import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import helpdesk.db

revision: str = '0011_programmes'
down_revision: str | None = '0010_ticket_workspace'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = ('pending', 'active', 'waitlisted', 'declined', 'withdrawn')
NEW_STATUSES = ('entered', 'pending', 'active', 'waitlisted', 'declined', 'withdrawn', 'reclaimed')


def _status(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name='application_status', native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    op.create_table('program_pool',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('seats', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['program_id'], ['program.id'], name=op.f('fk_program_pool_program_id_program'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_program_pool')),
    sa.UniqueConstraint('program_id', 'slug', name=op.f('uq_program_pool_program_id_slug'))
    )
    with op.batch_alter_table('program', schema=None) as batch_op:
        batch_op.add_column(sa.Column('selection', sa.Enum('fcfs', 'lottery', name='programselection',
                                                           native_enum=False, create_constraint=False, length=32),
                                      nullable=False, server_default='fcfs'))
        batch_op.add_column(sa.Column('opens_at', helpdesk.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('closes_at', helpdesk.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('groups', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('drawn_at', helpdesk.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('draw_seed', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('last_position', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.add_column(sa.Column('position', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('group', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('pool_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('checks', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('history', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.create_foreign_key(batch_op.f('fk_application_pool_id_program_pool'), 'program_pool',
                                    ['pool_id'], ['id'], ondelete='SET NULL')
        batch_op.alter_column('status', existing_type=_status(OLD_STATUSES), type_=_status(NEW_STATUSES),
                              existing_nullable=False)

    # The rows already there: waitlist positions in arrival order, a one-step history, and the old
    # "reserved" count of each programme as one pool holding the seats staff handed out.
    bind = op.get_bind()
    program = sa.table('program', sa.column('id', sa.Integer), sa.column('reserved', sa.Integer),
                       sa.column('last_position', sa.Integer))
    pool = sa.table('program_pool', sa.column('program_id', sa.Integer), sa.column('slug', sa.String),
                    sa.column('name', sa.String), sa.column('seats', sa.Integer), sa.column('id', sa.Integer))
    application = sa.table('application', sa.column('id', sa.Integer), sa.column('program_id', sa.Integer),
                           sa.column('status', sa.String), sa.column('pool', sa.String),
                           sa.column('created_at', helpdesk.db.UTCDateTime(timezone=True)),
                           sa.column('position', sa.Integer), sa.column('history', sa.JSON),
                           sa.column('pool_id', sa.Integer))
    for program_id, reserved in bind.execute(sa.select(program.c.id, program.c.reserved)).all():
        if reserved:
            bind.execute(pool.insert().values(program_id=program_id, slug='reserved',
                                              name='Reserved for staff to assign', seats=reserved))
            pool_id = bind.execute(sa.select(pool.c.id).where(pool.c.program_id == program_id)).scalar_one()
            bind.execute(application.update().where(application.c.program_id == program_id,
                                                    application.c.pool == 'reserved').values(pool_id=pool_id))
        last = bind.execute(sa.select(sa.func.max(application.c.id))
                            .where(application.c.program_id == program_id)).scalar()
        bind.execute(program.update().where(program.c.id == program_id).values(last_position=last or 0))
    for app_id, status, created_at in bind.execute(
            sa.select(application.c.id, application.c.status, application.c.created_at)).all():
        history = [{"at": created_at.isoformat() if created_at else None, "status": status, "by": None}]
        bind.execute(application.update().where(application.c.id == app_id)
                     .values(position=app_id, history=json.loads(json.dumps(history))))


def downgrade() -> None:
    bind = op.get_bind()
    application = sa.table('application', sa.column('status', sa.String))
    # The two new states have no older equivalent: an entry in a draw and a reclaimed seat read as withdrawn.
    bind.execute(application.update().where(application.c.status.in_(['entered', 'reclaimed']))
                 .values(status='withdrawn'))
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=_status(NEW_STATUSES), type_=_status(OLD_STATUSES),
                              existing_nullable=False)
        batch_op.drop_constraint(batch_op.f('fk_application_pool_id_program_pool'), type_='foreignkey')
        batch_op.drop_column('history')
        batch_op.drop_column('reason')
        batch_op.drop_column('checks')
        batch_op.drop_column('pool_id')
        batch_op.drop_column('group')
        batch_op.drop_column('position')
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+ and PostgreSQL): a batch rebuild of the programme
    # table would have to drop the table the applications point at.
    for column in ('last_position', 'draw_seed', 'drawn_at', 'groups', 'closes_at', 'opens_at', 'selection'):
        op.execute(f'ALTER TABLE program DROP COLUMN "{column}"')
    op.drop_table('program_pool')
