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
import socket
import struct
import sys
import threading
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

from shared.db import make_engine, make_session_factory

STARTUP_CODES = (80877103, 80877104)  # SSLRequest, GSSENCRequest: answered by one byte, then the startup message


class WireCounter:
    """A loopback TCP proxy in front of PostgreSQL counting what the client sends and how often it waits.

    statements: frontend Query ('Q') and Execute ('E') messages — every statement the driver runs, COPY included,
    an executemany counting once per row (psycopg pipelines them); COPYs: CopyDone ('c') messages;
    round_trips: how many times the server answered after the client had sent something (pipelined messages
    sent before reading count once, as they cost one wait).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 5432):
        self.target = (host, port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.statements = self.round_trips = 0
        self.kinds: dict[bytes, int] = {}
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, url: str) -> str:
        """The same database URL, through this proxy."""
        return make_url(url).set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)

    def snapshot(self) -> tuple[int, int, int]:
        """(Query + Execute messages, round trips, COPYs finished)."""
        with self.lock:
            return self.statements, self.round_trips, self.kinds.get(b"c", 0)

    def close(self) -> None:
        self._closed = True
        self.listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            state = {"waiting": False}
            threading.Thread(target=self._client_to_server, args=(client, server, state), daemon=True).start()
            threading.Thread(target=self._server_to_client, args=(server, client, state), daemon=True).start()

    def _client_to_server(self, client, server, state) -> None:
        buf, startup = b"", True
        try:
            while data := client.recv(65536):
                with self.lock:
                    state["waiting"] = True
                buf += data
                while True:  # count whole messages; keep a partial one for the next read
                    if startup:
                        if len(buf) < 8:
                            break
                        length, code = struct.unpack("!II", buf[:8])
                        if len(buf) < length:
                            break
                        buf, startup = buf[length:], code in STARTUP_CODES
                        continue
                    if len(buf) < 5:
                        break
                    kind, length = buf[:1], struct.unpack("!I", buf[1:5])[0]
                    if len(buf) < 1 + length:
                        break
                    with self.lock:
                        self.kinds[kind] = self.kinds.get(kind, 0) + 1
                        if kind in (b"Q", b"E"):
                            self.statements += 1
                    buf = buf[1 + length:]
                server.sendall(data)
        except OSError:
            pass
        finally:
            for s in (client, server):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _server_to_client(self, server, client, state) -> None:
        try:
            while data := server.recv(65536):
                with self.lock:
                    if state["waiting"]:
                        self.round_trips += 1
                        state["waiting"] = False
                client.sendall(data)
        except OSError:
            pass


@dataclass
class Cost:
    statements: int = 0  # SQL statements: through SQLAlchemy, plus the COPYs run beneath it (PostgreSQL)
    copies: int = 0  # of which COPY … FROM STDIN (shared.db.bulk_insert on PostgreSQL)
    wire_statements: int | None = None  # Query + Execute messages on the wire: an executemany is one per row
    round_trips: int | None = None
    wal_bytes: int | None = None  # the whole server's WAL between the two LSNs
    own_wal_bytes: int | None = None  # WAL records of transactions that wrote to this database
    publishes: int = 0
    sql: list[str] = field(default_factory=list)

    def per(self, n: int) -> dict:
        def div(v):
            return None if v is None else v / n
        return {k: div(getattr(self, k)) for k in ("statements", "wire_statements", "round_trips", "wal_bytes",
                                                   "own_wal_bytes", "publishes")}


class Meter:
    """Counts the statements an engine runs (and, on PostgreSQL through a WireCounter, the wire statements, round
    trips and WAL) inside `with meter.measure() as cost:`. `admin_url` is a direct connection for the LSNs."""

    def __init__(self, engine: sa.Engine, wire: WireCounter | None = None, admin_url: str | None = None):
        self.engine, self.wire = engine, wire
        self._count, self._sql, self._on = 0, [], False
        self.admin = sa.create_engine(admin_url, poolclass=sa.pool.NullPool) if admin_url else None
        if self.admin is not None:
            with self.admin.begin() as c:
                c.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_walinspect"))
                self._db_oid = c.execute(sa.text(
                    "SELECT oid FROM pg_database WHERE datname = current_database()")).scalar()
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if self._on:
            self._count += 1
            self._sql.append(" ".join(statement.split())[:100])

    def _lsn(self):
        with self.admin.connect() as c:
            return c.execute(sa.text("SELECT pg_current_wal_flush_lsn()")).scalar()

    def measure(self):
        meter = self

        class _Measure:
            def __enter__(self):
                self.cost = Cost()
                self.lsn = meter._lsn() if meter.admin is not None else None
                self.wire = meter.wire.snapshot() if meter.wire else None
                meter._count, meter._sql, meter._on = 0, [], True
                return self.cost

            def __exit__(self, *exc):
                meter._on = False
                self.cost.statements, self.cost.sql = meter._count, meter._sql
                if meter.wire:
                    st, rt, cp = meter.wire.snapshot()
                    self.cost.wire_statements, self.cost.round_trips = st - self.wire[0], rt - self.wire[1]
                    self.cost.copies = cp - self.wire[2]
                    self.cost.statements += self.cost.copies
                if meter.admin is not None:
                    after = meter._lsn()
                    with meter.admin.connect() as c:
                        self.cost.wal_bytes = c.execute(sa.text("SELECT pg_wal_lsn_diff(:a, :b)"),
                                                        {"a": after, "b": self.lsn}).scalar()
                        # this database's transactions: those with a record on one of its blocks (rel ts/db/file);
                        # None when the server already recycled those WAL segments (a busy shared server)
                        try:
                            self.cost.own_wal_bytes = 0 if after == self.lsn else c.execute(sa.text(
                                "WITH r AS (SELECT * FROM pg_get_wal_records_info(:b, :a)) "
                                "SELECT coalesce(sum(record_length), 0) FROM r WHERE xid IN "
                                "(SELECT xid FROM r WHERE xid <> '0' AND block_ref LIKE :rel)"),
                                {"a": after, "b": self.lsn, "rel": f"%rel %/{meter._db_oid}/%"}).scalar()
                        except sa.exc.DBAPIError:
                            self.cost.own_wal_bytes = None
                return False
        return _Measure()

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)
        if self.admin is not None:
            self.admin.dispose()


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
    import importlib
    import types
    import uuid

    from services import get_settings
    from services.needs import events as needs_events
    from shared.db import transaction
    from shared.events import decode, new_event
    from shared.migrate import upgrade

    upgrade("courses", url)
    settings = get_settings("courses", database_url=wire.url(url) if wire else url, api_token="b", admin_token="b")
    app = importlib.import_module("services.courses.app").create_app(settings)
    service = app.extensions["service"]
    handlers = importlib.import_module("services.courses.handlers").HANDLERS
    meter = Meter(service.engine, wire, url if url.startswith("postgresql") else None)
    outbox = service.outbox.table
    client, h = app.test_client(), {"Authorization": "Bearer b"}

    def deliver(body: str) -> None:
        env = decode(body)
        handler = handlers[env.type]
        with transaction(service.session_factory) as session:
            handler([env], session, settings) if getattr(handler, "takes_batch", False) else \
                handler(env, session, settings)

    def ok(resp):
        if resp.status_code >= 300:
            raise RuntimeError(f"{resp.status_code}: {resp.get_data(as_text=True)[:300]}")
        return resp.get_json()

    ids = []
    for i in range(trainees):
        person = types.SimpleNamespace(
            id=str(uuid.uuid4()), code=f"BC-{i:05d}", unit_code="TB-X-TANLOCBAC", position_code="VHXH",
            gender="female", ethnic_minority=False, hard_area=False, child_under_36_months=False,
            employment_status="active", left_on=None, left_reason=None)
        deliver(new_event("needs.civil_servant_registered",
                          needs_events.civil_servant_registered(person, "CM-TANLOC"), producer="needs")[1])
        ids.append(person.id)
    ok(client.post("/api/v1/rules/duty-shares", json={"commune_code": "*", "max_absent_percent": 100,
                                                        "note": "bench"}, headers=h))
    lect = ok(client.post("/api/v1/lecturers", json={"name": "GV", "tier": 2, "degree": "master",
                                                     "pedagogy_certificate": True, "years_experience": 5}, headers=h))
    venue = ok(client.post("/api/v1/venues", json={"name": "Hội trường", "address": "Thới Bình", "capacity": 60},
                           headers=h))
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
            deliver(new_event("funding.budget_reserved", {
                "course_id": cid, "revision": scheduled["revision"], "reservation_id": str(uuid.uuid4()),
                "estimate_total": 1_000_000, "lines": [{"budget_line_id": "b1", "source": "state_dtbd",
                                                        "owner_unit_code": "CM-THOIBINH", "amount": 1_000_000}]},
                producer="funding")[1])
            measured(f"POST …/attendance ({2 * trainees} records)", lambda: client.post(
                f"/api/v1/courses/{cid}/attendance", headers=h, json={"records": [
                    {"session_id": x["id"], "civil_servant_id": cs, "present": True}
                    for x in course["sessions"] for cs in ids]}))
            measured("POST …/complete", lambda: client.post(f"/api/v1/courses/{cid}/complete", headers=h))
            measured("GET /api/v1/courses/<id>", lambda: client.get(f"/api/v1/courses/{cid}", headers=h))
    finally:
        meter.close()
        service.engine.dispose()
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
