"""shared/tracing.py (issue 15) without a broker: off by default, switched on by the standard OTEL_* variables, the
traceparent kept in the outbox row's envelope, and no path, token or error text in an exported span."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from shared import tracing
from shared.db import transaction
from shared.events import EventContractError, decode, new_event

PAYLOAD = {"course_id": "c-1", "request_count": 3, "deadline": datetime(2026, 3, 9, tzinfo=timezone.utc)}
OTEL_VARS = ("OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT",
             "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_SAMPLER")


@pytest.fixture
def exporter():
    exporter = InMemorySpanExporter()
    tracing.install_exporter(exporter)
    yield exporter
    tracing.reset()


@pytest.fixture
def no_otel_env(monkeypatch):
    for name in OTEL_VARS:
        monkeypatch.delenv(name, raising=False)
    tracing.reset()
    yield monkeypatch
    tracing.reset()


@pytest.mark.parametrize("env, wanted", [
    ({}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
    ({"OTEL_TRACES_EXPORTER": "console"}, True),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": ""}, False),  # compose passes it through empty: off
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
])
def test_traces_are_off_unless_the_standard_variables_ask(no_otel_env, env, wanted):
    for name, value in env.items():
        no_otel_env.setenv(name, value)
    provider = tracing.configure("courses")
    assert (provider is not None) == wanted
    assert tracing.active("courses") == wanted


def test_off_by_default_the_envelope_is_as_before(no_otel_env):
    assert tracing.configure("courses") is None
    assert tracing.current_traceparent() is None
    _, body = new_event("evaluation.feedback_requested", PAYLOAD, producer="evaluation",
                        traceparent=tracing.current_traceparent())
    assert "traceparent" not in json.loads(body)


def test_the_envelope_carries_a_traceparent_and_refuses_an_oversized_one():
    tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    _, body = new_event("evaluation.feedback_requested", PAYLOAD, producer="evaluation", traceparent=tp)
    assert json.loads(body)["traceparent"] == tp and decode(body).traceparent == tp
    wire = json.loads(body)
    wire["traceparent"] = "x" * 65
    with pytest.raises(EventContractError):
        decode(json.dumps(wire))
    assert tracing.context_from("not-a-traceparent") is None
    assert tracing.context_from(tp) is not None


def test_an_outbox_row_written_under_a_span_stores_that_span(exporter, make_client):
    client = make_client("needs")
    context = client.application.extensions["service"]
    from datetime import date
    payload = {"civil_servant_id": "cs-1", "code": "C1", "unit_code": "U1", "commune_code": "X1",
               "left_on": date(2026, 1, 5), "reason": "retired"}
    with tracing.tracer("needs").start_as_current_span("use case") as span:
        with transaction(context.session_factory) as session:
            env = context.outbox.emit(session, "needs.civil_servant_left", payload)
    ids = env.traceparent.split("-")[1:3]
    assert ids == [f"{span.get_span_context().trace_id:032x}", f"{span.get_span_context().span_id:016x}"]
    with context.session_factory() as session:
        stored = session.execute(context.outbox.table.select().with_only_columns(context.outbox.table.c.body)).scalar()
    assert tracing.traceparent_in(stored) == env.traceparent


def test_http_spans_name_the_route_and_keep_no_path_token_or_address(exporter, make_client):
    client = make_client("evaluation")
    secret = "tok-5d41402abc4b2a76b9719d911017c592"
    client.get(f"/api/v1/feedback/{secret}?q={secret}", environ_base={"REMOTE_ADDR": "203.0.113.7"})
    client.get("/health/live")  # probes and scrapes are not traced
    client.get("/metrics")
    server = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert len(server) == 1
    (span,) = server
    assert span.attributes["http.route"] == "/api/v1/feedback/<token>"
    assert span.resource.attributes["service.name"] == "thoibinh-evaluation"
    for s in exporter.get_finished_spans():
        text = json.dumps({k: str(v) for k, v in s.attributes.items()}) + s.name
        assert secret not in text and "203.0.113.7" not in text, (s.name, text)


def test_error_text_never_leaves_the_process(exporter):
    tracing.configure("funding")
    with pytest.raises(ValueError):
        with tracing.tracer("funding").start_as_current_span("handler"):
            raise ValueError("Nguyễn Văn A, born 1963")
    (span,) = exporter.get_finished_spans()
    assert span.status.description is None
    assert not [e for e in span.events if e.name == "exception"]
    assert "Nguyễn" not in json.dumps({k: str(v) for k, v in span.attributes.items()})


def test_a_durable_job_run_is_a_span_and_the_events_it_writes_carry_it(exporter, make_client):
    from shared import jobs, metrics
    client = make_client("evaluation")
    context = client.application.extensions["service"]
    table = metrics.job_tables(context.outbox.table.metadata)[0]
    written = []

    def probe(session, job):
        written.append(context.outbox.emit(session, "evaluation.feedback_requested", PAYLOAD))

    with transaction(context.session_factory) as session:
        jobs.enqueue(session, table, "probe", {})
    metrics.bind_service("evaluation")
    try:
        assert jobs.run_due(context.session_factory, table, {"probe": probe}) == 1
    finally:
        metrics.bind_service("")
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "job probe"]
    assert span.resource.attributes["thoibinh.service"] == "evaluation" and span.parent is None
    assert written[0].traceparent.split("-")[1] == f"{span.context.trace_id:032x}"
    assert not [s for s in exporter.get_finished_spans() if s.parent is None and s.kind == SpanKind.CLIENT]
