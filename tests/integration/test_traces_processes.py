"""Traces from real processes (issue 15): the standard OTEL_* variables switch them on in a gunicorn web (set up in
post_fork) and in a worker, exported over OTLP/HTTP to a local receiver (this test's, on loopback), which decodes
the protobuf requests as a collector would."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from kombu import Connection
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (ExportTraceServiceRequest,
                                                                      ExportTraceServiceResponse)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from shared.bus.publisher import ConfirmingPublisher, Outgoing
from shared.config import PROJECT_ROOT
from shared.migrate import upgrade
from tests.helpers import AMQP_URL, wait_for_consumer, wait_until
from tests.integration.conftest import course_completed

pytestmark = [pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    """A minimal OTLP/HTTP trace receiver: POST /v1/traces (protobuf) → spans kept with their service name."""

    def __init__(self):
        self.spans: list[tuple[str, Span]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                for resource_spans in request.resource_spans:
                    attrs = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                    for scope_spans in resource_spans.scope_spans:
                        for span in scope_spans.spans:
                            receiver.spans.append((attrs.get("service.name", ""), span))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def find(self, service: str, name: str) -> list[Span]:
        return [s for svc, s in list(self.spans) if svc == service and s.name == name]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def otel_env(receiver: Receiver) -> dict[str, str]:
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_BSP_SCHEDULE_DELAY": "100"}


def attributes(span: Span) -> dict:
    return {a.key: a.value.string_value or a.value.int_value for a in span.attributes}


def test_a_gunicorn_web_exports_its_request_and_sql_spans_when_the_endpoint_is_set(receiver, tmp_path):
    db = f"sqlite:///{tmp_path / 'courses.db'}"
    upgrade("courses", db)
    port = free_port()
    env = {**os.environ, **otel_env(receiver), "COURSES_DATABASE_URL": db, "COURSES_PORT": str(port),
           "WEB_WORKERS": "1", "LOG_LEVEL": "WARNING", "VAR_DIR": str(tmp_path),
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")}
    log = open(tmp_path / "web.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "shared.serve", "courses"], cwd=PROJECT_ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    web = f"http://127.0.0.1:{port}"
    missing = str(uuid.uuid4())
    try:
        def up():
            try:
                return requests.get(f"{web}/health/live", timeout=20).status_code == 200
            except requests.ConnectionError:
                return False
        wait_until(up, timeout=60, what="gunicorn up")
        assert requests.get(f"{web}/api/v1/courses/{missing}", timeout=20).status_code == 404
        (server,) = wait_until(lambda: receiver.find("thoibinh-courses", "GET /api/v1/courses/<course_id>"),
                               timeout=30, what="the request's span exported")
        assert server.kind == Span.SPAN_KIND_SERVER
        sql = wait_until(lambda: [s for _, s in list(receiver.spans) if s.parent_span_id == server.span_id],
                         timeout=30, what="its SQL spans")
        assert all(s.kind == Span.SPAN_KIND_CLIENT for s in sql)
        assert not receiver.find("thoibinh-courses", "GET /health/live")  # probes are not traced
        for _, span in receiver.spans:
            assert missing not in str(attributes(span)), span.name  # the route template, never the path
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.broker
def test_a_worker_continues_the_trace_of_the_amqp_header_into_its_follow_up_events(receiver, bus, tmp_path):
    db = f"sqlite:///{tmp_path / 'evaluation.db'}"
    upgrade("evaluation", db)
    env = {**os.environ, **bus.env(), **otel_env(receiver), "EVALUATION_DATABASE_URL": db, "LOG_LEVEL": "WARNING",
           "VAR_DIR": str(tmp_path)}
    with Connection(AMQP_URL) as conn:  # the follow-up events need a queue to be routable
        capture = bus.queue("capture")
        channel = conn.channel()
        channel.exchange_declare(bus.exchange, "topic", durable=True, auto_delete=False)
        channel.queue_declare(capture, durable=True, auto_delete=False)
        channel.queue_bind(capture, bus.exchange, "#")
    log = open(tmp_path / "worker.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "services.evaluation.worker"], cwd=PROJECT_ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    trace_id, parent_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    try:
        envelope, body = course_completed()
        with Connection(AMQP_URL) as conn:  # published before the worker's queue exists would be unroutable
            channel = conn.channel()
            wait_for_consumer(f"{bus.queue_prefix}evaluation", timeout=60)
            # The worker declares its queue, then binds it: bind it here too (the same binding, idempotent), or a
            # loaded machine publishes between the two and the event reaches only the capture queue (seen in CI).
            channel.queue_bind(f"{bus.queue_prefix}evaluation", bus.exchange, envelope.routing_key)
            results = ConfirmingPublisher(conn, confirm_timeout=30).publish([Outgoing(
                envelope.id, envelope.routing_key, body, exchange=bus.exchange, event_type=envelope.type,
                headers={"traceparent": f"00-{trace_id}-{parent_id}-01"})])
        assert not [e for e in results.values() if e], results
        (process,) = wait_until(lambda: receiver.find("thoibinh-evaluation", "process courses.course_completed"),
                                timeout=60, what="the event's process span " + str(
                                    [(svc, sp.name) for svc, sp in receiver.spans][:20]) +
                                    (tmp_path / "worker.log").read_text()[-2000:])
        assert process.trace_id.hex() == trace_id and process.parent_span_id.hex() == parent_id
        assert process.kind == Span.SPAN_KIND_CONSUMER
        assert attributes(process)["messaging.system"] == "rabbitmq"
        send = wait_until(lambda: [s for s in receiver.find("thoibinh-evaluation", f"send {bus.exchange}")
                                   if s.parent_span_id == process.span_id], timeout=30,
                          what="the follow-up event's send span, child of the process span")
        assert {attributes(s)["messaging.rabbitmq.destination.routing_key"] for s in send} >= {
            "evaluation.feedback_requested"}
        assert all(s.trace_id.hex() == trace_id for s in send)
        (batch,) = [s for s in receiver.find("thoibinh-evaluation", f"process {bus.queue_prefix}evaluation")
                    if any(link.span_id.hex() == parent_id for link in s.links)]
        assert batch.trace_id.hex() != trace_id  # the batch links its messages; it is not their child
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
