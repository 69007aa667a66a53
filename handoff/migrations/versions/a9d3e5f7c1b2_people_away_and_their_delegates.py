"""people away: an absence from a first to a last day, with a delegate who answers for them;
answers say whom a delegate gave them for

Revision ID: a9d3e5f7c1b2
Revises: f2a7c4e9b1d3
Create Date: 2026-12-06 14:40:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'a9d3e5f7c1b2'
down_revision = 'f2a7c4e9b1d3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'absence',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('delegate_id', sa.Integer(), nullable=True),
        sa.Column('first_day', sa.Date(), nullable=False),
        sa.Column('last_day', sa.Date(), nullable=False),
        sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('note', sa.String(length=200), server_default='', nullable=False),
        sa.Column('set_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['person_id'], ['person.id'], name=op.f('fk_absence_person_id_person'),
            ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['delegate_id'], ['person.id'], name=op.f('fk_absence_delegate_id_person'),
            ondelete='SET NULL',
        ),
        sa.ForeignKeyConstraint(
            ['set_by_id'], ['person.id'], name=op.f('fk_absence_set_by_id_person'),
            ondelete='SET NULL',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_absence')),
    )
    op.create_index('ix_absence_person', 'absence', ['person_id', 'ends_at'])
    op.create_index('ix_absence_delegate', 'absence', ['delegate_id', 'ends_at'])
    op.create_index('ix_absence_ends', 'absence', ['ends_at'])
    # A nullable column with its reference, added in place: on SQLite a batch would copy and
    # drop the handoff table, which the rows referring to it forbid (foreign keys are on).
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(
            'ALTER TABLE handoff ADD COLUMN answered_for_id INTEGER '
            'CONSTRAINT fk_handoff_answered_for_id_person REFERENCES person (id)'
        )
    else:
        op.add_column('handoff', sa.Column('answered_for_id', sa.Integer(), nullable=True))
        op.create_foreign_key(
            op.f('fk_handoff_answered_for_id_person'), 'handoff', 'person',
            ['answered_for_id'], ['id'],
        )


def downgrade():
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE handoff DROP COLUMN answered_for_id')
    else:
        op.drop_constraint(
            op.f('fk_handoff_answered_for_id_person'), 'handoff', type_='foreignkey'
        )
        op.drop_column('handoff', 'answered_for_id')
    op.drop_index('ix_absence_ends', table_name='absence')
    op.drop_index('ix_absence_delegate', table_name='absence')
    op.drop_index('ix_absence_person', table_name='absence')
    op.drop_table('absence')
