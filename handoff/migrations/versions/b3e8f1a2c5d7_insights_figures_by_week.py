"""insights: each department's figures by the week its handoffs were handed over (for the
department, and for each department that promised on its behalf), and how long their first
answers took (a count per business minute), kept by the domain events

Revision ID: b3e8f1a2c5d7
Revises: a9d3e5f7c1b2
Create Date: 2026-12-06 15:30:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'b3e8f1a2c5d7'
down_revision = 'a9d3e5f7c1b2'
branch_labels = None
depends_on = None


def _department(name, column='department_id'):
    return sa.ForeignKeyConstraint(
        [column], ['department.id'], name=op.f(f'fk_{name}_{column}_department'),
        ondelete='CASCADE',
    )


COUNTERS = (
    'handoffs', 'answered', 'in_window', 'by_promise', 'accepted', 'declined', 'countered',
    'reminders', 'escalations', 'done_on_time', 'done_late', 'late', 'tasks', 'told_in_time',
    'feedback', 'feedback_score',
)


def _counters():
    return [sa.Column(name, sa.Integer(), server_default='0', nullable=False) for name in COUNTERS]


def upgrade():
    op.create_table(
        'week_figures',
        sa.Column('week', sa.Date(), nullable=False),
        sa.Column('department_id', sa.Integer(), nullable=False),
        sa.Column('owner_department_id', sa.Integer(), nullable=False),
        *_counters(),
        _department('week_figures'),
        _department('week_figures', 'owner_department_id'),
        sa.PrimaryKeyConstraint(
            'week', 'department_id', 'owner_department_id', name=op.f('pk_week_figures')
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        'department_week',
        sa.Column('week', sa.Date(), nullable=False),
        sa.Column('department_id', sa.Integer(), nullable=False),
        *_counters(),
        _department('department_week'),
        sa.PrimaryKeyConstraint('week', 'department_id', name=op.f('pk_department_week')),
        sqlite_with_rowid=False,
    )
    op.create_table(
        'answer_time',
        sa.Column('week', sa.Date(), nullable=False),
        sa.Column('department_id', sa.Integer(), nullable=False),
        sa.Column('owner_department_id', sa.Integer(), nullable=False),
        sa.Column('minutes', sa.Integer(), nullable=False),
        sa.Column('handoffs', sa.Integer(), server_default='0', nullable=False),
        _department('answer_time'),
        _department('answer_time', 'owner_department_id'),
        sa.PrimaryKeyConstraint(
            'week', 'department_id', 'owner_department_id', 'minutes',
            name=op.f('pk_answer_time'),
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        'insight_target',
        sa.Column('department_id', sa.Integer(), nullable=False),
        sa.Column('in_window', sa.Integer(), nullable=True),
        sa.Column('on_time', sa.Integer(), nullable=True),
        sa.Column('set_by_id', sa.Integer(), nullable=True),
        sa.Column('set_at', sa.DateTime(timezone=True), nullable=False),
        _department('insight_target'),
        sa.ForeignKeyConstraint(
            ['set_by_id'], ['person.id'], name=op.f('fk_insight_target_set_by_id_person'),
            ondelete='SET NULL',
        ),
        sa.PrimaryKeyConstraint('department_id', name=op.f('pk_insight_target')),
    )
    op.create_table(
        'request_week',
        sa.Column('week', sa.Date(), nullable=False),
        sa.Column('department_id', sa.Integer(), nullable=False),
        sa.Column('request', sa.String(length=200), nullable=False),
        sa.Column('ask', sa.String(length=200), nullable=False),
        sa.Column('answered', sa.Integer(), server_default='0', nullable=False),
        sa.Column('accepted', sa.Integer(), server_default='0', nullable=False),
        sa.Column('least_notice', sa.Integer(), nullable=True),
        sa.Column('answer_minutes', sa.Integer(), server_default='0', nullable=False),
        _department('request_week'),
        sa.PrimaryKeyConstraint(
            'week', 'department_id', 'request', name=op.f('pk_request_week')
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        'weekly_report',
        sa.Column('department_id', sa.Integer(), nullable=False),
        sa.Column('week', sa.Date(), nullable=False),
        sa.Column('written_at', sa.DateTime(timezone=True), nullable=False),
        _department('weekly_report'),
        sa.PrimaryKeyConstraint('department_id', 'week', name=op.f('pk_weekly_report')),
    )
    op.create_index(
        'ix_handoff_department_requested', 'handoff', ['department_id', 'requested_at']
    )
    # (filled from the history there is by the latest migration of these tables, which
    # counts with the code of today: c6f1d2e8a3b9)


def downgrade():
    op.drop_index('ix_handoff_department_requested', table_name='handoff')
    op.drop_table('weekly_report')
    op.drop_table('request_week')
    op.drop_table('insight_target')
    op.drop_table('answer_time')
    op.drop_table('department_week')
    op.drop_table('week_figures')
