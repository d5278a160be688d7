"""staff scope and remembered nonces

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 08:30:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('staff_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('halls', sa.JSON(), server_default='[]', nullable=False))
        batch_op.add_column(sa.Column('departments', sa.JSON(), server_default='[]', nullable=False))
    op.create_table('seen_nonce',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('seen_nonce', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_seen_nonce_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('seen_nonce', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_seen_nonce_expires_at'))
    op.drop_table('seen_nonce')
    with op.batch_alter_table('staff_account', schema=None) as batch_op:
        batch_op.drop_column('departments')
        batch_op.drop_column('halls')
