"""Migration 0003 gives every enrollment and session made before check-in tokens existed its token, so every
enrolled trainee has a personal check-in link (both backends)."""
from __future__ import annotations

from datetime import date, datetime, timezone

import sqlalchemy as sa
from alembic import command

from shared.migrate import alembic_config, upgrade


def test_0003_gives_old_enrollments_and_sessions_their_check_in_tokens(backend):
    url = backend.url("courses")
    command.upgrade(alembic_config("courses", url), "0002")
    engine = sa.create_engine(url)
    now = datetime(2026, 3, 1, tzinfo=timezone.utc)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO trainees (civil_servant_id, code, unit_code, commune_code, position_code,"
                                 " female, ethnic_minority, hard_area, child_under_36_months, updated_at) VALUES "
                                 "('cs-1', 'TB-0001', 'U', 'CM-X', 'P', false, false, false, false, :now),"
                                 "('cs-2', 'TB-0002', 'U', 'CM-X', 'P', false, false, false, false, :now)"),
                         {"now": now})
            conn.execute(sa.text("INSERT INTO lecturers (id, name, tier) VALUES ('l-1', 'GV', 2)"))
            conn.execute(sa.text("INSERT INTO courses (id, code, title, organizer_unit_code, status, created_at) "
                                 "VALUES ('c-1', 'K-1', 'Lớp cũ', 'CM-THOIBINH', 'confirmed', :now)"), {"now": now})
            conn.execute(sa.text("INSERT INTO course_sessions (id, course_id, date, buoi, periods, lecturer_id) "
                                 "VALUES ('s-1', 'c-1', :d, 'morning', 4, 'l-1')"), {"d": date(2026, 3, 2)})
            conn.execute(sa.text("INSERT INTO enrollments (course_id, civil_servant_id, enrolled_at, token) VALUES "
                                 "('c-1', 'cs-1', :now, NULL), ('c-1', 'cs-2', :now, 'kept-as-it-was')"), {"now": now})
        upgrade("courses", url)
        with engine.connect() as conn:
            tokens = dict(conn.execute(sa.text("SELECT civil_servant_id, token FROM enrollments")).all())
            session_token = conn.execute(sa.text("SELECT checkin_token FROM course_sessions")).scalar()
    finally:
        engine.dispose()
    assert tokens["cs-2"] == "kept-as-it-was" and len(tokens["cs-1"]) == 32
    assert session_token and len(session_token) == 32
