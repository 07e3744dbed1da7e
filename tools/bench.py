"""`make bench`: how fast evaluation's worker drains a backlog, against a bare kombu loop; complete→closed latency.

Prints figures; asserts nothing (targets are read by people, not by a flaky timed test).

1. Drain: 3,000 `courses.course_completed` events × 40 participants wait in evaluation's queue; the real
   worker process (`python -m services.evaluation.worker`, PostgreSQL) starts and drains them: inbox rows,
   3,000 courses opened for feedback (120,000 trainees asked, their links computed, not stored), 6,000 follow-ups
   (`evaluation.feedback_requested` and `evaluation.trainee_feedback_requested`) relayed with confirms.
2. Baseline: a bare kombu consumer drains an identical backlog: decode, publish one event, ack; no database.
3. Latency: the whole stack on PostgreSQL; at light load (one course at a time) the time from
   `POST /courses/<id>/complete` until the course is `closed`, p50 and p95: server side (the stored `closed_at`,
   every other course waited for by reading the database) and client side (a GET shows it, the other courses,
   polled every 10 ms); see tools/bench_latency.py. The stack's web ports are
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
import threading
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
from tools.isolation import AMQP_URL, PG_ADMIN_URL, create_pg_database, drop_pg_database, new_namespace, wait_until

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


def drain_with_workers(service: str, env: dict[str, str], sink: str, expected: int, timeout: float,
                       replicas: int = 1, interval: float = 0.1, database: str | None = None) -> tuple[float, dict]:
    """Start `replicas` competing copies of the service's real worker process on a waiting backlog; return the
    wall time until `expected` follow-up messages reached `sink` and what saturated meanwhile, then stop them."""
    env = {**os.environ, **env, "LOG_LEVEL": "WARNING",
           "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
    t0 = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-m", f"services.{service}.worker"], env=env, cwd=PROJECT_ROOT)
             for _ in range(replicas)]
    sampler = Saturation([p.pid for p in procs], database)
    try:
        with sampler:
            wait_until(lambda: queue_depth(sink) >= expected, timeout, what=f"{service}'s follow-ups to be relayed",
                       interval=interval)
        return time.monotonic() - t0, sampler.result()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(60)


def drain_with_worker(service: str, env: dict[str, str], sink: str, expected: int, timeout: float,
                      interval: float = 0.1) -> float:
    """One worker process on a waiting backlog: the wall time until `expected` messages reached `sink`."""
    return drain_with_workers(service, env, sink, expected, timeout, 1, interval)[0]


def bench_worker(events: int, replicas: int = 1) -> dict:
    """Drain `events` course_completed events with evaluation's real worker(s) on PostgreSQL: every follow-up
    (one evaluation.feedback_requested and one evaluation.trainee_feedback_requested v2 naming the participants)
    relayed with confirms to a bound sink queue, as needs and courses would receive them."""
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
            Queue(sink, exchange=topology.event_exchange(settings), routing_key="evaluation.*",
                  durable=True, queue_arguments={"x-queue-type": "quorum"})(ch).declare()
        publish_backlog(ns.exchange, "courses.course_completed", [completed_event(i) for i in range(events)])
        wait_until(lambda: queue_depth(settings.queue) == events, 60, what="backlog to settle")
        expected = events * 2  # feedback_requested + trainee_feedback_requested v2 (issue 16)
        wall, saturation = drain_with_workers("evaluation", {**ns.env(), "EVALUATION_DATABASE_URL": url}, sink,
                                              expected, 900, replicas, database=sa.engine.make_url(url).database)
        engine = sa.create_engine(url)
        with engine.connect() as c:
            first_in, last_in, n_in = c.execute(sa.text(
                "SELECT min(received_at), max(received_at), count(*) FROM inbox")).one()
            last_made = c.execute(sa.text("SELECT max(created_at) FROM outbox")).scalar()
            last_out, n_out = c.execute(sa.text(
                "SELECT max(published_at), count(*) FROM outbox WHERE published_at IS NOT NULL")).one()
            n_req = c.execute(sa.text("SELECT sum(participants) FROM evaluated_courses")).scalar()  # trainees asked
        engine.dispose()
        drain = (last_out - first_in).total_seconds()
        return {"events": n_in, "requests": n_req, "followups": n_out, "drain_s": drain, "wall_s": wall,
                "rate": n_in / drain, "replicas": replicas, "saturation": saturation,
                "applied_s": (last_made - first_in).total_seconds(), "last_claim_s": (last_in - first_in).total_seconds()}
    finally:
        ns.delete()
        drop_pg_database(url)


def _cpu_seconds(pid: int | str) -> float:
    """utime + stime of one process from /proc (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pids_named(*names: str) -> list[str]:
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().strip() in names:
                        out.append(pid)
            except OSError:
                pass
    return out


class Saturation:
    """While a drain runs: CPU of the worker processes, of PostgreSQL and of RabbitMQ (from /proc, in cores used),
    and PostgreSQL's backends of the benchmark database (pg_stat_activity, sampled every 0.2 s): active ones and
    what they wait for."""

    def __init__(self, workers: list[int], database: str | None):
        self.workers, self.database = workers, database
        self.samples: list[tuple[int, str | None]] = []
        self.stop = threading.Event()

    def _cpu(self) -> dict:
        return {"workers": [_cpu_seconds(p) for p in self.workers],
                "postgres": sum(_cpu_seconds(p) for p in _pids_named("postgres")),
                "rabbitmq": sum(_cpu_seconds(p) for p in _pids_named("beam.smp"))}

    def _watch(self) -> None:
        admin = sa.create_engine(PG_ADMIN_URL, poolclass=sa.pool.NullPool)
        try:
            with admin.connect() as c:
                while not self.stop.wait(0.2):
                    for state, wait in c.execute(sa.text(
                            "SELECT state, wait_event_type || ':' || wait_event FROM pg_stat_activity "
                            "WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": self.database}):
                        self.samples.append((state == "active", wait if state == "active" else None))
                    self.samples.append((-1, None))  # a round's end
        finally:
            admin.dispose()

    def __enter__(self):
        self.t0, self.cpu0 = time.monotonic(), self._cpu()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu1 = time.monotonic() - self.t0, self._cpu()
        self.stop.set()
        self.thread.join(5)
        return False

    def result(self) -> dict:
        rounds = max(1, sum(1 for a, _ in self.samples if a == -1))
        active = sum(1 for a, _ in self.samples if a is True)
        waits: dict[str, int] = {}
        for a, w in self.samples:
            if a is True and w:
                waits[w] = waits.get(w, 0) + 1
        w = self.wall
        return {"workers_cores": [(b - a) / w for a, b in zip(self.cpu0["workers"], self.cpu1["workers"])],
                "postgres_cores": (self.cpu1["postgres"] - self.cpu0["postgres"]) / w,
                "rabbitmq_cores": (self.cpu1["rabbitmq"] - self.cpu0["rabbitmq"]) / w,
                "pg_active": active / rounds,
                "pg_waits": sorted(waits.items(), key=lambda kv: -kv[1])[:3], "rounds": rounds}


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


def print_drain(w: dict, label: str = "") -> None:
    print(f"   {label}{w['events']:,} events, {w['requests']:,} trainees asked, {w['followups']:,} follow-ups relayed;"
          f" drain {w['drain_s']:.2f} s (first claimed → last follow-up confirmed) = {w['rate']:,.0f} events/s"
          f"  [wall incl. process start {w['wall_s']:.2f} s]")
    print(f"     timeline from the first claim: last batch claimed {w['last_claim_s']:.2f} s, last follow-up written "
          f"{w['applied_s']:.2f} s, last follow-up confirmed {w['drain_s']:.2f} s")


def print_saturation(w: dict) -> None:
    s = w["saturation"]
    workers = " + ".join(f"{c:.2f}" for c in s["workers_cores"])
    waits = ", ".join(f"{k} {v / s['rounds']:.1f}" for k, v in s["pg_waits"]) or "none"
    print(f"     CPU in cores: worker{'s' if len(s['workers_cores']) > 1 else ''} {workers}, PostgreSQL "
          f"{s['postgres_cores']:.2f}, RabbitMQ {s['rabbitmq_cores']:.2f} (of {os.cpu_count()}); PostgreSQL active "
          f"backends {s['pg_active']:.1f} on average, waiting on: {waits}")


def saturated(w: dict) -> str:
    """Which resource ran out, read from the samples."""
    s, cores = w["saturation"], os.cpu_count() or 1
    busy = sum(s["workers_cores"]) + s["postgres_cores"] + s["rabbitmq_cores"]
    if busy >= 0.85 * cores:
        return f"the machine's CPU ({busy:.2f} of {cores} cores busy with workers, PostgreSQL and RabbitMQ)"
    if max(s["workers_cores"]) >= 0.85:
        return "the worker process's CPU (one Python thread at a time: the GIL)"
    if s["pg_active"] >= 0.8 * len(s["workers_cores"]) * 2:
        return "PostgreSQL (backends mostly active)"
    return "none of CPU or PostgreSQL clearly (waiting on the broker's confirms, or idle time between batches)"


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--bare-consumer":
        bare_consumer(argv[1], argv[2], int(argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--latency-courses", type=int, default=40)
    parser.add_argument("--burst", type=int, default=1000, help="completions posted at once")
    parser.add_argument("--scale-events", type=int, default=1500, help="backlog of each scale-out drain")
    parser.add_argument("--replicas", default="1,2,4", help="competing worker replicas for the scale-out")
    parser.add_argument("--skip", choices=["worker", "bare", "latency", "burst", "scale"], action="append",
                        default=[])
    parser.add_argument("--port-base", type=int, default=int(os.environ.get("BENCH_PORT_BASE") or 0) or None,
                        help="latency stack's web ports N … N+3 (default: $BENCH_PORT_BASE, else free ports)")
    args = parser.parse_args(argv)
    stack_parts = not {"latency", "burst"} <= set(args.skip)
    if stack_parts:
        from tools.stack import PortBusy, Stack
        ports = latency_ports(args.port_base)
        try:  # refuse before the long first parts, not after them
            Stack({f"{s.upper()}_PORT": str(p) for s, p in zip(SERVICES, ports)}, None).check_ports(
                hint="choose others with BENCH_PORT_BASE=<port> or --port-base, or leave both unset for free ports")
        except PortBusy as exc:
            print(f"bench: {exc}", file=sys.stderr)
            return 1
    print(f"Benchmark on {os.cpu_count()} cores, RabbitMQ + PostgreSQL on localhost (load average "
          f"{open('/proc/loadavg').read().split()[0]} at start)")
    w = b = None
    if "worker" not in args.skip:
        print(f"1. W1: evaluation's worker drains {args.events:,} courses.course_completed × {PARTICIPANTS} "
              "(inbox + handler + outbox + relay with confirms, PostgreSQL)")
        w = bench_worker(args.events)
        print_drain(w)
        print_saturation(w)
    if "bare" not in args.skip:
        print("2. bare kombu consumer, same backlog (decode, publish one event, ack; no database, no confirms)")
        b = bench_bare(args.events)
        print(f"   drain {b['drain_s']:.2f} s (first consumed → last ack) = {b['rate']:,.0f} events/s"
              f"  [wall incl. process start {b['wall_s']:.2f} s]")
    if w and b:
        print(f"   ratio worker / bare = {w['rate'] / b['rate']:.2f}  (target ≥ 0.5; the worker publishes "
              f"{w['followups'] / w['events']:.0f} confirmed messages per event, the bare loop 1 unconfirmed)")
    if stack_parts:
        from tools import bench_latency
        from tools.stack import PortBusy
        courses = 0 if "latency" in args.skip else args.latency_courses
        burst = 0 if "burst" in args.skip else args.burst
        print(f"3. complete → closed latency, whole stack on PostgreSQL, {courses} courses one at a time; "
              f"4. burst of {burst:,} completions")
        try:
            lat, bur = bench_latency.run(args.port_base, courses, burst)
        except PortBusy as exc:
            print(f"bench: {exc}", file=sys.stderr)
            return 1
        bench_latency.report(None, bur)  # the latency part printed itself
    if "scale" not in args.skip:
        print(f"5. scale-out: {args.scale_events:,} courses.course_completed × {PARTICIPANTS} drained by competing "
              "replicas of evaluation's worker")
        for n in (int(x) for x in args.replicas.split(",")):
            r = bench_worker(args.scale_events, replicas=n)
            print_drain(r, f"{n} replica{'s' if n > 1 else ''}: ")
            print_saturation(r)
            print(f"     saturated: {saturated(r)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
