"""each handoff knows its promising side (the commitment's owner, which never changes), so
that the counters a department must settle are one index range

Revision ID: b7e3d1a9c4f6
Revises: a1c5e9f0b2d4
Create Date: 2026-12-06 08:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7e3d1a9c4f6'
down_revision = 'a1c5e9f0b2d4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('handoff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner_department_id', sa.Integer(), nullable=True))
    op.execute(
        "UPDATE handoff SET owner_department_id = (SELECT owner_department_id FROM commitment "
        "WHERE commitment.id = handoff.commitment_id)"
    )
    with op.batch_alter_table('handoff', schema=None) as batch_op:
        batch_op.alter_column('owner_department_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_handoff_owner_department_id_department'),
            'department',
            ['owner_department_id'],
            ['id'],
        )
        batch_op.create_index(
            'ix_handoff_owner_state_due', ['owner_department_id', 'state', 'due_at'], unique=False
        )


def downgrade():
    with op.batch_alter_table('handoff', schema=None) as batch_op:
        batch_op.drop_index('ix_handoff_owner_state_due')
        batch_op.drop_constraint(
            batch_op.f('fk_handoff_owner_department_id_department'), type_='foreignkey'
        )
        batch_op.drop_column('owner_department_id')
