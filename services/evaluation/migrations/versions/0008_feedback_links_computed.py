"""evaluation: a course's feedback links computed from its handle and key, no request row per trainee

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 19:30:00

Opening a course's feedback window wrote one `feedback_requests` row per trainee (its key, its token's unique index
and its foreign key): 8,000 rows, 66–74 ms, for a consumer batch of 200 completions × 40 trainees, and most of the
WAL an event wrote (issue 16). Who was asked is already the course's roster; a trainee's token is now computed
from the course's random handle and key (shared.capability), an answer writes one
`feedback_submissions` row, and a trainee's reminders are counted from their notifications.

Upgrade: the answered requests become submissions; every existing token is kept in `feedback_legacy_tokens`, so
the links already sent keep working; a course opened before the roster existed gets one built from its requests
(sending commune unknown, certificates unknown: `uncertified` null); `feedback_requests` is dropped.
Downgrade: `feedback_requests` is rebuilt — the kept tokens, and for courses opened since, the computed ones (the
same derivation as the domain's, copied here as migrations copy what they need) — with the answer times and the
reminders counted from the notifications.
"""
import base64
import hashlib

import sqlalchemy as sa
from alembic import op

import shared.db

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_courses = sa.table("evaluated_courses", sa.column("course_id", sa.String), sa.column("roster", sa.JSON),
                    sa.column("feedback_handle", sa.String), sa.column("feedback_key", sa.String))
_requests = sa.table("feedback_requests", sa.column("course_id", sa.String), sa.column("civil_servant_id", sa.String),
                     sa.column("token", sa.String), sa.column("submitted_at", shared.db.UTCDateTime(timezone=True)),
                     sa.column("reminders", sa.Integer))


def upgrade():
    # Plain ALTERs and a unique index, not a batch (SQLite would copy evaluated_courses into a new table, which its
    # foreign keys refuse once courses have answers).
    op.add_column('evaluated_courses', sa.Column('feedback_handle', sa.String(length=16), nullable=True))
    op.add_column('evaluated_courses', sa.Column('feedback_key', sa.String(length=64), nullable=True))
    op.create_index('ix_evaluated_courses_feedback_handle', 'evaluated_courses', ['feedback_handle'], unique=True)
    op.create_table('feedback_submissions',
                    sa.Column('course_id', sa.String(length=36), nullable=False),
                    sa.Column('civil_servant_id', sa.String(length=36), nullable=False),
                    sa.Column('submitted_at', shared.db.UTCDateTime(timezone=True), nullable=False),
                    sa.ForeignKeyConstraint(['course_id'], ['evaluated_courses.course_id'], ),
                    sa.PrimaryKeyConstraint('course_id', 'civil_servant_id'))
    op.create_table('feedback_legacy_tokens',
                    sa.Column('token', sa.String(length=64), nullable=False),
                    sa.Column('course_id', sa.String(length=36), nullable=False),
                    sa.Column('civil_servant_id', sa.String(length=36), nullable=False),
                    sa.ForeignKeyConstraint(['course_id'], ['evaluated_courses.course_id'], ),
                    sa.PrimaryKeyConstraint('token'))
    op.create_index('ix_feedback_legacy_tokens_course_id', 'feedback_legacy_tokens', ['course_id'], unique=False)
    op.execute("INSERT INTO feedback_submissions (course_id, civil_servant_id, submitted_at) "
               "SELECT course_id, civil_servant_id, submitted_at FROM feedback_requests WHERE submitted_at IS NOT NULL")
    op.execute("INSERT INTO feedback_legacy_tokens (token, course_id, civil_servant_id) "
               "SELECT token, course_id, civil_servant_id FROM feedback_requests")
    bind = op.get_bind()
    for (course_id,) in bind.execute(sa.select(_courses.c.course_id).where(_courses.c.roster.is_(None))).all():
        ids = bind.execute(sa.select(_requests.c.civil_servant_id).where(_requests.c.course_id == course_id)
                           .order_by(_requests.c.civil_servant_id)).scalars().all()
        bind.execute(_courses.update().where(_courses.c.course_id == course_id)
                     .values(roster={"communes": {"": list(ids)}, "uncertified": None}))
    op.drop_table('feedback_requests')


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _computed_tokens(handle: str, key: str, roster: dict) -> dict:
    """shared.capability.tokens(b"feedback-link", …) at revision 0008: handle, position, keyed BLAKE2b."""
    ordered = sorted(cs for ids in roster.get("communes", {}).values() for cs in ids)
    out = {}
    for position, cs in enumerate(ordered):
        head = _unb64(handle) + position.to_bytes(2, "big")
        mac = hashlib.blake2b(key=_unb64(key), digest_size=17, person=b"feedback-link")
        mac.update(head + cs.encode())
        out[cs] = _b64(head + mac.digest())
    return out


