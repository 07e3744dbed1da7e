"""`make bench`: how fast evaluation's worker drains a backlog, against a bare kombu loop; complete→closed latency.

Prints figures; asserts nothing (targets are read by people, not by a flaky timed test).

1. Drain: 3,000 `courses.course_completed` events × 40 participants wait in evaluation's queue; the real
   worker process (`python -m services.evaluation.worker`, PostgreSQL) starts and drains them: inbox rows,
   120,000 feedback requests, 3,000 `evaluation.feedback_requested` follow-ups relayed with confirms.
2. Baseline: a bare kombu consumer drains an identical backlog: decode, publish one event, ack; no database.
3. Latency: the whole stack on PostgreSQL; at light load (one course at a time) the time from
   `POST /courses/<id>/complete` until GET shows the course `closed`, p50 and p95. The stack's web ports are
   free ones the kernel picks, or N … N+3 with `--port-base N` / BENCH_PORT_BASE=N; a taken port is refused in
   one line before anything starts, and only our own processes' health answers count.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import date, datetime, timedelta, timezone

import requests
import sqlalchemy as sa
from kombu import Connection, Consumer, Exchange, Producer, Queue

from shared.bus import topology
from shared.bus.publisher import ConfirmingPublisher, Outgoing
from services import get_settings
from shared.config import PROJECT_ROOT, SERVICES
from shared.events import new_event
from tools.isolation import AMQP_URL, create_pg_database, drop_pg_database, new_namespace, wait_until

PARTICIPANTS = 40


def completed_event(i: int, participants: int = PARTICIPANTS) -> tuple[str, str]:
    start = date(2026, 3, 2)
    sessions = [{"session_id": str(uuid.uuid4()), "date": start + timedelta(days=d // 2),
                 "buoi": ("morning", "afternoon")[d % 2], "lecturer_id": "L1", "lecturer_tier": 3} for d in range(4)]
    env, body = new_event("courses.course_completed", {
        "course_id": str(uuid.uuid4()), "code": f"B-{i:05d}", "title": "Bench course", "organizer_unit_code": "CM-X",
        "start_date": start, "end_date": start + timedelta(days=1), "completed_at": datetime.now(timezone.utc),
        "total_sessions": 4, "sessions": sessions,
        "participants": [{"civil_servant_id": str(uuid.uuid4()), "commune_code": "CM-THOIBINH",
                          "sessions_attended": 4, "days_attended": 2, "completed": True}
                         for _ in range(participants)],
    }, producer="courses")
    return env.id, body


def publish_backlog(exchange: str, routing_key: str, bodies: list[tuple[str, str]]) -> None:
    """Publish (message id, body) pairs with publisher confirms, 500 at a time."""
    with Connection(AMQP_URL) as conn:
        pub = ConfirmingPublisher(conn, confirm_timeout=60)
        for k in range(0, len(bodies), 500):
            chunk = bodies[k:k + 500]
            res = pub.publish([Outgoing(mid, routing_key, body, exchange=exchange) for mid, body in chunk])
            bad = [m for m, err in res.items() if err]
            if bad:
                raise RuntimeError(f"{len(bad)} backlog messages not confirmed: {res[bad[0]]}")


def queue_depth(name: str) -> int:
    """Messages ready in a queue."""
    with Connection(AMQP_URL) as conn:
        return conn.channel().queue_declare(name, passive=True).message_count


def drain_with_worker(service: str, env: dict[str, str], sink: str, expected: int, timeout: float,
                      interval: float = 0.1) -> float:
    """Start the service's real worker process on a waiting backlog; return the wall time until `expected`
    follow-up messages reached `sink`, then stop the worker."""
    env = {**os.environ, **env, "LOG_LEVEL": "WARNING",
           "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", f"services.{service}.worker"], env=env, cwd=PROJECT_ROOT)
    try:
        wait_until(lambda: queue_depth(sink) >= expected, timeout, what=f"{service}'s follow-ups to be relayed",
                   interval=interval)
        return time.monotonic() - t0
    finally:
        proc.terminate()
        proc.wait(60)


def bench_worker(events: int) -> dict:
    """Drain `events` course_completed events with evaluation's real worker on PostgreSQL."""
    ns = new_namespace("bench")
    url = create_pg_database("bench_eval")
    try:
        from shared.migrate import upgrade
        upgrade("evaluation", url)
        settings = get_settings("evaluation", exchange=ns.exchange, queue_prefix=ns.queue_prefix,
                                 amqp_url=AMQP_URL, database_url=url)
        sink = ns.queue("sink")
        from services.evaluation.handlers import HANDLERS
        with Connection(AMQP_URL) as conn:
            ch = conn.channel()
            topology.declare(settings, ch, HANDLERS)
            Queue(sink, exchange=topology.event_exchange(settings), routing_key="evaluation.feedback_requested",
                  durable=True, queue_arguments={"x-queue-type": "quorum"})(ch).declare()
        print(f"  publishing a backlog of {events:,} courses.course_completed × {PARTICIPANTS} participants…")
        publish_backlog(ns.exchange, "courses.course_completed", [completed_event(i) for i in range(events)])
        wait_until(lambda: queue_depth(settings.queue) == events, 60, what="backlog to settle")
        wall = drain_with_worker("evaluation", {**ns.env(), "EVALUATION_DATABASE_URL": url}, sink, events, 600)
        engine = sa.create_engine(url)
        with engine.connect() as c:
            first_in, n_in = c.execute(sa.text("SELECT min(received_at), count(*) FROM inbox")).one()
            last_out, n_out = c.execute(sa.text(
                "SELECT max(published_at), count(*) FROM outbox WHERE published_at IS NOT NULL")).one()
            n_req = c.execute(sa.text("SELECT count(*) FROM feedback_requests")).scalar()
        engine.dispose()
        drain = (last_out - first_in).total_seconds()
        return {"events": n_in, "requests": n_req, "followups": n_out, "drain_s": drain, "wall_s": wall,
                "rate": n_in / drain}
    finally:
        ns.delete()
        drop_pg_database(url)


