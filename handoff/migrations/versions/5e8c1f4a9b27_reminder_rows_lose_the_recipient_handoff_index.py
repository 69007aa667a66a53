"""reminder rows lose their index of (recipient, handoff): the digest step asks what each
address was mailed before through the unique key the rows lead with (handoff, series, number,
recipient), for all the addresses of a transaction at once; the index was written with every
reminder row and doubled what recording a round's reminders cost

Revision ID: 5e8c1f4a9b27
Revises: 9a1066a7981b
Create Date: 2026-12-07 01:20:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '5e8c1f4a9b27'
down_revision = '9a1066a7981b'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('ix_nag_recipient_handoff', table_name='nag')


def downgrade():
    op.create_index('ix_nag_recipient_handoff', 'nag', ['recipient_email', 'handoff_id'])