def downgrade():
    op.create_table('feedback_requests',
                    sa.Column('course_id', sa.String(length=36), nullable=False),
                    sa.Column('civil_servant_id', sa.String(length=36), nullable=False),
                    sa.Column('token', sa.String(length=64), nullable=False),
                    sa.Column('submitted_at', shared.db.UTCDateTime(timezone=True), nullable=True),
                    sa.Column('reminders', sa.Integer(), server_default='0', nullable=False),
                    sa.ForeignKeyConstraint(['course_id'], ['evaluated_courses.course_id'], ),
                    sa.PrimaryKeyConstraint('course_id', 'civil_servant_id'),
                    sa.UniqueConstraint('token'))
    op.execute("INSERT INTO feedback_requests (course_id, civil_servant_id, token) "
               "SELECT course_id, civil_servant_id, token FROM feedback_legacy_tokens")
    bind = op.get_bind()
    rows = []
    for course_id, roster, handle, key in bind.execute(sa.select(
            _courses.c.course_id, _courses.c.roster, _courses.c.feedback_handle, _courses.c.feedback_key)
            .where(_courses.c.feedback_key.is_not(None))):
        rows += [{"course_id": course_id, "civil_servant_id": cs, "token": token}
                 for cs, token in _computed_tokens(handle, key, roster or {}).items()]
    if rows:
        bind.execute(sa.insert(sa.table("feedback_requests", sa.column("course_id"), sa.column("civil_servant_id"),
                                        sa.column("token"))), rows)
    op.execute("UPDATE feedback_requests SET submitted_at = (SELECT s.submitted_at FROM feedback_submissions s "
               "WHERE s.course_id = feedback_requests.course_id "
               "AND s.civil_servant_id = feedback_requests.civil_servant_id)")
    op.execute("UPDATE feedback_requests SET reminders = (SELECT count(*) FROM notifications n "
               "WHERE n.course_id = feedback_requests.course_id "
               "AND n.civil_servant_id = feedback_requests.civil_servant_id AND n.kind = 'feedback_reminder')")
    for course_id, roster in bind.execute(sa.select(_courses.c.course_id, _courses.c.roster)
                                          .where(_courses.c.roster.is_not(None))).all():
        if roster and roster.get("uncertified", []) is None:  # built by the upgrade: the course had none
            bind.execute(_courses.update().where(_courses.c.course_id == course_id).values(roster=sa.null()))
    op.drop_index('ix_feedback_legacy_tokens_course_id', table_name='feedback_legacy_tokens')
    op.drop_table('feedback_legacy_tokens')
    op.drop_table('feedback_submissions')
    op.drop_index('ix_evaluated_courses_feedback_handle', table_name='evaluated_courses')
    op.execute("ALTER TABLE evaluated_courses DROP COLUMN feedback_key")  # SQLite ≥ 3.35 and PostgreSQL alike
    op.execute("ALTER TABLE evaluated_courses DROP COLUMN feedback_handle")
