"""One completion is one trace (issue 15): POST …/complete, the outbox, the broker, each consumer and the follow-up
events until the course is closed — through all four services. In process: the four real apps (Flask test clients)
and each service's consumer and relay in threads, on the real broker (a private namespace) and SQLite files, every
service's spans exported to the SDK's InMemorySpanExporter (shared.tracing.install_exporter)."""
from __future__ import annotations

import threading
from importlib import import_module

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from services import get_settings
from shared import tracing
from shared.bus.consumer import EventConsumer
from shared.bus.relay import OutboxRelay
from shared.config import SERVICES
from shared.migrate import upgrade
from tests.e2e.conftest import RETRY_DELAYS_MS, declare_queue
from tests.helpers import AMQP_URL, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.broker]
API = {"Authorization": "Bearer t-api"}
ADMIN = {"Authorization": "Bearer t-admin"}


@pytest.fixture
def traced_stack(bus, tmp_path):
    """The four services in this process with traces on: {service: test client}, and the exporter."""
    exporter = InMemorySpanExporter()
    tracing.install_exporter(exporter)
    stop = threading.Event()
    clients, threads, engines = {}, [], []
    try:
        for service in SERVICES:
            url = f"sqlite:///{tmp_path / (service + '.db')}"
            upgrade(service, url)
            settings = get_settings(service, database_url=url, exchange=bus.exchange, queue_prefix=bus.queue_prefix,
                                    amqp_url=AMQP_URL, api_token="t-api", admin_token="t-admin",
                                    retry_delays_ms=RETRY_DELAYS_MS)
            app = import_module(f"services.{service}.app").create_app(settings)
            context = app.extensions["service"]
            engines.append(context.engine)
            handlers = import_module(f"services.{service}.handlers").HANDLERS
            declare_queue(bus, service, handlers)
            relay = OutboxRelay(settings, context.session_factory, context.outbox)
            consumer = EventConsumer(settings, context.session_factory, context.inbox, handlers,
                                     on_commit=relay.wake.set)
            consumer.stop = stop
            threads += [threading.Thread(target=consumer.run, name=f"{service}-consumer", daemon=True),
                        threading.Thread(target=relay.run, args=(stop,), name=f"{service}-relay", daemon=True)]
            clients[service] = app.test_client()
        for thread in threads:
            thread.start()
        yield clients, exporter, (stop, threads)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=20)
        for engine in engines:
            engine.dispose()
        tracing.reset()


def ok(resp, status=200):
    assert resp.status_code == status, f"{resp.request.method} {resp.request.path} → {resp.status_code} {resp.text[:300]}"
    return resp.get_json()


