"""needs: the access log's retention as a versioned rule (issue 14, shared/access_log.py); append-only but for the purge

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 08:30:00

`access_log_retention`: how many days access-log entries are kept, with legal basis and validity dates (shared/rules.py),
seeded with a SAMPLE version (MẪU: 730 days from 1 January 2026 — not a legal figure; Law 91/2025/QH15 on personal
data protection, Decree 356/2025/NĐ-CP). The append-only triggers are replaced: UPDATE is still always refused,
DELETE only of an entry older than the period in force on the database's local day (Asia/Ho_Chi_Minh, UTC+7) —
the workers' retention purge; with no version in force, every DELETE is refused.
"""
import uuid
from datetime import date

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

MESSAGE = "access_log is append-only"
PG_TODAY = "(now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date"
SQLITE_TODAY = "date('now', '+7 hours')"
# The statements of shared/access_log.py append_only_ddl, copied so that this revision never changes.
UPGRADE = {
    "postgresql": [
        "CREATE OR REPLACE FUNCTION access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "DECLARE keep_days integer; BEGIN "
        "IF TG_OP = 'DELETE' THEN "
        f"SELECT days INTO keep_days FROM access_log_retention WHERE valid_from <= {PG_TODAY} "
        f"AND (valid_to IS NULL OR valid_to >= {PG_TODAY}) ORDER BY valid_from DESC LIMIT 1; "
        "IF keep_days IS NOT NULL AND OLD.at < now() - make_interval(days => keep_days) THEN RETURN OLD; "
        "END IF; END IF; "
        f"RAISE EXCEPTION '{MESSAGE}'; END $$",
    ],
    "sqlite": [
        "DROP TRIGGER IF EXISTS access_log_no_delete",
        "CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log "
        "WHEN coalesce(OLD.at < (SELECT datetime('now', '-' || days || ' days') "
        f"FROM access_log_retention WHERE valid_from <= {SQLITE_TODAY} "
        f"AND (valid_to IS NULL OR valid_to >= {SQLITE_TODAY}) ORDER BY valid_from DESC LIMIT 1), 0) = 0 "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
    ],
}
# Back to the previous revision's triggers (every UPDATE and DELETE refused).
DOWNGRADE = {
    "postgresql": [
        "CREATE OR REPLACE FUNCTION access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$",
    ],
    "sqlite": [
        "DROP TRIGGER IF EXISTS access_log_no_delete",
        f"CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
    ],
}


def upgrade() -> None:
    retention = op.create_table(
        'access_log_retention',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('days', sa.Integer(), nullable=False),
        sa.Column('valid_from', sa.Date(), nullable=False),
        sa.Column('valid_to', sa.Date(), nullable=True),
        sa.Column('legal_basis', sa.String(length=300), nullable=False),
        sa.Column('is_sample', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.bulk_insert(retention, [{
        "id": str(uuid.uuid4()), "days": 730, "valid_from": date(2026, 1, 1), "valid_to": None, "is_sample": True,
        "legal_basis": "MẪU — giá trị mẫu, chưa phải thời hạn được quy định; căn cứ: Luật Bảo vệ dữ liệu cá nhân "
                       "số 91/2025/QH15, Nghị định 356/2025/NĐ-CP"}])
    for statement in UPGRADE.get(op.get_bind().dialect.name, []):
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE.get(op.get_bind().dialect.name, []):
        op.execute(statement)
    op.drop_table('access_log_retention')
