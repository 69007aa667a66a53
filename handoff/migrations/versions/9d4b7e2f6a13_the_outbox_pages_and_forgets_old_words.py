"""the outbox pages by status, newest first, and the words of old mail are pruned: an index
of the messages whose words are still kept

Revision ID: 9d4b7e2f6a13
Revises: 7c31e5a8d402
Create Date: 2026-12-06 06:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9d4b7e2f6a13'
down_revision = '7c31e5a8d402'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_status_id', ['status', 'id'], unique=False)
        batch_op.create_index(
            'ix_outbox_words_kept',
            ['created_at'],
            unique=False,
            sqlite_where=sa.text("body_html != ''"),
            postgresql_where=sa.text("body_html != ''"),
        )


def downgrade():
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_words_kept')
        batch_op.drop_index('ix_outbox_status_id')
