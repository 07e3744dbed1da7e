"""evaluation: the access log (issue 14, shared/access_log.py) — append-only

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 05:00:00

`access_log`: one row per call of a protected /api/v1 operation — subject and role of the caller, method and route,
whose record (the path's id), the answer's status, the correlation id, when. UPDATE and DELETE are refused by
triggers (Law 91/2025/QH15, Decree 356/2025/NĐ-CP: access to personal data is recorded).
"""
import sqlalchemy as sa
from alembic import op

import shared.db

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# The statements of shared/access_log.py append_only_ddl, copied so that this revision never changes.
MESSAGE = "access_log is append-only"
DDL = {
    "postgresql": [
        "CREATE OR REPLACE FUNCTION access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$",
        "CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON access_log "
        "FOR EACH ROW EXECUTE FUNCTION access_log_append_only()",
    ],
    "sqlite": [
        f"CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
        f"CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
    ],
}
DROP = {
    "postgresql": ["DROP TRIGGER IF EXISTS access_log_append_only ON access_log",
                   "DROP FUNCTION IF EXISTS access_log_append_only()"],
    "sqlite": ["DROP TRIGGER IF EXISTS access_log_no_update", "DROP TRIGGER IF EXISTS access_log_no_delete"],
}


def upgrade() -> None:
    op.create_table(
        'access_log',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('at', shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('subject', sa.String(length=200), nullable=False),
        sa.Column('role', sa.String(length=40), nullable=False),
        sa.Column('operation', sa.String(length=200), nullable=False),
        sa.Column('record_type', sa.String(length=40), nullable=True),
        sa.Column('record_id', sa.String(length=100), nullable=True),
        sa.Column('status', sa.Integer(), nullable=False),
        sa.Column('correlation_id', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_access_log_at', 'access_log', ['at'])
    op.create_index('ix_access_log_record', 'access_log', ['record_id'])
    op.create_index('ix_access_log_subject', 'access_log', ['subject'])
    for statement in DDL.get(op.get_bind().dialect.name, []):
        op.execute(statement)


def downgrade() -> None:
    for statement in DROP.get(op.get_bind().dialect.name, []):
        op.execute(statement)
    op.drop_index('ix_access_log_subject', table_name='access_log')
    op.drop_index('ix_access_log_record', table_name='access_log')
    op.drop_index('ix_access_log_at', table_name='access_log')
    op.drop_table('access_log')
