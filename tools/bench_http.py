"""`make bench-http`: the courses web under load, beside a bare Flask endpoint under the same gunicorn (issue 16).

One run, one machine, in this order:
1. a throw-away PostgreSQL database with courses' schema and seeded data (COURSES confirmed courses, each with
   two sessions and TRAINEES enrolled trainees, made through the real app and its event handlers);
2. two gunicorns with deploy/gunicorn.conf.py (the same workers, threads, worker class, keep-alive as production;
   WEB_WORKERS / WEB_THREADS as there): courses' real web (`shared.serve`'s application, AUTH_MODE=static,
   LOG_LEVEL=INFO: the request log line and the access log row included) and a bare Flask app with one GET and
   one POST endpoint that does nothing but answer (the POST parses the same JSON body), and the same two written
   by hand over one psycopg connection per thread ("bare+SQL": the course row with its head-count; the records'
   UPDATE and its commit) — what the data alone costs;
3. a load generator in a second process (`python -m tools.bench_http drive …`: asyncio, CONNECTIONS keep-alive
   connections on loopback, each sending its next request as soon as the last answer has come) against
   - GET  /api/v1/courses/<id>            (connection i reads course i mod COURSES)
   - POST /api/v1/courses/<id>/attendance  (connection i records RECORDS trainees' presence in its own course)
   and the bare endpoints, each for a warm-up then SECONDS measured, in ROUNDS rounds (the order reversed every
   other round); prints requests/s, p50 and p95 and the median of the rounds' ratios of requests/s to the bare
   endpoint's (goal ≥ 0.6×, issue 16) and to bare+SQL's.
`--anatomy` prints what one request of each does in process (the SQL statements, in order; `--profile` adds a
cProfile of 300 requests each). The statement counts are held by tests/integration/test_http_costs.py.
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import time
import uuid

COURSES, TRAINEES, RECORDS = 16, 20, 10
CONNECTIONS, WARMUP_S, SECONDS, ROUNDS = 16, 1.0, 5.0, 3
GOAL = 0.6
TOKEN = "bench-http-token"


# --- the data ----------------------------------------------------------------------------------------------------

def seed(url: str, courses: int = COURSES, trainees: int = TRAINEES) -> list[dict]:
    """Migrate and fill courses' database at `url` through its real app (in process) and event handlers; return
    per course {"id", "sessions": [ids], "trainees": [ids]} — every course confirmed (funding's reservation
    delivered), so attendance may be recorded."""
    from shared.migrate import upgrade
    from tools.bench_wire import CoursesInProcess

    upgrade("courses", url)
    courses_app = CoursesInProcess(url, TOKEN, log_level="WARNING")
    client, h, ok = courses_app.client, courses_app.headers, courses_app.ok
    people, lecturer, venue = courses_app.set_up(trainees, "BH", "bench-http")
    out = []
    try:
        for c in range(courses):  # one day each: no trainee, lecturer or venue is booked twice
            day = f"2026-03-{2 + c % 26:02d}" if c < 26 else f"2026-04-{1 + (c - 26) % 28:02d}"
            course = ok(client.post("/api/v1/courses", headers=h, json={
                "code": f"BH-{c:03d}", "title": f"Lớp tải {c}", "organizer_unit_code": "CM-THOIBINH",
                "venue_id": venue["id"], "sessions": [
                    {"date": day, "buoi": "morning", "lecturer_id": lecturer["id"]},
                    {"date": day, "buoi": "afternoon", "lecturer_id": lecturer["id"]}]}))
            ok(client.post(f"/api/v1/courses/{course['id']}/enrollments", json={"civil_servant_ids": people},
                           headers=h))
            scheduled = ok(client.post(f"/api/v1/courses/{course['id']}/schedule", headers=h))
            courses_app.reserve(course["id"], scheduled["revision"])
            out.append({"id": course["id"], "sessions": [s["id"] for s in course["sessions"]], "trainees": people})
    finally:
        courses_app.close()
    return out


def attendance_body(course: dict, records: int, n: int = 0) -> dict:
    """`records` trainees' presence at the course's first session (the n-th variant alternates present/absent, so
    every request changes the rows it writes)."""
    return {"records": [{"session_id": course["sessions"][0], "civil_servant_id": cs, "present": (i + n) % 2 == 0}
                        for i, cs in enumerate(course["trainees"][:records])]}


# --- the servers -------------------------------------------------------------------------------------------------

def bare_app(url: str | None = None):
    """The comparison: a Flask app answering one GET and one POST with a small JSON, nothing else; and, given the
    database `url`, the same two by hand on one psycopg connection per thread (no ORM, no schema, no auth, no
    logs, no metrics): the course row and its head-count in one statement; the records' UPDATE in one
    executemany and its commit — what the data alone costs."""
    import threading

    from flask import Flask, jsonify, request
    app = Flask("bare")
    local = threading.local()

    @app.get("/bare/<item_id>")
    def read(item_id):
        return jsonify({"id": item_id, "status": "confirmed"})

    @app.post("/bare/<item_id>/attendance")
    def write(item_id):
        return jsonify({"count": len(request.get_json()["records"])}), 201

    def conn():
        if getattr(local, "conn", None) is None:
            import psycopg
            local.conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
        return local.conn

    @app.get("/bare-sql/<item_id>")
    def read_sql(item_id):
        with conn().transaction(), conn().cursor() as cur:
            cur.execute("SELECT c.id, c.code, c.title, c.status, (SELECT count(*) FROM enrollments e WHERE "
                        "e.course_id = c.id AND e.status = 'enrolled') FROM courses c WHERE c.id = %s", (item_id,))
            row = cur.fetchone()
        return jsonify({"id": row[0], "code": row[1], "title": row[2], "status": row[3], "enrolled": row[4]})

    @app.post("/bare-sql/<item_id>/attendance")
    def write_sql(item_id):
        records = request.get_json()["records"]
        with conn().transaction(), conn().cursor() as cur:
            cur.executemany("UPDATE attendance SET present = %s, recorded_at = now() WHERE session_id = %s AND "
                            "civil_servant_id = %s", [(r["present"], r["session_id"], r["civil_servant_id"])
                                                      for r in records])
        return jsonify({"count": len(records)}), 201
    return app


def serve(kind: str) -> None:
    """`python -m tools.bench_http serve courses|bare`: one gunicorn with deploy/gunicorn.conf.py (the bind from
    COURSES_PORT, as shared.serve does)."""
    from shared.serve import ServiceApplication

    class Bare(ServiceApplication):
        def load(self):
            return bare_app(os.environ["COURSES_DATABASE_URL"])
    (Bare if kind == "bare" else ServiceApplication)("courses").run()


def start_server(kind: str, port: int, url: str, log_path: str) -> subprocess.Popen:
    env = {**os.environ, "COURSES_DATABASE_URL": url, "COURSES_PORT": str(port), "HTTP_HOST": "127.0.0.1",
           "API_TOKEN": TOKEN, "ADMIN_TOKEN": TOKEN + "-admin", "AUTH_MODE": "static",
           "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO")}
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "tools.bench_http", "serve", kind], env=env,
                                stdout=log, stderr=log)


def wait_ready(port: int, path: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    import urllib.error
    import urllib.request
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on {port} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
                if r.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"server on {port} not ready in {timeout} s")


# --- the load generator (a second process) -----------------------------------------------------------------------

def _raw(method: str, path: str, body: dict | None, port: int) -> bytes:
    data = b"" if body is None else json.dumps(body).encode()
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Accept: application/json\r\n")
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    return (head + "\r\n").encode() + data


async def _connection(port: int, requests: list[bytes], start: float, warm_end: float, end: float,
                      latencies: list[float], failures: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = 0
    try:
        while True:
            t0 = time.perf_counter()
            if t0 >= end:
                return
            writer.write(requests[i % len(requests)])
            i += 1
            status = int((await reader.readline()).split()[1])
            length, close = 0, False
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            await reader.readexactly(length)
            t1 = time.perf_counter()
            if t0 >= warm_end:
                latencies.append(t1 - t0)
                if status >= 300:
                    failures.append(status)
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


async def _drive(port: int, per_connection: list[list[bytes]], warmup: float, seconds: float) -> dict:
    latencies: list[float] = []
    failures: list[int] = []
    start = time.perf_counter()
    warm_end, end = start + warmup, start + warmup + seconds
    await asyncio.gather(*(_connection(port, reqs, start, warm_end, end, latencies, failures)
                           for reqs in per_connection))
    latencies.sort()
    n = len(latencies)
    return {"requests": n, "rps": n / seconds, "failures": len(failures),
            "failure_statuses": sorted(set(failures))[:5],
            "p50_ms": 1000 * latencies[n // 2] if n else None,
            "p95_ms": 1000 * latencies[min(n - 1, int(n * 0.95))] if n else None}


def drive(spec_path: str) -> None:
    """`python -m tools.bench_http drive SPEC.json`: run the load the spec describes; print its figures as JSON."""
    with open(spec_path) as f:
        spec = json.load(f)
    per_connection = [[_raw(r["method"], r["path"], r.get("body"), spec["port"]) for r in reqs]
                      for reqs in spec["connections"]]
    print(json.dumps(asyncio.run(_drive(spec["port"], per_connection, spec["warmup"], spec["seconds"]))))


def load(port: int, connections: list[list[dict]], warmup: float, seconds: float, tmp: str) -> dict:
    """Run the load generator in its own process against `port`; return its figures."""
    spec = os.path.join(tmp, f"spec-{uuid.uuid4().hex[:8]}.json")
    with open(spec, "w") as f:
        json.dump({"port": port, "connections": connections, "warmup": warmup, "seconds": seconds}, f)
    out = subprocess.run([sys.executable, "-m", "tools.bench_http", "drive", spec], capture_output=True, text=True,
                         timeout=warmup + seconds + 120)
    if out.returncode:
        raise RuntimeError(f"load generator failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def workloads(courses: list[dict], connections: int, records: int) -> dict[str, list[list[dict]]]:
    """Each connection's requests, cycled: the real read and write, and the bare endpoints' same shapes."""
    def course(i):
        return courses[i % len(courses)]
    return {
        "GET /api/v1/courses/<id>": [[{"method": "GET", "path": f"/api/v1/courses/{course(i)['id']}"}]
                                     for i in range(connections)],
        "bare GET": [[{"method": "GET", "path": f"/bare/{course(i)['id']}"}] for i in range(connections)],
        "POST /api/v1/courses/<id>/attendance": [
            [{"method": "POST", "path": f"/api/v1/courses/{course(i)['id']}/attendance",
              "body": attendance_body(course(i), records, n)} for n in range(2)] for i in range(connections)],
        "bare POST": [[{"method": "POST", "path": f"/bare/{course(i)['id']}/attendance",
                        "body": attendance_body(course(i), records, n)} for n in range(2)]
                      for i in range(connections)],
        "bare+SQL GET": [[{"method": "GET", "path": f"/bare-sql/{course(i)['id']}"}] for i in range(connections)],
        "bare+SQL POST": [[{"method": "POST", "path": f"/bare-sql/{course(i)['id']}/attendance",
                            "body": attendance_body(course(i), records, n)} for n in range(2)]
                          for i in range(connections)],
    }


# --- what one request does (in process) ---------------------------------------------------------------------------

def statements_of(engine, call) -> tuple[object, list[str]]:
    """Run `call()`; return its result and the SQL statements it ran on `engine` (an executemany counts once).
    SQLite's BEGIN IMMEDIATE (shared/db.py's begin hook) is left out: PostgreSQL's driver begins its transactions
    without a statement of ours, and the two backends count the same."""
    import sqlalchemy as sa
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if statement != "BEGIN IMMEDIATE":
            statements.append(" ".join(statement.split())[:150])
    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        result = call()
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    return result, statements


def anatomy(url: str, courses: list[dict], records: int, profile: bool) -> dict[str, int]:
    """Print the SQL statements of one GET and one POST (after a warm-up) and, with `profile`, a cProfile of 300
    of each; return the statement counts."""
    from services.courses.app import create_app
    from services.courses.settings import get_settings
    from tools.bench_wire import WireCounter

    wire = WireCounter()  # round trips, counted on the wire by a loopback proxy in front of PostgreSQL
    app = create_app(get_settings(database_url=wire.url(url), api_token=TOKEN, admin_token=TOKEN + "-admin",
                                  log_level="WARNING"))
    engine = app.extensions["service"].engine
    client, h = app.test_client(), {"Authorization": f"Bearer {TOKEN}"}
    course = courses[0]
    calls = {
        "GET /api/v1/courses/<id>": lambda n: client.get(f"/api/v1/courses/{course['id']}", headers=h),
        "POST /api/v1/courses/<id>/attendance": lambda n: client.post(
            f"/api/v1/courses/{course['id']}/attendance", headers=h, json=attendance_body(course, records, n)),
    }
    counts = {}
    try:
        for name, call in calls.items():
            call(0)
            before = wire.snapshot()
            resp, statements = statements_of(engine, lambda: call(1))
            after = wire.snapshot()
            if resp.status_code >= 300:
                raise RuntimeError(f"{name}: {resp.status_code} {resp.get_data(as_text=True)[:300]}")
            counts[name] = len(statements)
            print(f"  {name}: {len(statements)} SQL statements, {after[1] - before[1]} round trips "
                  f"({after[0] - before[0]} wire executes)")
            for s in statements:
                print(f"      {s}")
            if profile:
                prof = cProfile.Profile()
                prof.enable()
                for n in range(300):
                    call(n)
                prof.disable()
                print(f"  profile of 300 × {name} (in process, by cumulative time):")
                pstats.Stats(prof, stream=sys.stdout).sort_stats(os.environ.get("BENCH_SORT", "cumulative")).print_stats(int(os.environ.get("BENCH_TOP", "30")))
    finally:
        engine.dispose()
        wire.close()
    return counts


# --- the run ------------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        serve(argv[1])
        return 0
    if argv[:1] == ["drive"]:
        drive(argv[1])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--warmup", type=float, default=WARMUP_S)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="every load once per round, order alternating")
    parser.add_argument("--courses", type=int, default=COURSES)
    parser.add_argument("--records", type=int, default=RECORDS, help="attendance records per POST")
    parser.add_argument("--anatomy", action="store_true", help="print each request's SQL statements")
    parser.add_argument("--profile", action="store_true", help="with --anatomy: cProfile 300 requests of each")
    parser.add_argument("--skip-load", action="store_true", help="only --anatomy")
    args = parser.parse_args(argv)
    import tempfile

    from tools.isolation import create_pg_database, drop_pg_database
    from tools.stack import free_ports

    url = create_pg_database("bench_http")
    servers: list[subprocess.Popen] = []
    tmp = tempfile.mkdtemp(prefix="bench-http-")
    ok = True
    try:
        t0 = time.perf_counter()
        courses = seed(url, args.courses, max(TRAINEES, args.records))
        print(f"courses web under load (PostgreSQL, deploy/gunicorn.conf.py: {os.environ.get('WEB_WORKERS') or 2} "
              f"workers × {os.environ.get('WEB_THREADS') or 4} threads, gthread); seeded {len(courses)} confirmed "
              f"courses in {time.perf_counter() - t0:.1f} s")
        if args.anatomy:
            anatomy(url, courses, args.records, args.profile)
        if args.skip_load:
            return 0
        real_port, bare_port = free_ports(2)
        log_path = os.path.join(tmp, "servers.log")
        servers = [start_server("courses", real_port, url, log_path), start_server("bare", bare_port, url, log_path)]
        wait_ready(real_port, "/health/live", servers[0])
        wait_ready(bare_port, "/bare/x", servers[1])
        work = workloads(courses, args.connections, args.records)
        print(f"  load: {args.connections} keep-alive connections from a second process (asyncio), {args.warmup:.0f} s "
              f"warm-up + {args.seconds:.0f} s measured each, {args.rounds} rounds; the POST records {args.records} "
              f"trainees; ratios are medians of the rounds' (real and bare run one after the other)")
        # Rounds, each running every load once, the order reversed every other round: the machine's other load
        # drifts, and a ratio is taken within a round (the real endpoint beside the bare one just before or after).
        order = [("bare GET", bare_port), ("GET /api/v1/courses/<id>", real_port), ("bare+SQL GET", bare_port),
                 ("bare POST", bare_port), ("POST /api/v1/courses/<id>/attendance", real_port),
                 ("bare+SQL POST", bare_port)]
        runs: dict[str, list[dict]] = {name: [] for name, _ in order}
        for n in range(args.rounds):
            for name, port in (order if n % 2 == 0 else order[::-1]):
                r = load(port, work[name], args.warmup, args.seconds, tmp)
                runs[name].append(r)
                ok = ok and not r["failures"]
                failed = f", {r['failures']} FAILED {r['failure_statuses']}" if r["failures"] else ""
                print(f"  round {n + 1} {name:>40}: {r['rps']:8.1f} requests/s, p50 {r['p50_ms']:7.1f} ms, "
                      f"p95 {r['p95_ms']:7.1f} ms{failed}")
        for real, bare, bare_sql in (("GET /api/v1/courses/<id>", "bare GET", "bare+SQL GET"),
                                     ("POST /api/v1/courses/<id>/attendance", "bare POST", "bare+SQL POST")):
            ratios = [a["rps"] / b["rps"] for a, b in zip(runs[real], runs[bare])]
            sql_ratios = [a["rps"] / b["rps"] for a, b in zip(runs[real], runs[bare_sql])]
            ratio = statistics.median(ratios)
            p95 = statistics.median(r["p95_ms"] for r in runs[real])
            print(f"  {real} / bare = {ratio:.2f}× requests/s (goal ≥ {GOAL}×; rounds "
                  f"{', '.join(f'{x:.2f}' for x in ratios)}), / bare+SQL = {statistics.median(sql_ratios):.2f}×; "
                  f"median {statistics.median(r['rps'] for r in runs[real]):.0f} requests/s, p95 {p95:.1f} ms vs "
                  f"{statistics.median(r['p95_ms'] for r in runs[bare]):.1f} ms bare, "
                  f"{statistics.median(r['p95_ms'] for r in runs[bare_sql]):.1f} ms bare+SQL")
            ok = ok and ratio >= GOAL
        print("  RESULT:", "goal met" if ok else "GOAL MISSED")
    finally:
        for proc in servers:
            proc.terminate()
        for proc in servers:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        drop_pg_database(url)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
