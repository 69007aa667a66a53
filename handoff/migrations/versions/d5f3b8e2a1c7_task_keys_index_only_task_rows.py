"""the keys of reminders about tasks to tell the customer index only those rows: the
handoffs' reminders, nearly all of them, wrote two indexes they are never looked up in

Revision ID: d5f3b8e2a1c7
Revises: c4e2a7d9f1b3
Create Date: 2026-12-06 09:10:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'd5f3b8e2a1c7'
down_revision = 'c4e2a7d9f1b3'
branch_labels = None
depends_on = None

TASKS = sa.text("task_id IS NOT NULL")
WAITING = sa.text("mail_after IS NOT NULL")


def upgrade():
    with op.batch_alter_table('nag', schema=None) as batch_op:
        batch_op.drop_constraint('uq_nag_task_id', type_='unique')
        batch_op.drop_index('ix_nag_recipient_task')
    op.create_index(
        'uq_nag_task_id',
        'nag',
        ['task_id', 'kind', 'number', 'recipient_email'],
        unique=True,
        sqlite_where=TASKS,
        postgresql_where=TASKS,
    )
    op.create_index(
        'ix_nag_recipient_task',
        'nag',
        ['recipient_email', 'task_id'],
        unique=False,
        sqlite_where=TASKS,
        postgresql_where=TASKS,
    )


def downgrade():
    op.drop_index('ix_nag_recipient_task', table_name='nag')
    op.drop_index('uq_nag_task_id', table_name='nag')
    with op.batch_alter_table('nag', schema=None) as batch_op:
        batch_op.create_unique_constraint(
            'uq_nag_task_id', ['task_id', 'kind', 'number', 'recipient_email']
        )
        batch_op.create_index('ix_nag_recipient_task', ['recipient_email', 'task_id'], unique=False)
