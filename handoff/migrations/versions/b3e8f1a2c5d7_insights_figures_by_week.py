"""insights: each department's figures by the week its handoffs were handed over, and how
long their first answers took (a count per business minute), kept by the domain events;
filled from the history there is

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


def upgrade():
    op.create_table(
        'week_figures',
        sa.Column('department_id', sa.Integer(), nullable=False),
        sa.Column('owner_department_id', sa.Integer(), nullable=False),
        sa.Column('week', sa.Date(), nullable=False),
        sa.Column('handoffs', sa.Integer(), server_default='0', nullable=False),
        sa.Column('answered', sa.Integer(), server_default='0', nullable=False),
        sa.Column('in_window', sa.Integer(), server_default='0', nullable=False),
        sa.Column('by_promise', sa.Integer(), server_default='0', nullable=False),
        sa.Column('accepted', sa.Integer(), server_default='0', nullable=False),
        sa.Column('declined', sa.Integer(), server_default='0', nullable=False),
        sa.Column('countered', sa.Integer(), server_default='0', nullable=False),
        sa.Column('reminders', sa.Integer(), server_default='0', nullable=False),
        sa.Column('escalations', sa.Integer(), server_default='0', nullable=False),
        sa.Column('done_on_time', sa.Integer(), server_default='0', nullable=False),
        sa.Column('done_late', sa.Integer(), server_default='0', nullable=False),
        sa.Column('late', sa.Integer(), server_default='0', nullable=False),
        sa.Column('tasks', sa.Integer(), server_default='0', nullable=False),
        sa.Column('told_in_time', sa.Integer(), server_default='0', nullable=False),
        sa.Column('feedback', sa.Integer(), server_default='0', nullable=False),
        sa.Column('feedback_score', sa.Integer(), server_default='0', nullable=False),
        sa.ForeignKeyConstraint(
            ['department_id'], ['department.id'],
            name=op.f('fk_week_figures_department_id_department'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['owner_department_id'], ['department.id'],
            name=op.f('fk_week_figures_owner_department_id_department'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint(
            'department_id', 'owner_department_id', 'week', name=op.f('pk_week_figures')
        ),
    )
    op.create_index('ix_week_figures_week', 'week_figures', ['week', 'department_id'])
    op.create_table(
        'answer_time',
        sa.Column('department_id', sa.Integer(), nullable=False),
        sa.Column('owner_department_id', sa.Integer(), nullable=False),
        sa.Column('week', sa.Date(), nullable=False),
        sa.Column('minutes', sa.Integer(), nullable=False),
        sa.Column('handoffs', sa.Integer(), server_default='0', nullable=False),
        sa.ForeignKeyConstraint(
            ['department_id'], ['department.id'],
            name=op.f('fk_answer_time_department_id_department'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['owner_department_id'], ['department.id'],
            name=op.f('fk_answer_time_owner_department_id_department'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint(
            'department_id', 'owner_department_id', 'week', 'minutes',
            name=op.f('pk_answer_time'),
        ),
    )
    op.create_index('ix_answer_time_week', 'answer_time', ['week', 'department_id'])
    op.create_index(
        'ix_handoff_department_requested', 'handoff', ['department_id', 'requested_at']
    )
    from handoff.insights.rebuild import rebuild_in_migration

    rebuild_in_migration(op.get_bind())


def downgrade():
    op.drop_index('ix_handoff_department_requested', table_name='handoff')
    op.drop_index('ix_answer_time_week', table_name='answer_time')
    op.drop_table('answer_time')
    op.drop_index('ix_week_figures_week', table_name='week_figures')
    op.drop_table('week_figures')
