"""Counting what the database is asked (issue 16): a loopback proxy that counts wire messages and round trips
(WireCounter), the cost record (Cost), and the meter of an engine's statements, round trips and WAL (Meter).
Used by `make bench-costs` (tools/bench_costs.py) and tests/integration/test_batch_costs.py."""
from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

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


class CoursesInProcess:
    """courses' real Flask app in process on a migrated database, for the benchmarks that drive its requests
    (tools/bench_costs.py http_flow, tools/bench_http.py seed): a client with the static development token, events
    delivered to its handlers as its consumer would, and the set-up both need — trainees registered from needs'
    event, the duty-share rule opened, a lecturer and a venue."""

    def __init__(self, database_url: str, token: str, **settings):
        from services.courses.app import create_app
        from services.courses.handlers import HANDLERS
        from services.courses.settings import get_settings

        self.settings = get_settings(database_url=database_url, api_token=token, admin_token=token + "-admin",
                                     **settings)
        self.app = create_app(self.settings)
        self.service = self.app.extensions["service"]
        self.client = self.app.test_client()
        self.headers = {"Authorization": f"Bearer {token}"}
        self._handlers = HANDLERS

    def deliver(self, event_type: str, payload: dict, producer: str) -> None:
        """One event through its courses handler in its own transaction (what the consumer does after the inbox)."""
        from shared.db import transaction
        from shared.events import decode, new_event

        env = decode(new_event(event_type, payload, producer=producer)[1])
        handler = self._handlers[env.type]
        with transaction(self.service.session_factory) as session:
            if getattr(handler, "takes_batch", False):
                handler([env], session, self.settings)
            else:
                handler(env, session, self.settings)

    def reserve(self, course_id: str, revision: int) -> None:
        """Funding's reservation of a scheduled course, delivered: the course becomes confirmed."""
        import uuid

        self.deliver("funding.budget_reserved", {
            "course_id": course_id, "revision": revision, "reservation_id": str(uuid.uuid4()),
            "estimate_total": 1_000_000, "lines": [{"budget_line_id": "b1", "source": "state_dtbd",
                                                    "owner_unit_code": "CM-THOIBINH", "amount": 1_000_000}]},
                     "funding")

    @staticmethod
    def ok(resp):
        if resp.status_code >= 300:
            raise RuntimeError(f"{resp.status_code}: {resp.get_data(as_text=True)[:300]}")
        return resp.get_json()

    def set_up(self, trainees: int, code_prefix: str, note: str) -> tuple[list[str], dict, dict]:
        """`trainees` synthetic trainees of Tân Lộc (registered by needs' event), the duty-share rule open for the
        benchmark, a lecturer and a venue: (trainee ids, lecturer, venue)."""
        import types
        import uuid

        from services.needs import events as needs_events

        ids = []
        for i in range(trainees):
            person = types.SimpleNamespace(
                id=str(uuid.uuid4()), code=f"{code_prefix}-{i:05d}", unit_code="TB-X-TANLOCBAC",
                position_code="VHXH", gender="female" if i % 2 else "male", ethnic_minority=False, hard_area=False,
                child_under_36_months=False, employment_status="active", left_on=None, left_reason=None)
            self.deliver("needs.civil_servant_registered",
                         needs_events.civil_servant_registered(person, "CM-TANLOC"), "needs")
            ids.append(person.id)
        client, h = self.client, self.headers
        self.ok(client.post("/api/v1/rules/duty-shares", json={"commune_code": "*", "max_absent_percent": 100,
                                                                "note": note}, headers=h))
        lecturer = self.ok(client.post("/api/v1/lecturers", json={
            "name": "GV mẫu", "tier": 2, "degree": "master", "pedagogy_certificate": True, "years_experience": 5},
            headers=h))
        venue = self.ok(client.post("/api/v1/venues", json={"name": "Hội trường", "address": "Thới Bình",
                                                            "capacity": 60}, headers=h))
        return ids, lecturer, venue

    def close(self) -> None:
        self.service.engine.dispose()
