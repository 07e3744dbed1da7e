"""personal QR check-in: self check-ins wait for the officer's confirmation (attendance.confirmation,
reviewed_at; existing rows stay confirmed), refused attempts kept for the attempt limits (checkin_failures); every
enrollment and session made before tokens existed gets its unguessable check-in token

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 04:00:00
"""
import secrets

from alembic import op
import sqlalchemy as sa
import shared.db


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('checkin_failures',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('session_id', sa.String(length=36), nullable=True),
    sa.Column('client_key', sa.String(length=64), nullable=False),
    sa.Column('failed_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('checkin_failures', schema=None) as batch_op:
        batch_op.create_index('ix_checkin_failures_session_at', ['session_id', 'failed_at'], unique=False)
        batch_op.create_index('ix_checkin_failures_client_at', ['client_key', 'failed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_checkin_failures_failed_at'), ['failed_at'], unique=False)

    with op.batch_alter_table('attendance', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confirmation', sa.String(length=10), server_default='confirmed',
                                      nullable=False))
        batch_op.add_column(sa.Column('reviewed_at', shared.db.UTCDateTime(timezone=True), nullable=True))

    _give_tokens()


def _give_tokens() -> None:
    """A personal check-in link needs the enrollment's token, a session link the session's: rows from before 0002
    have none (secrets.token_urlsafe(24), as the use cases' new_token)."""
    conn = op.get_bind()
    enrollments = sa.table('enrollments', sa.column('course_id'), sa.column('civil_servant_id'), sa.column('token'))
    for course_id, cs in conn.execute(sa.select(enrollments.c.course_id, enrollments.c.civil_servant_id)
                                      .where(enrollments.c.token.is_(None))).all():
        conn.execute(enrollments.update().where(enrollments.c.course_id == course_id,
                                                enrollments.c.civil_servant_id == cs)
                     .values(token=secrets.token_urlsafe(24)))
    sessions = sa.table('course_sessions', sa.column('id'), sa.column('checkin_token'))
    for (session_id,) in conn.execute(sa.select(sessions.c.id).where(sessions.c.checkin_token.is_(None))).all():
        conn.execute(sessions.update().where(sessions.c.id == session_id)
                     .values(checkin_token=secrets.token_urlsafe(24)))


def downgrade() -> None:
    with op.batch_alter_table('attendance', schema=None) as batch_op:
        batch_op.drop_column('reviewed_at')
        batch_op.drop_column('confirmation')

    with op.batch_alter_table('checkin_failures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_checkin_failures_failed_at'))
        batch_op.drop_index('ix_checkin_failures_client_at')
        batch_op.drop_index('ix_checkin_failures_session_at')

    op.drop_table('checkin_failures')
