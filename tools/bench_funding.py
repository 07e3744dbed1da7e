"""`make bench-funding`: settle a backlog of completed courses with the real funding worker; prints courses/s.

10,000 `courses.course_completed` events × 40 participants (five communes, venue distances, so meals, travel and
lodging lines arise) wait in funding's queue on a private namespace; funding's real worker process
(`python -m services.funding.worker`, PostgreSQL) starts and settles them: settlements, ~1.2 million settlement
lines, one ledger journal per course, 10,000 `funding.course_settled` events relayed with confirms.
Prints figures; asserts nothing (targets are read by people, not by a flaky timed test).
"""
from __future__ import annotations

import argparse
import sys
import uuid
from datetime import date, datetime, timedelta, timezone

import sqlalchemy as sa
from kombu import Connection, Queue

from shared.bus import topology
from services import get_settings
from shared.events import new_event
from tools.bench import drain_with_worker, publish_backlog, queue_depth
from tools.isolation import AMQP_URL, create_pg_database, drop_pg_database, new_namespace, wait_until

COMMUNES = ["CM-THOIBINH", "CM-BIENBACH", "CM-TRIPHAI", "CM-TANLOC", "CM-HOTHIKY"]
KM = {"CM-THOIBINH": 0, "CM-BIENBACH": 8, "CM-TRIPHAI": 18, "CM-TANLOC": 22, "CM-HOTHIKY": 30}


def completed_event(i: int, participants: int) -> tuple[str, str]:
    """One course: 2 days, 4 buổi by two lecturers, `participants` trainees (some missing a day, some flagged)."""
    start = date(2026, 3, 2) + timedelta(days=7 * (i % 40))
    sessions = [{"session_id": str(uuid.uuid4()), "date": start + timedelta(days=d // 2),
                 "buoi": ("morning", "afternoon")[d % 2], "lecturer_id": f"L{d % 2}", "lecturer_tier": 2 + d % 2}
                for d in range(4)]
    people = []
    for k in range(participants):
        days = 1 if k % 10 == 0 else 2
        people.append({"civil_servant_id": str(uuid.uuid4()), "commune_code": COMMUNES[k % 5],
                       "sessions_attended": 2 * days, "days_attended": days, "completed": days == 2,
                       "ethnic_minority": k % 7 == 0, "child_under_36_months": k % 11 == 0, "female": k % 2 == 0})
    env, body = new_event("courses.course_completed", {
        "course_id": str(uuid.uuid4()), "code": f"BF-{i:05d}", "title": "Bench course",
        "organizer_unit_code": "CM-THOIBINH", "start_date": start, "end_date": start + timedelta(days=1),
        "completed_at": datetime.now(timezone.utc), "total_sessions": 4, "sessions": sessions,
        "participants": people, "form": "in_person",
        "venue": {"venue_id": "V1", "name": "Hội trường", "distances": [
            {"commune_code": c, "km": km} for c, km in KM.items()]},
    }, producer="courses")
    return env.id, body


def prepare_database(url: str) -> None:
    """Migrate, load the sample norms and lines, and top the 2026 lines up so every course is funded."""
    from services.funding import seed, usecases
    from services.funding.models import BudgetLine
    from shared.db import make_engine, make_session_factory, transaction
    from shared.migrate import upgrade

    upgrade("funding", url)
    engine = make_engine(url)
    with transaction(make_session_factory(engine)) as session:
        seed.seed_samples(session, 2026)
        for line in session.scalars(sa.select(BudgetLine).where(BudgetLine.fiscal_year == 2026)):
            usecases.amend_budget_line(session, line.id, {
                "delta": 10**13, "decision_no": "BENCH/QĐ", "decision_date": date(2026, 1, 6),
                "reason": "Bổ sung dự toán cho đo hiệu năng"})
    engine.dispose()


def bench(courses: int, participants: int) -> dict:
    ns = new_namespace("bench")
    url = create_pg_database("bench_fund")
    try:
        prepare_database(url)
        settings = get_settings("funding", exchange=ns.exchange, queue_prefix=ns.queue_prefix, amqp_url=AMQP_URL,
                                 database_url=url)
        sink = ns.queue("sink")
        from services.funding.handlers import HANDLERS
        with Connection(AMQP_URL) as conn:
            ch = conn.channel()
            topology.declare(settings, ch, HANDLERS)
            Queue(sink, exchange=topology.event_exchange(settings), routing_key="funding.course_settled",
                  durable=True, queue_arguments={"x-queue-type": "quorum"})(ch).declare()
        print(f"  publishing a backlog of {courses:,} courses.course_completed × {participants} participants…")
        for k in range(0, courses, 2000):
            publish_backlog(ns.exchange, "courses.course_completed",
                            [completed_event(i, participants) for i in range(k, min(k + 2000, courses))])
        wait_until(lambda: queue_depth(settings.queue) == courses, 120, what="backlog to settle")
        print("  starting the funding worker…")
        wall = drain_with_worker("funding", {**ns.env(), "FUNDING_DATABASE_URL": url}, sink, courses, 3600,
                                 interval=0.2)
        engine = sa.create_engine(url)
        with engine.connect() as c:
            first_in, n_in = c.execute(sa.text("SELECT min(received_at), count(*) FROM inbox")).one()
            last_out = c.execute(sa.text("SELECT max(published_at) FROM outbox "
                                         "WHERE event_type = 'funding.course_settled'")).scalar()
            n_settled = c.execute(sa.text("SELECT count(*) FROM settlements")).scalar()
            n_lines = c.execute(sa.text("SELECT count(*) FROM settlement_lines")).scalar()
            n_journals = c.execute(sa.text("SELECT count(DISTINCT journal_id) FROM ledger_entries "
                                           "WHERE course_id IS NOT NULL")).scalar()
            debit, credit = c.execute(sa.text("SELECT sum(debit), sum(credit) FROM ledger_entries")).one()
        engine.dispose()
        from services.funding import usecases
        from shared.db import make_engine, make_session_factory
        engine = make_engine(url)
        with make_session_factory(engine)() as session:
            inconsistent = len(usecases.verify_balances(session))
        engine.dispose()
        drain = (last_out - first_in).total_seconds()
        return {"events": n_in, "settlements": n_settled, "lines": n_lines, "journals": n_journals,
                "balanced": debit == credit, "inconsistent_lines": inconsistent, "drain_s": drain, "wall_s": wall,
                "rate": n_settled / drain}
    finally:
        ns.delete()
        drop_pg_database(url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--courses", type=int, default=10_000)
    parser.add_argument("--participants", type=int, default=40)
    args = parser.parse_args(argv)
    print(f"Funding settlement backlog: {args.courses:,} courses × {args.participants} trainees (PostgreSQL)")
    r = bench(args.courses, args.participants)
    print(f"  settled {r['settlements']:,} courses ({r['lines']:,} settlement lines, {r['journals']:,} journals; "
          f"ledger balanced: {r['balanced']}; lines inconsistent with the ledger: {r['inconsistent_lines']})")
    print(f"  elapsed: {r['drain_s']:.1f} s (first event received → last course_settled relayed); "
          f"wall incl. worker start: {r['wall_s']:.1f} s")
    print(f"  throughput: {r['rate']:.0f} courses/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
