"""evaluation: the outbox's message bodies compressed with LZ4 instead of pglz (PostgreSQL)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 02:30:00

A body above PostgreSQL's TOAST threshold (2 kB) is compressed as it is written: an
`evaluation.trainee_feedback_requested` of 40 trainees, each with their link, is about 6 kB. pglz, the default,
spent about 70 µs on a 6 kB body; LZ4 does the same in a fraction of that (evaluation's consumer batch of 200
`course_completed` × 40: its outbox COPY 25 → 11 ms, issue 16), and the relay reads them back faster as well. Only
values written after the change are affected; a server built without LZ4 keeps pglz (the revision does nothing).
SQLite stores text as it is: nothing to do.
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def _lz4_available(bind) -> bool:
    return bind.scalar(sa.text(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")) is True


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql" and _lz4_available(bind):
        op.execute("ALTER TABLE outbox ALTER COLUMN body SET COMPRESSION lz4")


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE outbox ALTER COLUMN body SET COMPRESSION default")
