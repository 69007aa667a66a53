"""reminder rows carry fewer indexes: what waits to be mailed is a partial index of the
waiting rows only, and a handoff's or task's rows are found through the unique key each
leads (recording a reminder wrote ten indexes of a table that only grows)

Revision ID: c4e2a7d9f1b3
Revises: b7e3d1a9c4f6
Create Date: 2026-12-06 06:10:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c4e2a7d9f1b3'
down_revision = 'b7e3d1a9c4f6'
branch_labels = None
depends_on = None

WAITING = sa.text("mail_after IS NOT NULL")


def upgrade():
    with op.batch_alter_table('nag', schema=None) as batch_op:
        batch_op.drop_index('ix_nag_handoff_id')
        batch_op.drop_index('ix_nag_task_id')
        batch_op.drop_index('ix_nag_mail_after')
        batch_op.drop_index('ix_nag_recipient_waiting')
        batch_op.create_index(
            'ix_nag_mail_after',
            ['mail_after'],
            unique=False,
            sqlite_where=WAITING,
            postgresql_where=WAITING,
        )
        batch_op.create_index(
            'ix_nag_recipient_waiting',
            ['recipient_email', 'mail_after'],
            unique=False,
            sqlite_where=WAITING,
            postgresql_where=WAITING,
        )


def downgrade():
    with op.batch_alter_table('nag', schema=None) as batch_op:
        batch_op.drop_index('ix_nag_recipient_waiting')
        batch_op.drop_index('ix_nag_mail_after')
        batch_op.create_index(
            'ix_nag_recipient_waiting', ['recipient_email', 'mail_after'], unique=False
        )
        batch_op.create_index('ix_nag_mail_after', ['mail_after'], unique=False)
        batch_op.create_index('ix_nag_task_id', ['task_id'], unique=False)
        batch_op.create_index('ix_nag_handoff_id', ['handoff_id'], unique=False)
