"""courses: what the trainees were last told about a course (issue 13) — the calendar's SEQUENCE and a fingerprint
of the sessions and venue it showed

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 04:25:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('courses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notice_sequence', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('notice_fingerprint', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('courses', schema=None) as batch_op:
        batch_op.drop_column('notice_fingerprint')
        batch_op.drop_column('notice_sequence')
