"""history does not slow the sweep: accepted work not yet noted late is an index range,
whatever was noted late before

Revision ID: a1c5e9f0b2d4
Revises: 9d4b7e2f6a13
Create Date: 2026-12-06 08:10:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'a1c5e9f0b2d4'
down_revision = '9d4b7e2f6a13'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('handoff', schema=None) as batch_op:
        batch_op.create_index('ix_handoff_late', ['state', 'late_noted_at', 'due_at'], unique=False)


def downgrade():
    with op.batch_alter_table('handoff', schema=None) as batch_op:
        batch_op.drop_index('ix_handoff_late')
