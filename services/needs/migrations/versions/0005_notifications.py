"""needs: notifications that reach people — contacts, deliveries, the delivery job queue, the quiet-hours rule

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 04:40:00

`contacts` (one row per civil servant: e-mail, phone, preferred channel, direct supervisor, legal basis of the
processing — Law 91/2025/QH15), `deliveries` (one row per purpose + recipient + object, unique: the exactly-once
claim), `delivery_jobs` (shared.jobs' table shape, only for deliveries) and the versioned rule
`notify_quiet_hours` (no SMS or Zalo between 21:00 and 07:00 Asia/Ho_Chi_Minh; a sample value).
"""
from datetime import date

import sqlalchemy as sa
from alembic import op

import shared.db

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

QUIET_HOURS = {
    "code": "notify_quiet_hours", "valid_from": date(2025, 7, 1), "valid_to": None,
    "value": {"start": "21:00", "end": "07:00", "channels": ["sms", "zalo"]},
    "legal_basis": ("MẪU — khung giờ không gửi tin nhắn SMS/Zalo ban đêm của hệ thống; tham chiếu Nghị định "
                    "91/2020/NĐ-CP về chống tin nhắn rác (tin quảng cáo chỉ được gửi từ 7 giờ đến 22 giờ)"),
    "sample": True,
}


def upgrade() -> None:
    op.create_table(
        'contacts',
        sa.Column('civil_servant_id', sa.String(length=36), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=True),
        sa.Column('phone', sa.String(length=20), nullable=True),
        sa.Column('preferred_channel', sa.String(length=10), nullable=False),
        sa.Column('supervisor_id', sa.String(length=36), nullable=True),
        sa.Column('supervisor_position_code', sa.String(length=40), nullable=True),
        sa.Column('legal_basis', sa.String(length=300), nullable=False),
        sa.Column('updated_at', shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['civil_servant_id'], ['civil_servants.id']),
        sa.PrimaryKeyConstraint('civil_servant_id'),
    )
    op.create_table(
        'deliveries',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('purpose', sa.String(length=40), nullable=False),
        sa.Column('recipient_id', sa.String(length=36), nullable=False),
        sa.Column('object_key', sa.String(length=200), nullable=False),
        sa.Column('course_id', sa.String(length=64), nullable=True),
        sa.Column('subject_id', sa.String(length=36), nullable=True),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('channel', sa.String(length=10), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('provider_id', sa.String(length=200), nullable=True),
        sa.Column('segments', sa.Integer(), nullable=True),
        sa.Column('last_error', sa.String(length=300), nullable=True),
        sa.Column('deferred_until', shared.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('source_event_id', sa.String(length=64), nullable=True),
        sa.Column('created_at', shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('sent_at', shared.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('purpose', 'recipient_id', 'object_key', name='uq_deliveries_key'),
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_course', ['course_id', 'status'], unique=False)
        batch_op.create_index('ix_deliveries_recipient', ['recipient_id'], unique=False)
    op.create_table(
        'delivery_jobs',
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
    with op.batch_alter_table('delivery_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_delivery_jobs_due', ['status', 'due_at'], unique=False)
    rules = sa.table('rules', sa.column('code', sa.String), sa.column('valid_from', sa.Date),
                     sa.column('valid_to', sa.Date), sa.column('value', sa.JSON),
                     sa.column('legal_basis', sa.String), sa.column('sample', sa.Boolean))
    op.bulk_insert(rules, [QUIET_HOURS])


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM rules WHERE code = 'notify_quiet_hours'"))
    with op.batch_alter_table('delivery_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_delivery_jobs_due')
    op.drop_table('delivery_jobs')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_recipient')
        batch_op.drop_index('ix_deliveries_course')
    op.drop_table('deliveries')
    op.drop_table('contacts')
