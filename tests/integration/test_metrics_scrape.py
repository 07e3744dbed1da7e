"""Metrics of real processes (issue 15): a worker's metrics port against the real broker, and gunicorn's
multiprocess mode, where a scrape counts every worker — even one that has died since."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid

import pytest
import requests
from kombu import Connection
from prometheus_client.parser import text_string_to_metric_families

from shared.bus.publisher import ConfirmingPublisher, Outgoing
from shared.config import PROJECT_ROOT
from shared.migrate import upgrade
from tests.helpers import AMQP_URL, wait_until
from tests.integration.conftest import course_completed

pytestmark = [pytest.mark.slow, pytest.mark.broker]

WORKER_METRICS = {
    "thoibinh_events_received", "thoibinh_events_applied", "thoibinh_events_duplicates_skipped",
    "thoibinh_events_parked", "thoibinh_event_handler_duration_seconds", "thoibinh_consumer_batch_duration_seconds",
    "thoibinh_consumer_lag_seconds", "thoibinh_outbox_published", "thoibinh_outbox_publish_duration_seconds",
    "thoibinh_outbox_pending_events", "thoibinh_outbox_oldest_pending_age_seconds", "thoibinh_outbox_failing_events",
    "thoibinh_dead_letter_messages", "thoibinh_jobs", "thoibinh_metrics_database_up", "thoibinh_console_operations",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(url: str) -> dict:
    try:
        resp = requests.get(url, timeout=20)  # a loaded machine: generous, the check is the content
    except (requests.ConnectionError, requests.Timeout):
        return {}
    return {f.name: f for f in text_string_to_metric_families(resp.text)}


def value(families: dict, name: str, suffix: str = "_total", **labels) -> float:
    family = families.get(name)
    if family is None:
        return 0.0
    return sum(s.value for s in family.samples if s.name == name + suffix
               and all(s.labels.get(k) == v for k, v in labels.items()))


def test_a_worker_process_serves_its_metrics_port(bus, tmp_path):
    db = f"sqlite:///{tmp_path / 'evaluation.db'}"
    upgrade("evaluation", db)
    port = free_port()
    env = {**os.environ, **bus.env(), "EVALUATION_DATABASE_URL": db, "EVALUATION_METRICS_PORT": str(port),
           "RETRY_DELAYS_MS": "200", "LOG_LEVEL": "WARNING", "VAR_DIR": str(tmp_path)}
    url = f"http://127.0.0.1:{port}/metrics"
    with Connection(AMQP_URL) as conn:  # a queue for the follow-up events, so the relay's publishes are routable
        capture = bus.queue("capture")
        channel = conn.channel()
        channel.exchange_declare(bus.exchange, "topic", durable=True, auto_delete=False)
        channel.queue_declare(capture, durable=True, auto_delete=False)
        channel.queue_bind(capture, bus.exchange, "#")
    log = open(tmp_path / "worker.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "services.evaluation.worker"], cwd=PROJECT_ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        # the dead-letter gauge appears once the consumer has declared its queues and read the depth
        wait_until(lambda: "thoibinh_dead_letter_messages" in scrape(url), timeout=30, what="the worker consuming")
        env_, body = course_completed()
        with Connection(AMQP_URL) as conn:
            results = ConfirmingPublisher(conn, confirm_timeout=30).publish([
                Outgoing(env_.id, env_.routing_key, body, exchange=bus.exchange),
                Outgoing(env_.id, env_.routing_key, body, exchange=bus.exchange),  # a duplicate: skipped
                Outgoing(str(uuid.uuid4()), env_.routing_key, b"{not json", exchange=bus.exchange,
                         event_type=env_.type),  # undecodable: parked
            ])
        assert not [e for e in results.values() if e], results
        applied = "courses.course_completed"
        got = wait_until(lambda: (lambda f: f if value(f, "thoibinh_events_parked", service="evaluation") == 1
                                  and value(f, "thoibinh_outbox_published", service="evaluation") >= 1
                                  and value(f, "thoibinh_dead_letter_messages", "", service="evaluation") == 1
                                  else None)(scrape(url)), timeout=30, what="the events applied, parked, relayed")
        assert WORKER_METRICS <= set(got), WORKER_METRICS - set(got)
        assert value(got, "thoibinh_events_received", event_type=applied) == 3  # the undecodable one by its type
        assert value(got, "thoibinh_events_applied", event_type=applied) == 1
        assert value(got, "thoibinh_events_duplicates_skipped", event_type=applied) == 1
        assert value(got, "thoibinh_consumer_lag_seconds", "_count", event_type=applied) == 2
        assert value(got, "thoibinh_outbox_published", event_type="evaluation.feedback_requested") == 1
        assert value(got, "thoibinh_outbox_pending_events", "", service="evaluation") == 0
        assert {s.labels["status"] for s in got["thoibinh_jobs"].samples} == {"pending", "running", "failed"}
        assert {(s.labels["status"], s.value) for s in got["thoibinh_console_operations"].samples} == {
            ("running", 0), ("done", 0), ("failed", 0)}  # the console's replays (none started here)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


def _children(pid: int) -> set[int]:
    out = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.add(int(entry))
    return out


def test_gunicorn_counts_every_worker_even_one_that_died(tmp_path):
    db = f"sqlite:///{tmp_path / 'needs.db'}"
    upgrade("needs", db)
    port = free_port()
    base = tmp_path / "prom"
    env = {**os.environ, "NEEDS_DATABASE_URL": db, "NEEDS_PORT": str(port), "WEB_WORKERS": "2", "WEB_THREADS": "2",
           "PROMETHEUS_MULTIPROC_DIR": str(base), "LOG_LEVEL": "WARNING", "VAR_DIR": str(tmp_path)}
    web = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "web.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "shared.serve", "needs"], cwd=PROJECT_ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: scrape(f"{web}/metrics"), timeout=30, what="gunicorn up")
        workers = wait_until(lambda: (lambda c: c if len(c) == 2 else None)(_children(proc.pid)), timeout=30,
                             what="two workers")
        for _ in range(12):
            with requests.Session() as s:  # a new connection each time: either worker may take it
                assert s.get(f"{web}/health/live", timeout=20).status_code == 200
        (folder,) = list(base.iterdir())  # one private folder for this master, inside the operator's
        assert folder.name.startswith("needs-web-metrics-")
        for pid in workers:  # both workers die; gunicorn starts new ones, which never saw those requests
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: (lambda c: len(c) == 2 and not c & workers)(_children(proc.pid)), timeout=30,
                   what="two new workers")
        for _ in range(4):  # whichever new worker answers, the dead ones' requests are in the sum
            families = wait_until(lambda: scrape(f"{web}/metrics"), timeout=30, what="a scrape")
            assert value(families, "thoibinh_http_requests", service="needs", route="/health/live") == 12
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert list(base.iterdir()) == []  # the master removed its folder
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