def bare_consumer(queue: str, sink: str, expected: int) -> None:
    """A bare kombu loop: decode, publish one event, ack. No database, no confirms."""
    done, inbox = 0, []
    with Connection(AMQP_URL) as conn:
        ch = conn.channel()
        ch.basic_qos(0, 200, False)
        producer = Producer(conn.channel())
        # py-amqp polls the connection inside basic_publish, so publishing from the delivery callback would
        # recurse: take deliveries in the callback, publish and ack after each drain.
        first = None
        with Consumer(ch, queues=[Queue(queue, no_declare=True)], on_message=inbox.append, no_ack=False):
            while done < expected:
                conn.drain_events(timeout=30)
                first = first or time.monotonic()
                while inbox:
                    message = inbox.pop(0)
                    env = json.loads(message.body)
                    producer.publish({"course_id": env["payload"]["course_id"]}, exchange="", routing_key=sink,
                                     delivery_mode=2, serializer="json")
                    message.ack()
                    done += 1
        # first delivery → last ack, measured like the worker's drain (process start excluded)
        print(json.dumps({"drain_s": time.monotonic() - first}))


def bench_bare(events: int) -> dict:
    ns = new_namespace("bench")
    queue, sink = ns.queue("bare"), ns.queue("bare.sink")
    try:
        with Connection(AMQP_URL) as conn:
            ch = conn.channel()
            ex = Exchange(ns.exchange, type="topic", durable=True)
            ex(ch).declare()
            Queue(queue, exchange=ex, routing_key="courses.course_completed", durable=True,
                  queue_arguments={"x-queue-type": "quorum"})(ch).declare()
            Queue(sink, durable=True, queue_arguments={"x-queue-type": "quorum"})(ch).declare()
        publish_backlog(ns.exchange, "courses.course_completed", [completed_event(i) for i in range(events)])
        wait_until(lambda: queue_depth(queue) == events, 60, what="backlog to settle")
        t0 = time.monotonic()
        run = subprocess.run([sys.executable, "-m", "tools.bench", "--bare-consumer", queue, sink, str(events)],
                             check=True, cwd=PROJECT_ROOT, capture_output=True, text=True)
        wall = time.monotonic() - t0
        wait_until(lambda: queue_depth(sink) >= events, 60, what="bare sink")
        drain = json.loads(run.stdout.strip().splitlines()[-1])["drain_s"]
        return {"events": events, "drain_s": drain, "wall_s": wall, "rate": events / drain}
    finally:
        ns.delete()


