"""needs: the shared durable-job table (shared.jobs); queued, running and failed close jobs copied into it

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 00:55:00

close_jobs stays as the progress record of a close (params, cursor, counters); which close is due, its attempts and
its last error now live in `jobs` (kind "close_campaign", payload {campaign_id}, dedupe key close_campaign:<id>).
"""
import uuid
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

import shared.db

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

STATUS = {"queued": "pending", "running": "pending", "failed": "failed", "done": "done"}


def upgrade() -> None:
    jobs = op.create_table(
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
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index('ix_jobs_due', ['status', 'due_at'], unique=False)
    close_jobs = sa.table('close_jobs', sa.column('campaign_id', sa.String), sa.column('status', sa.String),
                          sa.column('attempts', sa.Integer), sa.column('error', sa.String),
                          sa.column('created_at', shared.db.UTCDateTime(timezone=True)),
                          sa.column('finished_at', shared.db.UTCDateTime(timezone=True)))
    now = datetime.now(timezone.utc)
    rows = [{"id": str(uuid.uuid4()), "kind": "close_campaign", "payload": {"campaign_id": r.campaign_id},
             "status": STATUS.get(r.status, "pending"), "attempts": r.attempts or 0, "due_at": now,
             "dedupe_key": f"close_campaign:{r.campaign_id}", "last_error": r.error, "created_at": r.created_at or now,
             "finished_at": r.finished_at}
            for r in op.get_bind().execute(sa.select(close_jobs)).all()]
    if rows:
        op.bulk_insert(jobs, rows)


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_due')
    op.drop_table('jobs')
