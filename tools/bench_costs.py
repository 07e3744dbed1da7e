"""`make bench-costs`: the deterministic cost of a drained event — counts, not times (issue 16).

For one consumer batch of `courses.course_completed` events, applied by evaluation's and by funding's real
consumer code (EventConsumer's unit of work: inbox claim, the batch handler, outbox rows; PostgreSQL), prints per
batch and per event:
- SQL statements (SQLAlchemy `before_cursor_execute`, plus the COPYs the driver runs beneath it — counted on the
  wire as the protocol's Query/Execute messages),
- database round trips (times the client waited for the server: counted on the wire by a loopback proxy),
- WAL bytes (pg_current_wal_lsn() before/after: the whole server's, so other users of a shared server add to it;
  and the records of this database's own transactions, read back with pg_walinspect),
- broker publishes (outbox rows the relay then publishes, and the relay's own statements for them).
Each beside its baseline from the same run: the same consumer batch with a handler that does nothing (what the
inbox costs alone). Then the same batch with 10 and 40 participants per event and batches of 50 and 200: the
per-batch statement count must not change with either (tests/integration/test_batch_costs.py holds it).
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import sys

import sqlalchemy as sa

from shared.db import make_engine, make_session_factory

from tools.bench_wire import CoursesInProcess, Cost, Meter, WireCounter  # noqa: F401 - WireCounter: the tests take it from here


# --- one consumer batch -------------------------------------------------------------------------------------------

def _noop(envelopes, session, settings) -> None:
    """The baseline handler: applies nothing (what the consumer's inbox costs alone)."""


_noop.takes_batch = True


def consumer_batch(service: str, url: str, bodies: list[str], *, handlers: dict | None = None, meter: Meter,
                   settings_overrides: dict | None = None):
    """Apply `bodies` as ONE batch of `service`'s real consumer (EventConsumer's unit of work: inbox claim, batch
    handler, outbox rows, commit), measured; return the Cost with publishes = outbox rows written."""
    from importlib import import_module

    from services import get_settings
    from shared.bus.consumer import EventConsumer, _Delivery
    from shared.events import decode
    models = import_module(f"services.{service}.models")
    handlers = handlers if handlers is not None else import_module(f"services.{service}.handlers").HANDLERS
    settings = get_settings(service, database_url=url, **(settings_overrides or {}))
    sessions = make_session_factory(meter.engine)
    consumer = EventConsumer(settings, sessions, models.INBOX_TABLE, handlers)
    deliveries = [_Delivery(message=None, envelope=decode(b)) for b in bodies]
    outbox = models.OUTBOX_TABLE
    with meter.engine.connect() as c:
        before = c.execute(sa.select(sa.func.count()).select_from(outbox)).scalar()
    with meter.measure() as cost:
        consumer._apply(deliveries)
    with meter.engine.connect() as c:
        cost.publishes = c.execute(sa.select(sa.func.count()).select_from(outbox)).scalar() - before
    return cost


def _bodies(service: str, n: int, participants: int, start: int) -> list[str]:
    if service == "funding":
        from tools.bench_funding import completed_event
        return [completed_event(start + i, participants)[1] for i in range(n)]
    from tools.bench import completed_event
    return [completed_event(start + i, participants)[1] for i in range(n)]


def prepare(service: str, url: str) -> None:
    if service == "funding":
        from tools.bench_funding import prepare_database
        prepare_database(url)
    else:
        from shared.migrate import upgrade
        upgrade(service, url)


def measure_service(service: str, url: str, wire: WireCounter | None, shapes: list[tuple[int, int]], *,
                    wal: bool = True, profile: bool = False) -> list[dict]:
    """Per shape (batch size, participants): the handler's batch and the no-op baseline batch, after a warm-up."""
    engine = make_engine(wire.url(url) if wire else url, **({"pool_size": 1} if wire else {}))
    meter = Meter(engine, wire, url if wal and url.startswith("postgresql") else None)
    out, start = [], 0
    try:
        _, warm_p = shapes[0]
        consumer_batch(service, url, _bodies(service, 5, warm_p, start), meter=meter)  # caches, first-use lookups
        start += 5
        for size, participants in shapes:
            bodies = _bodies(service, size, participants, start)
            profiler = cProfile.Profile() if profile else None
            if profiler:
                profiler.enable()
            real = consumer_batch(service, url, bodies, meter=meter)
            if profiler:
                profiler.disable()
                print(f"  profile of one {size} × {participants} batch ({service}), by cumulative time:")
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(18)
                profile = False
            start += size
            base = consumer_batch(service, url, _bodies(service, size, participants, start),
                                  handlers={"courses.course_completed": _noop}, meter=meter)
            start += size
            out.append({"size": size, "participants": participants, "real": real, "base": base})
    finally:
        meter.close()
        engine.dispose()
    return out


def http_flow(url: str, wire: WireCounter | None, trainees: int = 40) -> list[tuple[str, Cost]]:
    """The main flow's requests to the courses service (its real Flask app in process, PostgreSQL through the
    wire counter), each measured: create a course, enrol `trainees`, schedule, (funding's reservation delivered as
    the consumer would), record attendance, complete, read. Returns (request, cost) with publishes = outbox rows."""
    from shared.migrate import upgrade

    upgrade("courses", url)
    courses_app = CoursesInProcess(wire.url(url) if wire else url, "b")
    service, client, h, ok = courses_app.service, courses_app.client, courses_app.headers, courses_app.ok
    meter = Meter(service.engine, wire, url if url.startswith("postgresql") else None)
    outbox = service.outbox.table
    ids, lect, venue = courses_app.set_up(trainees, "BC", "bench")
    out: list[tuple[str, Cost]] = []

    def measured(name: str, call):
        with service.engine.connect() as c:
            before = c.execute(sa.select(sa.func.count()).select_from(outbox)).scalar()
        with meter.measure() as cost:
            result = ok(call())
        with service.engine.connect() as c:
            cost.publishes = c.execute(sa.select(sa.func.count()).select_from(outbox)).scalar() - before
        out.append((name, cost))
        return result

    try:
        for round_ in ("warm-up", "measured"):
            out.clear()
            course = measured("POST /api/v1/courses (2 buổi)", lambda: client.post("/api/v1/courses", headers=h, json={
                "code": f"BC-{round_}", "title": "Chi phí", "organizer_unit_code": "CM-THOIBINH",
                "venue_id": venue["id"], "sessions": [
                    {"date": "2026-03-02", "buoi": "morning", "lecturer_id": lect["id"]},
                    {"date": "2026-03-02", "buoi": "afternoon", "lecturer_id": lect["id"]}]}))
            cid = course["id"]
            measured(f"POST …/enrollments ({trainees} trainees)", lambda: client.post(
                f"/api/v1/courses/{cid}/enrollments", json={"civil_servant_ids": ids}, headers=h))
            scheduled = measured("POST …/schedule", lambda: client.post(f"/api/v1/courses/{cid}/schedule", headers=h))
            courses_app.reserve(cid, scheduled["revision"])
            measured(f"POST …/attendance ({2 * trainees} records)", lambda: client.post(
                f"/api/v1/courses/{cid}/attendance", headers=h, json={"records": [
                    {"session_id": x["id"], "civil_servant_id": cs, "present": True}
                    for x in course["sessions"] for cs in ids]}))
            measured("POST …/complete", lambda: client.post(f"/api/v1/courses/{cid}/complete", headers=h))
            measured("GET /api/v1/courses/<id>", lambda: client.get(f"/api/v1/courses/{cid}", headers=h))
    finally:
        meter.close()
        courses_app.close()
    return out


def report_http(rows: list[tuple[str, Cost]]) -> None:
    print("courses: the main flow's HTTP requests (real app in process, PostgreSQL)")
    print(f"  {'request':>40} {'statements':>10} {'wire executes':>14} {'round trips':>12} {'WAL own bytes':>14} "
          f"{'WAL server':>12} {'publishes':>10}")
    for name, c in rows:
        print(f"  {name:>40} {c.statements:>10} {_fmt(c.wire_statements):>14} {_fmt(c.round_trips):>12} "
              f"{_fmt(c.own_wal_bytes):>14} {_fmt(c.wal_bytes):>12} {c.publishes:>10}")


def _fmt(v, per: int = 1) -> str:
    if v is None:
        return "—"
    x = v / per
    return f"{x:,.0f}" if per == 1 or x >= 100 else f"{x:,.2f}"


def report(service: str, rows: list[dict]) -> None:
    print(f"{service}: one consumer batch of courses.course_completed (PostgreSQL) — handler [no-op baseline]")
    print(f"  {'batch × participants':>22} {'statements':>16} {'wire executes':>16} {'round trips':>16} "
          f"{'WAL own bytes':>22} {'WAL server bytes':>22} {'publishes':>10}")
    for r in rows:
        real, base, n = r["real"], r["base"], r["size"]
        shape = f"{n} × {r['participants']}"
        print(f"  {shape:>22} {real.statements:>7} [{base.statements:>6}] {_fmt(real.wire_statements):>7} "
              f"[{_fmt(base.wire_statements):>6}] {_fmt(real.round_trips):>7} [{_fmt(base.round_trips):>6}] "
              f"{_fmt(real.own_wal_bytes):>11} [{_fmt(base.own_wal_bytes):>8}] {_fmt(real.wal_bytes):>11} "
              f"[{_fmt(base.wal_bytes):>8}] {real.publishes:>10}")
        print(f"  {'per event':>22} {_fmt(real.statements, n):>7} [{_fmt(base.statements, n):>6}] "
              f"{_fmt(real.wire_statements, n):>7} [{_fmt(base.wire_statements, n):>6}] "
              f"{_fmt(real.round_trips, n):>7} [{_fmt(base.round_trips, n):>6}] "
              f"{_fmt(real.own_wal_bytes, n):>11} [{_fmt(base.own_wal_bytes, n):>8}] "
              f"{_fmt(real.wal_bytes, n):>11} [{_fmt(base.wal_bytes, n):>8}] {_fmt(real.publishes, n):>10}")


def main(argv: list[str] | None = None) -> int:
    import os
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # the in-process app's request log lines would bury the tables
    from tools.isolation import create_pg_database, drop_pg_database
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service", choices=["evaluation", "funding"], action="append")
    parser.add_argument("--sql", action="store_true", help="also list the statements of the 200 × 40 batch")
    parser.add_argument("--skip-http", action="store_true", help="only the consumer batches")
    parser.add_argument("--profile", action="store_true", help="cProfile the 200 × 40 batches; print the top")
    args = parser.parse_args(argv)
    shapes = [(200, 40), (200, 10), (50, 40)]
    wire = WireCounter()
    try:
        for service in args.service or ["evaluation", "funding"]:
            url = create_pg_database(f"bench_cost_{service[:4]}")
            try:
                prepare(service, url)
                rows = measure_service(service, url, wire, shapes, profile=args.profile)
                report(service, rows)
                counts = {r["real"].statements for r in rows}
                print(f"  statements per batch {'do not change' if len(counts) == 1 else 'CHANGE'} with participants "
                      f"(10 vs 40) or batch size (50 vs 200): {sorted(counts)}")
                if args.sql:
                    for s in rows[0]["real"].sql:
                        print("    ", s)
                    print(f"     + {rows[0]['real'].copies} COPY … FROM STDIN (shared.db.bulk_insert)")
            finally:
                drop_pg_database(url)
        if not args.skip_http:
            url = create_pg_database("bench_cost_courses")
            try:
                report_http(http_flow(url, wire))
            finally:
                drop_pg_database(url)
    finally:
        wire.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
