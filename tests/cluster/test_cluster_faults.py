"""The completion flow through a private 3-node RabbitMQ cluster and a private PostgreSQL, under three faults.

courses.course_completed → evaluation opens feedback (evaluation.feedback_requested) and funding settles
(funding.course_settled) → courses closes the course. The eight Procfile processes run against AMQP_URL with the
three nodes (`;`-separated) and one database per service. Faults, one after another:
  1. the node leading most of the services' queues is SIGKILLed just after the completions (then restarted);
  2. the node leading most queues is frozen with SIGSTOP for 45 s, the completions made while it is frozen;
  3. the database is stopped for 200 s with the completion events in the workers' hands.
Each time: every course closes (0 lost), one settlement, one feedback_requested and one course_settled event, and
one feedback request per trainee (0 duplicated), nothing parked, and the time from the end of the fault until the
last course closed is printed and bounded.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections import Counter
from datetime import date, timedelta

import requests
import sqlalchemy as sa

from shared.config import SERVICES
from tests.cluster.conftest import log
from tests.helpers import new_namespace, wait_until
from tools.stack import Stack

API = {"Authorization": "Bearer cluster-api"}
ADMIN = {"Authorization": "Bearer cluster-admin"}
PER_FAULT = 8  # courses completed per fault
TRAINEES = 3  # per course
FREEZE_SECONDS = 45
DB_OUTAGE_SECONDS = 200
RECOVERY_BOUND = {"leader killed": 90, "node frozen": 120, "database stopped": 120}  # seconds after the fault ends


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ok(resp, status=200):
    assert resp.status_code == status, f"{resp.request.method} {resp.url} → {resp.status_code} {resp.text[:300]}"
    return resp.json()


class Flow:
    """Courses prepared up to 'confirmed' over HTTP, completed on demand, checked in every service's database."""

    def __init__(self, stack: Stack, urls: dict[str, str]):
        self.stack, self.urls = stack, urls
        self.api = {svc: stack.url(svc) for svc in SERVICES}
        self.week = 0
        self.engines = {svc: sa.create_engine(url, pool_pre_ping=True) for svc, url in urls.items()}

    def seed(self) -> None:
        ok(requests.post(f"{self.api['needs']}/admin/needs/seed", json={"civil_servants": 12}, headers=ADMIN))
        ok(requests.post(f"{self.api['funding']}/admin/funding/seed", json={"fiscal_year": 2026}, headers=ADMIN))
        self.trainees = wait_until(lambda: (lambda t: t if len(t) == 12 else None)(
            ok(requests.get(f"{self.api['courses']}/api/v1/trainees", headers=API))), timeout=60,
            what="trainees synced from needs")
        communes = sorted({t["commune_code"] for t in self.trainees})
        c = self.api["courses"]
        ok(requests.post(f"{c}/api/v1/rules/duty-shares", json={"commune_code": "*", "max_absent_percent": 100,
                                                               "note": "cluster test"}, headers=API))
        self.lecturer = ok(requests.post(f"{c}/api/v1/lecturers", json={
            "name": "GV A", "tier": 2, "degree": "master", "pedagogy_certificate": True, "years_experience": 5},
            headers=API), 201)["id"]
        self.venue = ok(requests.post(f"{c}/api/v1/venues", json={
            "name": "Hội trường xã Thới Bình", "address": "Thới Bình, Cà Mau", "capacity": 40,
            "distances": [{"commune_code": x, "km": 0} for x in communes]}, headers=API), 201)["id"]

    def prepare(self, n: int) -> list[str]:
        """n courses, each on its own Monday–Tuesday, enrolled, scheduled and confirmed by funding."""
        c = self.api["courses"]
        ids, sessions = [], {}
        for _ in range(n):
            monday = date(2026, 1, 5) + timedelta(weeks=self.week)
            self.week += 1
            days = [monday.isoformat(), (monday + timedelta(days=1)).isoformat()]
            course = ok(requests.post(f"{c}/api/v1/courses", headers=API, json={
                "code": f"CL-{self.week}", "title": "Kỹ năng giao tiếp", "organizer_unit_code": "CM-THOIBINH",
                "topic_code": "KN-GIAOTIEP", "venue_id": self.venue,
                "sessions": [{"date": d, "buoi": b, "lecturer_id": self.lecturer}
                             for d in days for b in ("morning", "afternoon")]}), 201)
            chosen = [t["civil_servant_id"] for t in self.trainees[:TRAINEES]]
            ok(requests.post(f"{c}/api/v1/courses/{course['id']}/enrollments", json={"civil_servant_ids": chosen},
                             headers=API), 201)
            ok(requests.post(f"{c}/api/v1/courses/{course['id']}/schedule", headers=API))
            ids.append(course["id"])
            sessions[course["id"]] = (chosen, course["sessions"])
        wait_until(lambda: all(self.status(i) == "confirmed" for i in ids), timeout=90,
                   what="funding to confirm the prepared courses")
        for i, (chosen, course_sessions) in sessions.items():
            ok(requests.post(f"{c}/api/v1/courses/{i}/attendance", headers=API, json={"records": [
                {"session_id": s["id"], "civil_servant_id": cs, "present": True}
                for cs in chosen for s in course_sessions]}), 201)
        return ids

    def status(self, course_id: str) -> str:
        return ok(requests.get(f"{self.api['courses']}/api/v1/courses/{course_id}", timeout=10))["status"]

    def complete(self, ids: list[str]) -> None:
        for i in ids:
            assert ok(requests.post(f"{self.api['courses']}/api/v1/courses/{i}/complete", headers=API,
                                    timeout=30))["status"] == "completed"

    def closed(self, ids: list[str]) -> set[str]:
        with self.engines["courses"].connect() as conn:
            rows = conn.execute(sa.text("SELECT id FROM courses WHERE status = 'closed'")).scalars().all()
        return set(rows) & set(ids)

    def _count(self, svc: str, sql: str) -> Counter:
        with self.engines[svc].connect() as conn:
            return Counter({row[0]: row[1] for row in conn.execute(sa.text(sql))})

    def effects(self, ids: list[str]) -> dict[str, Counter]:
        """Per course: settlements, trainees asked for feedback (the opened course's participants: one opening per
        course, its key refuses a second), and the follow-up events emitted (counted in outboxes)."""
        return {
            "settlements": self._count("funding", "SELECT course_id, count(*) FROM settlements GROUP BY course_id"),
            "feedback requests": self._count(
                "evaluation", "SELECT course_id, sum(participants) FROM evaluated_courses GROUP BY course_id"),
            "feedback_requested events": self._count("evaluation", """
                SELECT CAST(body AS json)->'payload'->>'course_id', count(*) FROM outbox
                WHERE event_type = 'evaluation.feedback_requested' GROUP BY 1"""),
            "course_settled events": self._count("funding", """
                SELECT CAST(body AS json)->'payload'->>'course_id', count(*) FROM outbox
                WHERE event_type = 'funding.course_settled' GROUP BY 1"""),
            "course_completed events": self._count("courses", """
                SELECT CAST(body AS json)->'payload'->>'course_id', count(*) FROM outbox
                WHERE event_type = 'courses.course_completed' GROUP BY 1"""),
        }

    def check_exactly_once(self, ids: list[str]) -> tuple[int, int]:
        """Return (lost, duplicated) over every effect of every course; print them."""
        lost = dup = 0
        expected = {"feedback requests": TRAINEES}
        for name, counts in self.effects(ids).items():
            want = expected.get(name, 1)
            lost += sum(1 for i in ids if counts.get(i, 0) < want)
            dup += sum(1 for i in ids if counts.get(i, 0) > want)
        lost += len(set(ids) - self.closed(ids))
        return lost, dup

    def close(self) -> None:
        for engine in self.engines.values():
            engine.dispose()