def latency_ports(port_base: int | None) -> list[int]:
    """The four web ports of the latency stack: port_base … port_base + 3, or free ones."""
    from tools.stack import free_ports
    return [port_base + i for i in range(len(SERVICES))] if port_base else free_ports(len(SERVICES))


def bench_latency(courses: int, port_base: int | None = None) -> dict:
    """p50/p95 from POST …/complete to the course being closed, one course at a time, whole stack on PostgreSQL."""
    from tools.stack import Stack
    ns = new_namespace("bench")
    env = {**ns.env(), "API_TOKEN": "b", "ADMIN_TOKEN": "b", "LOG_LEVEL": "WARNING", "WEB_WORKERS": "1"}
    for svc, port in zip(SERVICES, latency_ports(port_base)):
        env[f"{svc.upper()}_PORT"] = str(port)
    stack = Stack(env, PROJECT_ROOT / "var" / "bench" / ns.queue_prefix.rstrip(".") / "logs")
    stack.check_ports(hint="choose others with BENCH_PORT_BASE=<port> or --port-base, or leave both unset "
                           "for free ports")  # before any database is made
    urls = {svc: create_pg_database(f"bench_{svc}") for svc in SERVICES}
    for svc in SERVICES:
        stack.env[f"{svc.upper()}_DATABASE_URL"] = urls[svc]
    h = {"Authorization": "Bearer b"}
    try:
        stack.migrate()
        stack.start()
        stack.wait_ready()
        needs, crs, _, funding = (stack.url(s) for s in SERVICES)
        requests.post(f"{needs}/admin/needs/seed", json={"civil_servants": 40}, headers=h).raise_for_status()
        requests.post(f"{funding}/admin/funding/seed", json={"fiscal_year": 2026}, headers=h).raise_for_status()
        trainees = wait_until(lambda: (lambda t: t if len(t) >= 40 else None)(
            requests.get(f"{crs}/api/v1/trainees", headers=h).json()), 60, what="trainees")
        requests.post(f"{crs}/api/v1/rules/duty-shares", json={"commune_code": "*", "max_absent_percent": 100,
                                                              "note": "bench"}, headers=h).raise_for_status()
        lect = requests.post(f"{crs}/api/v1/lecturers", json={"name": "GV", "tier": 2, "degree": "master",
                                                              "pedagogy_certificate": True, "years_experience": 5},
                             headers=h).json()
        venue = requests.post(f"{crs}/api/v1/venues", json={"name": "Hội trường", "address": "Thới Bình",
                                                            "capacity": 40}, headers=h).json()
        samples = []
        for i in range(courses):
            c = requests.post(f"{crs}/api/v1/courses", headers=h, json={
                "code": f"LAT-{i}", "title": "Latency", "organizer_unit_code": "CM-THOIBINH",
                "venue_id": venue["id"],
                "sessions": [{"date": "2026-03-02", "buoi": "morning", "lecturer_id": lect["id"]},
                             {"date": "2026-03-02", "buoi": "afternoon", "lecturer_id": lect["id"]}]}).json()
            ids = [t["civil_servant_id"] for t in trainees[:10]]
            requests.post(f"{crs}/api/v1/courses/{c['id']}/enrollments", json={"civil_servant_ids": ids},
                          headers=h).raise_for_status()
            # draft → scheduled; funding's reservation confirms it (the previous course is closed: nothing clashes)
            requests.post(f"{crs}/api/v1/courses/{c['id']}/schedule", headers=h).raise_for_status()
            wait_until(lambda: requests.get(f"{crs}/api/v1/courses/{c['id']}").json()["status"] == "confirmed", 30,
                       what="confirmed", interval=0.005)
            requests.post(f"{crs}/api/v1/courses/{c['id']}/attendance", headers=h, json={"records": [
                {"session_id": s["id"], "civil_servant_id": cs, "present": True}
                for s in c["sessions"] for cs in ids]}).raise_for_status()
            t0 = time.monotonic()
            requests.post(f"{crs}/api/v1/courses/{c['id']}/complete", headers=h).raise_for_status()
            wait_until(lambda: requests.get(f"{crs}/api/v1/courses/{c['id']}").json()["status"] == "closed", 30,
                       what="closed", interval=0.005)
            samples.append(time.monotonic() - t0)
        q = statistics.quantiles(samples, n=20)
        return {"n": len(samples), "p50_ms": statistics.median(samples) * 1000, "p95_ms": q[18] * 1000,
                "max_ms": max(samples) * 1000}
    finally:
        stack.stop()
        ns.delete()
        for url in urls.values():
            drop_pg_database(url)


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--bare-consumer":
        bare_consumer(argv[1], argv[2], int(argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--latency-courses", type=int, default=40)
    parser.add_argument("--skip", choices=["worker", "bare", "latency"], action="append", default=[])
    parser.add_argument("--port-base", type=int, default=int(os.environ.get("BENCH_PORT_BASE") or 0) or None,
                        help="latency stack's web ports N … N+3 (default: $BENCH_PORT_BASE, else free ports)")
    args = parser.parse_args(argv)
    if "latency" not in args.skip:
        from tools.stack import PortBusy, Stack
        ports = latency_ports(args.port_base)
        try:  # refuse before the long first parts, not after them
            Stack({f"{s.upper()}_PORT": str(p) for s, p in zip(SERVICES, ports)}, None).check_ports(
                hint="choose others with BENCH_PORT_BASE=<port> or --port-base, or leave both unset for free ports")
        except PortBusy as exc:
            print(f"bench: {exc}", file=sys.stderr)
            return 1
    print(f"Benchmark on {os.cpu_count()} cores, RabbitMQ + PostgreSQL on localhost")
    w = b = None
    if "worker" not in args.skip:
        print("1. evaluation worker (inbox + handler + outbox + relay with confirms, PostgreSQL)")
        w = bench_worker(args.events)
        print(f"   {w['events']:,} events, {w['requests']:,} feedback requests, {w['followups']:,} follow-ups relayed")
        print(f"   drain {w['drain_s']:.2f} s (first consumed → last follow-up confirmed) = {w['rate']:,.0f} events/s"
              f"  [wall incl. process start {w['wall_s']:.2f} s]")
    if "bare" not in args.skip:
        print("2. bare kombu consumer (decode, publish one event, ack; no database, no confirms)")
        b = bench_bare(args.events)
        print(f"   drain {b['drain_s']:.2f} s (first consumed → last ack) = {b['rate']:,.0f} events/s"
              f"  [wall incl. process start {b['wall_s']:.2f} s]")
    if w and b:
        print(f"   ratio worker / bare = {w['rate'] / b['rate']:.2f}")
    if "latency" not in args.skip:
        print(f"3. complete → closed latency, whole stack on PostgreSQL, {args.latency_courses} courses one at a time")
        from tools.stack import PortBusy
        try:
            lat = bench_latency(args.latency_courses, args.port_base)
        except PortBusy as exc:
            print(f"bench: {exc}", file=sys.stderr)
            return 1
        print(f"   p50 {lat['p50_ms']:.0f} ms, p95 {lat['p95_ms']:.0f} ms, max {lat['max_ms']:.0f} ms (n={lat['n']})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
