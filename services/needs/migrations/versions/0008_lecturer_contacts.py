"""needs: lecturers' contact book; deliveries name the contact book of their recipient

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 08:05:00

`lecturer_contacts` (one row per lecturer, keyed by courses' lecturer id: name for the salutation, e-mail, phone,
preferred channel, legal basis of the processing — Law 91/2025/QH15). Lecturers are not civil servants: courses
names them by lecturer id and needs, the holder of contact data, delivers. `deliveries.recipient_kind`
(`civil_servant` | `lecturer`) says which contact book `recipient_id` is read from; every existing row is a civil
servant's.
"""
import sqlalchemy as sa
from alembic import op

import shared.db

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'lecturer_contacts',
        sa.Column('lecturer_id', sa.String(length=36), nullable=False),
        sa.Column('full_name', sa.String(length=200), nullable=True),
        sa.Column('email', sa.String(length=254), nullable=True),
        sa.Column('phone', sa.String(length=20), nullable=True),
        sa.Column('preferred_channel', sa.String(length=10), nullable=False),
        sa.Column('legal_basis', sa.String(length=300), nullable=False),
        sa.Column('updated_at', shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('lecturer_id'),
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recipient_kind', sa.String(length=20), server_default='civil_servant',
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('recipient_kind')
    op.drop_table('lecturer_contacts')
