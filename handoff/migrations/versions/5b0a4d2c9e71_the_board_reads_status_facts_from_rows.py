"""the board reads each commitment's status facts from its row: on the board, overdue from,
earliest answer due, troubled; filled in for every commitment there is

Revision ID: 5b0a4d2c9e71
Revises: 3ae649d77227
Create Date: 2026-12-06 02:10:00.000000

"""
from alembic import op
import sqlalchemy as sa

from handoff.kernel.db import UTCDateTime


# revision identifiers, used by Alembic.
revision = '5b0a4d2c9e71'
down_revision = '3ae649d77227'
branch_labels = None
depends_on = None

UNSETTLED = "('pending', 'accepted', 'countered', 'declined')"
OPEN = "('pending', 'accepted', 'countered')"


def upgrade():
    with op.batch_alter_table('commitment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('on_board', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('overdue_from', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('answer_due_at', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('troubled', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index('ix_commitment_board', ['on_board', 'promised_at', 'id'], unique=False)
        batch_op.create_index('ix_commitment_board_overdue', ['on_board', 'overdue_from'], unique=False)
        batch_op.create_index('ix_commitment_owner_board', ['owner_department_id', 'on_board', 'promised_at'], unique=False)

    # the same facts as commitments.status.board_facts, for the commitments there are
    op.execute(
        "UPDATE commitment SET on_board = (cancelled_at IS NULL AND EXISTS (SELECT 1 FROM handoff h "
        f"WHERE h.commitment_id = commitment.id AND h.state IN {UNSETTLED}))"
    )
    op.execute(
        "UPDATE commitment SET "
        "answer_due_at = (SELECT min(h.due_at) FROM handoff h "
        "WHERE h.commitment_id = commitment.id AND h.state = 'pending'), "
        "troubled = EXISTS (SELECT 1 FROM handoff h WHERE h.commitment_id = commitment.id "
        "AND h.state IN ('declined', 'countered')), "
        "overdue_from = CASE WHEN (SELECT min(h.due_at) FROM handoff h "
        f"WHERE h.commitment_id = commitment.id AND h.state IN {OPEN}) < promised_at "
        "THEN (SELECT min(h.due_at) FROM handoff h "
        f"WHERE h.commitment_id = commitment.id AND h.state IN {OPEN}) "
        "ELSE promised_at END "
        "WHERE on_board"
    )


def downgrade():
    with op.batch_alter_table('commitment', schema=None) as batch_op:
        batch_op.drop_index('ix_commitment_owner_board')
        batch_op.drop_index('ix_commitment_board_overdue')
        batch_op.drop_index('ix_commitment_board')
        batch_op.drop_column('troubled')
        batch_op.drop_column('answer_due_at')
        batch_op.drop_column('overdue_from')
        batch_op.drop_column('on_board')
