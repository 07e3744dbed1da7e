"""courses: the operations console's tracked operations (shared/console_ops.py)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 04:00:00

`dead_letter_operations`: one row per replay of a dead-letter group or per edit-and-retry — who, why, the group,
the progress, the status, the original and corrected message ids; `dead_letter_operation_items`: each message id
an operation has sent (primary key operation + message id: a resumed replay never sends one twice).
"""
import sqlalchemy as sa
from alembic import op

import shared.db

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'dead_letter_operations',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('event_type', sa.String(length=100), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('total', sa.Integer(), server_default='0', nullable=False),
        sa.Column('sent', sa.Integer(), server_default='0', nullable=False),
        sa.Column('skipped', sa.Integer(), server_default='0', nullable=False),
        sa.Column('actor', sa.String(length=100), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('original_message_id', sa.String(length=64), nullable=True),
        sa.Column('new_message_id', sa.String(length=64), nullable=True),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.Column('created_at', shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('finished_at', shared.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_dead_letter_operations_created', 'dead_letter_operations', ['created_at'], unique=False)
    op.create_table(
        'dead_letter_operation_items',
        sa.Column('operation_id', sa.String(length=36), nullable=False),
        sa.Column('message_id', sa.String(length=64), nullable=False),
        sa.Column('sent_at', shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['operation_id'], ['dead_letter_operations.id']),
        sa.PrimaryKeyConstraint('operation_id', 'message_id'),
    )


def downgrade() -> None:
    op.drop_table('dead_letter_operation_items')
    op.drop_index('ix_dead_letter_operations_created', table_name='dead_letter_operations')
    op.drop_table('dead_letter_operations')
