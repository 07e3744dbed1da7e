"""courses: what each lecturer was last told about a course (issue 13) — their calendar's SEQUENCE, a fingerprint
of their sessions and whether they still teach in it

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 08:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('courses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lecturer_notices', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('courses', schema=None) as batch_op:
        batch_op.drop_column('lecturer_notices')
