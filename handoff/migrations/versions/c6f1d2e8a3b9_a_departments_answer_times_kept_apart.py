"""insights: each department's answer times by week (a count per business minute), whoever
promised, kept apart from those by promising department so that a department's medians read a
tenth of the rows; every figure filled from the history there is

Revision ID: c6f1d2e8a3b9
Revises: b3e8f1a2c5d7
Create Date: 2026-12-06 18:40:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'c6f1d2e8a3b9'
down_revision = 'b3e8f1a2c5d7'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'department_answer_time',
        sa.Column('week', sa.Date(), nullable=False),
        sa.Column('department_id', sa.Integer(), nullable=False),
        sa.Column('minutes', sa.Integer(), nullable=False),
        sa.Column('handoffs', sa.Integer(), server_default='0', nullable=False),
        sa.ForeignKeyConstraint(
            ['department_id'], ['department.id'],
            name=op.f('fk_department_answer_time_department_id_department'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint(
            'week', 'department_id', 'minutes', name=op.f('pk_department_answer_time')
        ),
        sqlite_with_rowid=False,
    )
    # every figure counted anew from the record, by today's code: it reads today's handoffs,
    # timeline, hours and policies and writes today's insights tables, so a later migration
    # that changes any of those moves this call to itself (an upgrade from before this one
    # would otherwise count with columns not there yet)
    from handoff.insights.rebuild import rebuild

    rebuild(op.get_bind())


def downgrade():
    op.drop_table('department_answer_time')
