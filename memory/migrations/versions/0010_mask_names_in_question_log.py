"""question log: mask the names residents introduced in the questions already kept

Before this revision the unplaced questions kept in `question_log.text_masked` had their ID
numbers and phones masked but not a name the resident typed (我叫王小芳，… was stored so);
they are masked now as new questions are (memory.pii.mask_text). Data only: no schema change.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 03:20:00
"""
from alembic import op
import sqlalchemy as sa

from tongban.memory.pii import mask_text


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, text_masked FROM question_log WHERE text_masked IS NOT NULL")).all()
    for row_id, kept in rows:
        if (masked := mask_text(kept)) != kept:
            connection.execute(sa.text("UPDATE question_log SET text_masked = :masked WHERE id = :id"),
                               {"masked": masked, "id": row_id})


def downgrade() -> None:
    pass  # the names are gone; there is nothing to restore
