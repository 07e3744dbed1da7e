"""durable jobs on shared.jobs: the `jobs` table replaces `scheduled_jobs` (rows copied)

Each scheduled job becomes a shared job: kind kept, payload {course_id, reminded_at}, dedupe key
"<kind>:<course_id>" (the old unique (kind, course_id)), done_at → finished_at, and last_error keeps only the
exception's type (shared.jobs records type and place, never the text, which may quote personal data).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 09:00:00
"""
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

import shared.db

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

OLD = sa.table('scheduled_jobs', sa.column('id'), sa.column('kind'), sa.column('course_id'),
               sa.column('due_at', shared.db.UTCDateTime()), sa.column('status'),
               sa.column('reminded_at', shared.db.UTCDateTime()), sa.column('attempts'), sa.column('last_error'),
               sa.column('done_at', shared.db.UTCDateTime()))


def _jobs_table() -> sa.Table:
    return op.create_table(
        'jobs',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=10), server_default='pending', nullable=False),
        sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
        sa.Column('due_at', shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('dedupe_key', sa.String(length=200), nullable=True),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.Column('created_at', shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('finished_at', shared.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('dedupe_key'),
    )


def upgrade() -> None:
    jobs = _jobs_table()
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index('ix_jobs_due', ['status', 'due_at'], unique=False)
    conn = op.get_bind()
    now = datetime.now(timezone.utc)
    rows = []
    for r in conn.execute(sa.select(OLD)):
        reminded = r.reminded_at.isoformat() if r.reminded_at else None
        rows.append({"id": r.id, "kind": r.kind, "payload": {"course_id": r.course_id, "reminded_at": reminded},
                     "status": r.status, "attempts": r.attempts or 0, "due_at": r.due_at,
                     "dedupe_key": f"{r.kind}:{r.course_id}",
                     "last_error": (r.last_error or "").split(":")[0][:500] or None,
                     "created_at": now, "finished_at": r.done_at})
    if rows:
        op.bulk_insert(jobs, rows)
    with op.batch_alter_table('scheduled_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_scheduled_jobs_due')
    op.drop_table('scheduled_jobs')


def downgrade() -> None:
    old = op.create_table(
        'scheduled_jobs',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('course_id', sa.String(length=36), nullable=False),
        sa.Column('due_at', shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('reminded_at', shared.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('done_at', shared.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('kind', 'course_id'),
    )
    with op.batch_alter_table('scheduled_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_scheduled_jobs_due', ['status', 'due_at'], unique=False)
    conn = op.get_bind()
    jobs = sa.table('jobs', sa.column('id'), sa.column('kind'), sa.column('payload', sa.JSON()),
                    sa.column('status'), sa.column('attempts'), sa.column('due_at', shared.db.UTCDateTime()),
                    sa.column('last_error'), sa.column('finished_at', shared.db.UTCDateTime()))
    rows = []
    for r in conn.execute(sa.select(jobs)):
        reminded = (r.payload or {}).get("reminded_at")
        rows.append({"id": r.id, "kind": r.kind, "course_id": r.payload["course_id"], "due_at": r.due_at,
                     "status": "pending" if r.status == "running" else r.status,
                     "reminded_at": datetime.fromisoformat(reminded) if reminded else None,
                     "attempts": r.attempts, "last_error": r.last_error, "done_at": r.finished_at})
    if rows:
        op.bulk_insert(old, rows)
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_due')
    op.drop_table('jobs')
