"""Benchmark of course scheduling: 2,000 sessions for 5,000 trainees through the real scheduling use case.

Run: `.venv/bin/python -m tools.bench_courses` (PostgreSQL on localhost; its own database, dropped at the end).
Builds 5,000 trainees in 5 communes, 50 lecturers, 50 venues and 250 draft courses of 8 buổi (4 days) with 20
trainees each, then schedules them all with `usecases.schedule_courses` (POST /courses/schedule) — length cap,
lecturer standard, the conflict checks (trainee, lecturer, venue, commune on-duty share, against the booked courses
and each other) and one course_scheduled outbox row per course, in one transaction — and prints elapsed seconds and
sessions/s (target: under 5 s). `--per-course` schedules course by course instead (POST /courses/<id>/schedule,
one transaction each).
Finally it tries courses that must be refused (a lecturer, a venue, a trainee booked twice; a commune over its
share) and checks each one is.
"""
from __future__ import annotations

import argparse
import sys
import time
import uuid
from datetime import date, timedelta

import sqlalchemy as sa

from services.courses import usecases
from services.courses.models import Trainee
from shared.db import make_engine, make_session_factory, transaction, utcnow
from shared.errors import DomainError
from shared.migrate import upgrade
from tools.isolation import create_pg_database, drop_pg_database

COMMUNES = ["CM-THOIBINH", "CM-BIENBACH", "CM-TRIPHAI", "CM-TANLOC", "CM-HOTHIKY"]
FIRST_MONDAY = date(2026, 3, 2)


def build(session_factory, trainees: int, courses: int, per_course: int, days: int, resources: int) -> dict:
    """Create trainees, lecturers, venues and draft courses with their enrollments; return their ids."""
    now = utcnow()
    ids = [str(uuid.uuid4()) for _ in range(trainees)]
    with transaction(session_factory) as s:
        s.execute(sa.insert(Trainee), [{
            "civil_servant_id": cs, "code": f"B-{i:05d}", "unit_code": COMMUNES[i % 5], "commune_code": COMMUNES[i % 5],
            "position_code": "VHXH", "female": i % 2 == 0, "ethnic_minority": i % 7 == 0, "hard_area": False,
            "child_under_36_months": i % 11 == 0, "updated_at": now, "employment_status": "active"}
            for i, cs in enumerate(ids)])
        lecturers = [usecases.create_lecturer(s, {"name": f"GV {i}", "tier": 1 + i % 5, "degree": "master",
                                                  "pedagogy_certificate": True, "years_experience": 5})["id"]
                     for i in range(resources)]
        venues = [usecases.create_venue(s, {"name": f"Hội trường {i}", "address": "Cà Mau", "capacity": 60,
                                            "distances": [{"commune_code": c, "km": 3 + 4 * k}
                                                          for k, c in enumerate(COMMUNES)]}).id
                  for i in range(resources)]
    course_ids = []
    with transaction(session_factory) as s:
        for i in range(courses):
            block, slot = divmod(i, resources)  # one week per block; within a block every lecturer/venue once
            start = FIRST_MONDAY + timedelta(weeks=block)
            lecturer = lecturers[slot]
            course = usecases.create_course(s, {
                "code": f"BENCH-{i:04d}", "title": "Kỹ năng số", "organizer_unit_code": "CM-THOIBINH",
                "topic_code": "KN-CNTT", "fostering_type": "job_position", "form": "in_person",
                "venue_id": venues[slot], "capacity": per_course,
                "sessions": [{"date": start + timedelta(days=d), "buoi": b, "lecturer_id": lecturer}
                             for d in range(days) for b in ("morning", "afternoon")]})
            # trainees are spread over the communes so that each commune sends 20 % of its staff per week
            usecases.enroll(s, course["id"], ids[i * per_course:(i + 1) * per_course])
            course_ids.append(course["id"])
    return {"trainees": ids, "lecturers": lecturers, "venues": venues, "courses": course_ids}