def live(cluster, *besides: str) -> str:
    return next(n for n in cluster.procs if n not in cluster.frozen and n not in besides)


def most_leading(cluster, prefix: str) -> tuple[str, dict]:
    leaders = cluster.leaders(live(cluster), prefix)
    counts = Counter(v for v in leaders.values() if v)
    return counts.most_common(1)[0][0], dict(counts)


def wait_closed(flow: Flow, ids: list[str], fault_end: float, what: str, timeout: float) -> float:
    wait_until(lambda: len(flow.closed(ids)) == len(ids), timeout=timeout, interval=0.5,
               what=f"every course of '{what}' closed ({len(flow.closed(ids))}/{len(ids)})")
    return max(0.0, time.monotonic() - fault_end)


def test_completion_flow_through_leader_kill_node_freeze_and_database_outage(rabbit_cluster, private_pg, tmp_path):
    began = time.monotonic()
    cluster, pg = rabbit_cluster, private_pg
    ns = new_namespace("cluster")
    urls = {svc: pg.create(f"cl_{svc}") for svc in SERVICES}
    env = {"AMQP_URL": cluster.url, "EVENT_EXCHANGE": ns.exchange, "QUEUE_PREFIX": ns.queue_prefix,
           "API_TOKEN": "cluster-api", "ADMIN_TOKEN": "cluster-admin", "LOG_LEVEL": "INFO", "WEB_WORKERS": "1",
           "VAR_DIR": str(tmp_path / "var"), "RETRY_DELAYS_MS": "500,2000", "CONFIRM_TIMEOUT_SECONDS": "5"}
    for svc in SERVICES:
        env[f"{svc.upper()}_PORT"] = str(free_port())
        env[f"{svc.upper()}_DATABASE_URL"] = urls[svc]
    stack = Stack(env, tmp_path / "logs")
    flow = None
    results = {}
    try:
        stack.migrate()
        stack.start()
        stack.wait_ready()
        flow = Flow(stack, urls)
        flow.seed()
        _, spread = most_leading(cluster, ns.queue_prefix)
        log(f"stack ready after {time.monotonic() - began:.0f}s; queue leaders per node: {spread}")
        assert len(spread) >= 2, f"quorum leaders all on one node: {spread}"

        # 1. the leader node killed, with completion events in flight
        ids = flow.prepare(PER_FAULT)
        victim, _ = most_leading(cluster, ns.queue_prefix)
        half = PER_FAULT // 2
        flow.complete(ids[:half])
        cluster.kill(victim)  # with those completions on their way
        fault_end = time.monotonic()
        log(f"killed {victim} (most queue leaders)")
        flow.complete(ids[half:])  # and these while it is dead
        took = wait_closed(flow, ids, fault_end, "leader killed", RECOVERY_BOUND["leader killed"] + 60)
        results["leader killed"] = (took, *flow.check_exactly_once(ids))
        log(f"leader killed: all {len(ids)} courses closed {took:.1f}s after the kill")
        cluster.start(victim)
        cluster.await_startup(victim)
        wait_until(lambda: sorted(cluster.running_nodes(live(cluster, victim))) == sorted(cluster.procs), timeout=90,
                   interval=1,
                   what=f"{victim} back in the cluster")

        # 2. a node frozen (SIGSTOP) for 45 s; the courses are completed while it is frozen
        ids = flow.prepare(PER_FAULT)
        victim, _ = most_leading(cluster, ns.queue_prefix)
        via = live(cluster, victim)
        cluster.freeze(victim)
        frozen_at = time.monotonic()
        log(f"froze {victim}")
        flow.complete(ids)  # the webs only write their outbox: the relays carry the events to the healthy nodes
        time.sleep(max(0.0, FREEZE_SECONDS - (time.monotonic() - frozen_at)))  # the fault's own duration
        cluster.thaw(victim)
        fault_end = time.monotonic()
        log(f"thawed {victim} after {fault_end - frozen_at:.0f}s; {len(flow.closed(ids))}/{len(ids)} closed already")
        took = wait_closed(flow, ids, fault_end, "node frozen", RECOVERY_BOUND["node frozen"] + 60)
        results["node frozen"] = (took, *flow.check_exactly_once(ids))
        log(f"node frozen: all {len(ids)} courses closed {took:.1f}s after the thaw")
        wait_until(lambda: sorted(cluster.running_nodes(via)) == sorted(cluster.procs), timeout=120, interval=2,
                   what="the thawed node back in the cluster")

        # 3. the database stopped for 200 s while the workers hold the completion events
        ids = flow.prepare(PER_FAULT)
        consumers = [f"{svc}-worker" for svc in ("evaluation", "funding")]
        for name in consumers:  # hold them for a moment, so the events wait for them in the queues
            os.killpg(stack.procs[name].pid, signal.SIGSTOP)
        try:
            flow.complete(ids)
            wait_until(lambda: sum(flow.effects(ids)["course_completed events"][i] for i in ids) == len(ids),
                       timeout=10, what="the completions written")
            time.sleep(1.0)  # the courses relay publishes them (confirmed) into the queues
        finally:
            pg.stop()
            stopped_at = time.monotonic()
            for name in consumers:
                os.killpg(stack.procs[name].pid, signal.SIGCONT)
        log(f"database stopped with {len(ids)} completions in the queues")
        time.sleep(DB_OUTAGE_SECONDS)  # the fault's own duration
        pg.start()
        fault_end = time.monotonic()
        log(f"database started again after {fault_end - stopped_at:.0f}s")
        took = wait_closed(flow, ids, fault_end, "database stopped", RECOVERY_BOUND["database stopped"] + 60)
        results["database stopped"] = (took, *flow.check_exactly_once(ids))
        log(f"database stopped: all {len(ids)} courses closed {took:.1f}s after it came back")

        depths = cluster.depths(via, ns.queue_prefix)
        parked = {q: n for q, n in depths.items() if q.endswith(".dlq") and n}
        logs = "".join(p.read_text(errors="replace") for p in stack.log_dir.glob("*.log"))
        for path in sorted(stack.log_dir.glob("*worker*.log")):
            text = path.read_text(errors="replace")
            log(f"{path.stem}: reconnects {text.count('consumer interrupted')}, relay back-offs "
                f"{text.count('relay: broker unavailable')}, database-outage warnings {text.count('database unavailable')}")
        limit_errors = logs.count("redelivered many times") + logs.count("dead-letter queue grew")
        log("figures: " + "; ".join(f"{k}: closed {t:.1f}s after the fault ended, lost {lo}, duplicated {d}"
                                    for k, (t, lo, d) in results.items())
            + f"; parked {sum(parked.values())}; delivery-limit errors logged {limit_errors}"
            + f"; whole run {time.monotonic() - began:.0f}s")
        for name, (took, lost, duplicated) in results.items():
            assert (lost, duplicated) == (0, 0), (name, lost, duplicated)
            assert took <= RECOVERY_BOUND[name], (name, took)
        assert parked == {}
        assert limit_errors == 0
    except BaseException:
        for path in sorted(stack.log_dir.glob("*worker*.log")):  # what the workers said (ids and kinds only)
            lines = [x for x in path.read_text(errors="replace").splitlines() if '"level": "INFO"' not in x]
            print(f"--- {path.name} (last warnings and errors)\n" + "\n".join(x[:400] for x in lines[-25:]))
        # what the broker says of the test's queues (every publish of one relay was refused for minutes after the
        # leader kill in two runs of 2026-12-03; the listing showed every queue healthy: see shared/bus/relay.py)
        try:
            rows = json.loads(cluster.ctl(live(cluster), "list_queues", "name", "type", "state", "leader", "members",
                                          "online", "messages", "--formatter", "json", "-q", timeout=30))
            print("--- quorum queues (name, state, leader, members, online, messages)\n" + "\n".join(
                f"{r.get('name')} {r.get('state')} {r.get('leader')} {r.get('members')} {r.get('online')} "
                f"{r.get('messages')}" for r in rows if r.get("name", "").startswith(ns.queue_prefix)))
        except Exception as exc:  # noqa: BLE001 - a diagnostic; the test's own failure is what is raised
            print(f"--- quorum queues not listed: {type(exc).__name__}: {str(exc)[:300]}")
        raise
    finally:
        if flow is not None:
            flow.close()
        for name, proc in stack.procs.items():  # a worker left stopped would not see SIGTERM
            try:
                os.killpg(proc.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        stack.stop()
