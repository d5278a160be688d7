"""replicas: recordings in the database, live messages across replicas, SMS budget

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 08:50:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('recording',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ref', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('blob_enc', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ref')
    )
    with op.batch_alter_table('recording', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recording_created_at'), ['created_at'], unique=False)

    op.create_table('live_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('web_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('transcript_id', sa.Integer(), nullable=True),
    sa.Column('event_enc', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('claimed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('claimed_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('live_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_live_message_web_id'), ['web_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_live_message_transcript_id'), ['transcript_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_live_message_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_live_message_claimed_at'), ['claimed_at'], unique=False)

    op.create_table('sms_budget',
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('day', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('used', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('user_id', 'day')
    )


def downgrade() -> None:
    op.drop_table('sms_budget')
    with op.batch_alter_table('live_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_live_message_claimed_at'))
        batch_op.drop_index(batch_op.f('ix_live_message_created_at'))
        batch_op.drop_index(batch_op.f('ix_live_message_transcript_id'))
        batch_op.drop_index(batch_op.f('ix_live_message_web_id'))
    op.drop_table('live_message')
    with op.batch_alter_table('recording', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recording_created_at'))
    op.drop_table('recording')