def must_refuse(session_factory, made: dict, days: int, resources: int) -> dict[str, bool]:
    """Try courses that clash in exactly one way each; return whether each was refused for that reason."""
    with transaction(session_factory) as s:
        fresh_lecturer = usecases.create_lecturer(s, {"name": "GV mới", "tier": 3, "degree": "master",
                                                      "pedagogy_certificate": True, "years_experience": 5})["id"]
        fresh_venue = usecases.create_venue(s, {"name": "Nhà văn hóa", "address": "Cà Mau", "capacity": 2000,
                                                "distances": []}).id
    last_week = FIRST_MONDAY + timedelta(weeks=(len(made["courses"]) - 1) // resources)
    cases = {  # kind: (lecturer, venue, trainees, first day)
        "lecturer": (made["lecturers"][0], fresh_venue, [], FIRST_MONDAY),
        "venue": (fresh_lecturer, made["venues"][0], [], FIRST_MONDAY),
        "trainee": (fresh_lecturer, fresh_venue, made["trainees"][:1], FIRST_MONDAY),
        # 600 people of week 1 (120 per commune) away in the last week, on top of the 200 per commune already away
        "commune_share": (fresh_lecturer, fresh_venue, made["trainees"][:600], last_week),
    }
    out = {}
    for kind, (lecturer, venue, trainees, start) in cases.items():
        conflicts = []
        try:
            with transaction(session_factory) as s:
                course = usecases.create_course(s, {
                    "code": f"CLASH-{kind}", "title": "Thử xung đột", "organizer_unit_code": "CM-THOIBINH",
                    "form": "in_person", "venue_id": venue,
                    "sessions": [{"date": start + timedelta(days=d), "buoi": "morning", "lecturer_id": lecturer}
                                 for d in range(days)]})
                if trainees:
                    usecases.enroll(s, course["id"], trainees)
                conflicts = usecases.course_conflicts(s, course["id"])
                usecases.schedule_course(s, course["id"])
            out[kind] = False
        except DomainError:
            out[kind] = {c["kind"] for c in conflicts} == {kind}
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainees", type=int, default=5000)
    parser.add_argument("--courses", type=int, default=250)
    parser.add_argument("--days", type=int, default=4, help="days per course (2 buổi each)")
    parser.add_argument("--resources", type=int, default=50, help="lecturers and venues")
    parser.add_argument("--per-course", action="store_true",
                        help="schedule course by course (one transaction each) instead of one batch")
    args = parser.parse_args(argv)
    per_course = args.trainees // args.courses
    sessions = args.courses * args.days * 2
    url = create_pg_database("bench_courses")
    engine = make_engine(url)
    try:
        upgrade("courses", url)
        factory = make_session_factory(engine)
        print(f"Course scheduling benchmark: {args.trainees:,} trainees, {args.courses} courses × {args.days * 2} "
              f"buổi = {sessions:,} sessions, {args.resources} lecturers and venues (PostgreSQL)")
        t0 = time.perf_counter()
        made = build(factory, args.trainees, args.courses, per_course, args.days, args.resources)
        print(f"  drafts and enrollments prepared in {time.perf_counter() - t0:.2f} s")
        t0 = time.perf_counter()
        if args.per_course:  # one request per course, as POST /courses/<id>/schedule does
            for course_id in made["courses"]:
                with transaction(factory) as s:
                    usecases.schedule_course(s, course_id)
        else:  # one request for all, as POST /courses/schedule does
            with transaction(factory) as s:
                usecases.schedule_courses(s, made["courses"])
        elapsed = time.perf_counter() - t0
        with engine.connect() as conn:
            scheduled = conn.execute(sa.text("SELECT count(*) FROM courses WHERE status = 'scheduled'")).scalar()
            events = conn.execute(sa.text(
                "SELECT count(*) FROM outbox WHERE event_type = 'courses.course_scheduled'")).scalar()
        mode = "one transaction per course" if args.per_course else "one batch (POST /courses/schedule)"
        print(f"  scheduled {scheduled} courses / {sessions:,} sessions with conflict checks, {mode}, "
              f"in {elapsed:.2f} s = {sessions / elapsed:,.0f} sessions/s")
        print(f"  {events} courses.course_scheduled events in the outbox")
        print(f"  target < 5 s: {'OK' if elapsed < 5 else 'MISSED'}")
        refused = must_refuse(factory, made, args.days, args.resources)
        print("  clashes refused: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in refused.items()))
        ok = scheduled == args.courses and all(refused.values())
        return 0 if ok else 1
    finally:
        engine.dispose()
        drop_pg_database(url)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