def test_one_completion_is_one_trace_through_all_four_services(traced_stack):
    clients, exporter, (stop, threads) = traced_stack
    needs, courses, evaluation, funding = (clients[s] for s in SERVICES)
    ok(needs.post("/admin/needs/seed", json={"civil_servants": 12}, headers=ADMIN))
    ok(funding.post("/admin/funding/seed", json={"fiscal_year": 2026}, headers=ADMIN))
    trainees = wait_until(lambda: (lambda t: t if len(t) == 12 else None)(
        ok(courses.get("/api/v1/trainees", headers=API))), timeout=60, what="trainees synced from needs")
    communes = {t["commune_code"] for t in trainees}
    ok(courses.post("/api/v1/rules/duty-shares", json={"commune_code": "*", "max_absent_percent": 100,
                                                      "note": "traces"}, headers=API))
    lecturer = ok(courses.post("/api/v1/lecturers", json={
        "name": "GV A", "tier": 2, "degree": "master", "pedagogy_certificate": True, "years_experience": 5},
        headers=API), 201)
    venue = ok(courses.post("/api/v1/venues", json={
        "name": "Hội trường xã Thới Bình", "address": "Thới Bình, Cà Mau", "capacity": 40,
        "distances": [{"commune_code": c, "km": 0} for c in sorted(communes)]}, headers=API), 201)
    course = ok(courses.post("/api/v1/courses", headers=API, json={
        "code": "TRACE-1", "title": "Kỹ năng giao tiếp", "organizer_unit_code": "CM-THOIBINH",
        "topic_code": "KN-GIAOTIEP", "venue_id": venue["id"],
        "sessions": [{"date": "2026-03-02", "buoi": b, "lecturer_id": lecturer["id"]}
                     for b in ("morning", "afternoon")]}), 201)
    chosen = [t["civil_servant_id"] for t in trainees[:4]]
    ok(courses.post(f"/api/v1/courses/{course['id']}/enrollments", json={"civil_servant_ids": chosen},
                    headers=API), 201)
    ok(courses.post(f"/api/v1/courses/{course['id']}/schedule", headers=API))
    wait_until(lambda: ok(courses.get(f"/api/v1/courses/{course['id']}"))["status"] == "confirmed", timeout=60,
               what="funding to reserve the budget and confirm the course")
    ok(courses.post(f"/api/v1/courses/{course['id']}/attendance", headers=API, json={"records": [
        {"session_id": s["id"], "civil_servant_id": cs, "present": True}
        for cs in chosen for s in course["sessions"]]}), 201)

    ok(courses.post(f"/api/v1/courses/{course['id']}/complete", headers=API))
    assert courses.post(f"/api/v1/courses/{course['id']}/complete", headers=API).status_code == 409
    wait_until(lambda: ok(courses.get(f"/api/v1/courses/{course['id']}"))["status"] == "closed", timeout=60,
               what="the course to close")
    for service, client in clients.items():  # every follow-up event is out (and its send span ended)
        wait_until(lambda: ok(client.get("/admin/outbox", headers=ADMIN))["pending"] == 0, timeout=30,
                   what=f"{service}'s outbox to drain")
    stop.set()
    for thread in threads:
        thread.join(timeout=20)

    spans = exporter.get_finished_spans()
    service_of = lambda s: s.resource.attributes["thoibinh.service"]  # noqa: E731
    completes = [s for s in spans if s.kind == SpanKind.SERVER
                 and s.attributes.get("http.route") == "/api/v1/courses/<course_id>/complete"]
    assert len(completes) == 2  # the completion and the refused second try
    done = next(s for s in completes if s.attributes.get("http.status_code") == 200)
    refused = next(s for s in completes if s.attributes.get("http.status_code") == 409)
    trace_id = done.context.trace_id
    in_trace = [s for s in spans if s.context.trace_id == trace_id]
    assert {service_of(s) for s in in_trace} == set(SERVICES)

    def named(name, service):
        return [s for s in in_trace if s.name == name and service_of(s) == service]

    # courses' outbox row carries the request's context; the relay sends it under a child span of it
    (send,) = named(f"send {clients['courses'].application.extensions['service'].settings.exchange}", "courses")
    assert send.parent.span_id == done.context.span_id and send.kind == SpanKind.PRODUCER
    assert send.attributes["messaging.system"] == "rabbitmq"
    assert send.attributes["messaging.rabbitmq.destination.routing_key"] == "courses.course_completed"
    for consumer in ("needs", "evaluation", "funding"):  # each consumer processes it as a child of that send span
        (process,) = named("process courses.course_completed", consumer)
        assert process.parent.span_id == send.context.span_id and process.kind == SpanKind.CONSUMER
        assert process.attributes["messaging.operation.type"] == "process"
        children = [s for s in in_trace if s.parent and s.parent.span_id == process.context.span_id]
        assert any(s.kind == SpanKind.CLIENT and s.attributes.get("db.system") for s in children), \
            (consumer, [(s.name, s.kind, dict(s.attributes)) for s in children])
    # the follow-ups that close the course, applied by courses, in the same trace
    assert named("process evaluation.feedback_requested", "courses")
    assert named("process funding.course_settled", "courses")
    # a batch span links every message it took, and is not part of the business trace
    batches = [s for s in spans if s.name.startswith("process ") and s.name.endswith(".evaluation")
               and any(link.context.span_id == send.context.span_id for link in s.links)]
    assert len(batches) == 1 and batches[0].context.trace_id != trace_id
    # the refused try wrote no event: its trace stays in the courses web
    assert {service_of(s) for s in spans if s.context.trace_id == refused.context.trace_id} == {"courses"}
    # HTTP spans name the route template, never the path (paths carry ids and feedback tokens)
    for s in spans:
        for key in ("http.target", "http.url", "url.path", "url.full"):
            assert course["id"] not in str(s.attributes.get(key, "")), (s.name, key)
