"""ledger entries are append-only in the database: UPDATE and DELETE are refused (corrections are reversals)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 17:45:00
"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

# The same statements as services/funding/models.py APPEND_ONLY_DDL, copied so that this revision never changes.
MESSAGE = "ledger_entries is append-only: post a reversal journal"
DDL = {
    "postgresql": [
        "CREATE OR REPLACE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$",
        "CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries "
        "FOR EACH ROW EXECUTE FUNCTION ledger_append_only()",
    ],
    "sqlite": [
        f"CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
        f"CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
    ],
}
DROP = {
    "postgresql": ["DROP TRIGGER IF EXISTS ledger_entries_append_only ON ledger_entries",
                   "DROP FUNCTION IF EXISTS ledger_append_only()"],
    "sqlite": ["DROP TRIGGER IF EXISTS ledger_entries_no_update", "DROP TRIGGER IF EXISTS ledger_entries_no_delete"],
}


def upgrade() -> None:
    for statement in DDL.get(op.get_bind().dialect.name, []):
        op.execute(statement)


def downgrade() -> None:
    for statement in DROP.get(op.get_bind().dialect.name, []):
        op.execute(statement)
