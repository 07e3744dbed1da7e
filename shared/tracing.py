"""OpenTelemetry traces across the four services (issue 15): off by default.

Switched on by the standard variables: OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) names an
OTLP/HTTP collector, or OTEL_TRACES_EXPORTER=otlp|console; OTEL_SDK_DISABLED=true wins. The other OTEL_* variables
(OTEL_BSP_*, OTEL_TRACES_SAMPLER, OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_HEADERS …) are read by the SDK.
`configure(service)` runs after gunicorn forks (post_fork, deploy/gunicorn.conf.py) and in shared/worker.py;
create_service_app calls it too (a no-op once done).

One trace per business flow: a web request's span (opentelemetry-instrumentation-flask) is current when a use case
writes an outbox row, so the row's envelope carries that W3C `traceparent` (shared/events.py, optional field). The
relay publishes each row under a "send" span, child of the stored context, and puts the send span's context in the
AMQP `traceparent` header. The consumer opens one "process" span per batch, linked to every message's context, and
one per event (or run of a batch handler) as a child of that message's context: follow-up events written by the
handler carry it on, through the next service, to the course being closed. SQL statements are spans of their own
(opentelemetry-instrumentation-sqlalchemy; statements without parameter values); a durable job's run is one span.

Messaging spans follow the OpenTelemetry messaging semantic conventions 1.27.0 for RabbitMQ (SEMCONV_VERSION):
names "<operation> <destination>", kinds PRODUCER (send) / CONSUMER (process), the messaging.* attributes of _rabbitmq.

No personal data in a span: HTTP spans carry the route template, never the path or query (paths carry ids and
feedback tokens) and no client address; error descriptions and exception events (their text may quote row values)
are dropped by the exporter wrapper before anything leaves the process.
"""
from __future__ import annotations

import logging
import os
import threading
import weakref
from contextlib import contextmanager
from typing import Iterable, Iterator

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagators.textmap import DefaultGetter
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = logging.getLogger(__name__)

SEMCONV_VERSION = "1.27.0"  # the messaging semantic conventions these spans follow
SCHEMA_URL = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"
SCOPE = "thoibinh.bus"
_PROPAGATOR = TraceContextTextMapPropagator()
_LOCK = threading.Lock()
_PROVIDERS: dict[str, object] = {}  # service → its TracerProvider (one per process in production)
_SHARED_EXPORTER = None  # tests: every service's provider exports here (install_exporter)
_CONFIGURED_PID: int | None = None
_TRACED_ENGINES: "weakref.WeakSet" = weakref.WeakSet()
# Attributes an HTTP span may not keep as the instrumentation recorded them (old and stable HTTP conventions).
_PATH_ATTRIBUTES = ("http.target", "http.url", "url.path", "url.full")
_DROPPED_ATTRIBUTES = ("url.query", "net.peer.ip", "client.address", "http.client_ip", "net.sock.peer.addr",
                       "network.peer.address", "http.user_agent", "user_agent.original")


def _wanted() -> bool:
    """Whether the environment asks for traces (the standard OTEL_* variables)."""
    if (os.environ.get("OTEL_SDK_DISABLED") or "").strip().lower() == "true":
        return False
    exporter = (os.environ.get("OTEL_TRACES_EXPORTER") or "").strip().lower()
    return exporter != "none" and bool(exporter or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
                                       or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


class ScrubbingExporter:
    """Wraps an exporter: drops error descriptions and exception events (their text may quote values) and the
    HTTP attributes that could carry a path, query or client address."""

    def __init__(self, inner):
        self.inner = inner

    @staticmethod
    def scrub(span):
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.trace.status import Status

        attributes = dict(span.attributes or {})
        route = attributes.get("http.route")
        for key in _PATH_ATTRIBUTES:
            if key in attributes:
                attributes[key] = route or "<unmatched>"
        for key in _DROPPED_ATTRIBUTES:
            attributes.pop(key, None)
        attributes.pop("exception.message", None)
        events = [e for e in span.events if e.name != "exception"]
        return ReadableSpan(
            name=span.name, context=span.context, parent=span.parent, resource=span.resource, attributes=attributes,
            events=events, links=span.links, kind=span.kind, status=Status(span.status.status_code),
            start_time=span.start_time, end_time=span.end_time, instrumentation_scope=span.instrumentation_scope)

    def export(self, spans):
        return self.inner.export([self.scrub(s) for s in spans])

    def shutdown(self):
        return self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000):
        return getattr(self.inner, "force_flush", lambda _: True)(timeout_millis)


def _sampler():
    """Parent-based; a root span is kept unless it is a CLIENT span — a SQL statement outside any request or handler
    (the relay's and the jobs' polling, a metrics scrape, a readiness probe), which would otherwise start a trace
    of its own several times a second. OTEL_TRACES_SAMPLER, when set, is the SDK's to apply instead."""
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Decision, ParentBased, Sampler, SamplingResult

    class NoClientRoots(Sampler):
        def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None,
                          trace_state=None):
            if kind == SpanKind.CLIENT:
                return SamplingResult(Decision.DROP)
            return ALWAYS_ON.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

        def get_description(self) -> str:
            return "NoClientRoots"

    if os.environ.get("OTEL_TRACES_SAMPLER"):
        return None  # the SDK reads OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG
    return ParentBased(root=NoClientRoots())


def _build_provider(service: str, exporter=None, *, simple: bool = False):
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    if exporter is None:
        kind = (os.environ.get("OTEL_TRACES_EXPORTER") or "otlp").strip().lower()
        if kind == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter
            exporter = ConsoleSpanExporter()
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            exporter = OTLPSpanExporter()
    # Resource.create reads OTEL_RESOURCE_ATTRIBUTES; service.name is ours unless OTEL_SERVICE_NAME says otherwise.
    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or f"thoibinh-{service}",
                                "thoibinh.service": service})
    provider = TracerProvider(resource=resource, sampler=_sampler())
    processor = SimpleSpanProcessor if simple else BatchSpanProcessor
    provider.add_span_processor(processor(ScrubbingExporter(exporter)))
    return provider


def configure(service: str):
    """Set up this process's tracer provider for `service` when the environment asks for traces (idempotent per
    process, safe after a fork); return it, or None when traces are off."""
    global _CONFIGURED_PID
    with _LOCK:
        if service in _PROVIDERS:
            return _PROVIDERS[service]
        if _SHARED_EXPORTER is not None:
            _PROVIDERS[service] = _build_provider(service, _SHARED_EXPORTER, simple=True)
            return _PROVIDERS[service]
        if not _wanted():
            return None
        if _CONFIGURED_PID != os.getpid():  # a forked child starts with no provider of its own
            _PROVIDERS.clear()
            _CONFIGURED_PID = os.getpid()
        provider = _PROVIDERS[service] = _build_provider(service)
        log.info("traces on", extra={"exporter": os.environ.get("OTEL_TRACES_EXPORTER") or "otlp"})
        return provider


def install_exporter(exporter) -> None:
    """Tests: export every service's spans to `exporter` (e.g. the SDK's InMemorySpanExporter), synchronously,
    with one provider per service so each span names its service in its resource."""
    global _SHARED_EXPORTER
    with _LOCK:
        _SHARED_EXPORTER = exporter
        _PROVIDERS.clear()


def reset() -> None:
    """Tests: forget every provider and the installed exporter (traces off again)."""
    global _SHARED_EXPORTER
    with _LOCK:
        for provider in _PROVIDERS.values():
            provider.shutdown()
        _PROVIDERS.clear()
        _SHARED_EXPORTER = None


def shutdown() -> None:
    """Flush and stop this process's providers (a worker's exit, gunicorn's worker_exit)."""
    with _LOCK:
        for provider in _PROVIDERS.values():
            try:
                provider.shutdown()
            except Exception as exc:  # noqa: BLE001 - a collector away at exit must not change the exit code
                log.warning("traces: flush at exit failed", extra={"error": type(exc).__name__})
        _PROVIDERS.clear()


def tracer(service: str):
    """The service's tracer (a no-op one when traces are off)."""
    provider = _PROVIDERS.get(service)
    return trace.NoOpTracer() if provider is None else provider.get_tracer(SCOPE, schema_url=SCHEMA_URL)


def active(service: str) -> bool:
    return service in _PROVIDERS  # traces on for this service in this process


# --- instrumentation of a web app and an engine -------------------------------------------------------------------

def _request_hook(span, environ) -> None:
    """Overwrite what the Flask instrumentation took from the raw request: the route template instead of the path."""
    if not span.is_recording():
        return
    from flask import request
    route = request.url_rule.rule if request.url_rule else "<unmatched>"
    for key in _PATH_ATTRIBUTES:
        span.set_attribute(key, route)


def instrument_app(app, engine, service: str) -> None:
    """Trace a service's Flask app and its engine when traces are on (configure() decides)."""
    provider = configure(service)
    if provider is None:
        return
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    FlaskInstrumentor().instrument_app(app, tracer_provider=provider, request_hook=_request_hook,
                                       excluded_urls="/metrics,/health", enable_commenter=False)
    instrument_engine(engine, service)


def instrument_engine(engine, service: str) -> None:
    """SQL spans for one engine (the official instrumentation's EngineTracer, attached to this engine only: the
    instrumentor itself is a process-wide singleton that also patches create_engine)."""
    provider = configure(service)
    if provider is None or engine in _TRACED_ENGINES:
        return
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.instrumentation.sqlalchemy.version import __version__
    from opentelemetry.metrics import NoOpMeter

    tracer_ = provider.get_tracer("opentelemetry.instrumentation.sqlalchemy", __version__)
    usage = NoOpMeter("thoibinh").create_up_down_counter("db.client.connections.usage")
    EngineTracer(tracer_, engine, usage, enable_commenter=False)
    _TRACED_ENGINES.add(engine)


# --- W3C trace context --------------------------------------------------------------------------------------------

def current_traceparent() -> str | None:
    """The current span's W3C traceparent, or None (no span, or traces off): stored in an event's envelope."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def context_from(traceparent: str | None):
    """A context whose parent is the remote span named by `traceparent` (None or malformed: None)."""
    if not traceparent or not isinstance(traceparent, str):
        return None
    ctx = _PROPAGATOR.extract({"traceparent": traceparent}, getter=DefaultGetter())
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None


def _span_context(ctx):
    return trace.get_current_span(ctx).get_span_context() if ctx is not None else None


def _rabbitmq(operation_type: str, operation_name: str, exchange: str, routing_key: str | None = None) -> dict:
    attributes = {"messaging.system": "rabbitmq", "messaging.operation.type": operation_type,
                  "messaging.operation.name": operation_name, "messaging.destination.name": exchange}
    if routing_key is not None:
        attributes["messaging.rabbitmq.destination.routing_key"] = routing_key
    return attributes


@contextmanager
def job_span(service: str, kind: str) -> Iterator[None]:
    """The span a durable job's run is in (a trace of its own): its SQL and the events it writes belong to it."""
    if not active(service):
        yield
        return
    with tracer(service).start_as_current_span(f"job {kind}", kind=SpanKind.INTERNAL, record_exception=False,
                                               attributes={"thoibinh.job.kind": kind}):
        yield


# --- relay: one send span per published row -----------------------------------------------------------------------

def traceparent_in(body: bytes | str) -> str | None:
    """The traceparent an outbox body's envelope carries (only parsed when the field is there)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    if '"traceparent"' not in text:
        return None
    import json
    try:
        value = json.loads(text).get("traceparent")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


class SendSpans:
    """The relay's send spans of one batch: started before the publish, ended with each confirm's outcome."""

    def __init__(self, service: str, exchange: str):
        self.service = service
        self.exchange = exchange
        self.spans: dict[str, object] = {}

    def start(self, message_id: str, routing_key: str, body, correlation_id: str | None) -> str | None:
        """Start the row's send span (child of the context stored with the row); return its traceparent for the
        AMQP header, or None when traces are off or the row has no stored context."""
        if not active(self.service):
            return None
        parent = context_from(traceparent_in(body))
        if parent is None:
            return None
        span = tracer(self.service).start_span(
            f"send {self.exchange}", context=parent, kind=SpanKind.PRODUCER,
            attributes={**_rabbitmq("send", "send", self.exchange, routing_key),
                        "messaging.message.id": message_id,
                        **({"messaging.message.conversation_id": correlation_id} if correlation_id else {})})
        self.spans[message_id] = span
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
        return carrier.get("traceparent")

    def finish(self, results: dict[str, str | None]) -> None:
        from opentelemetry.trace.status import Status, StatusCode
        for message_id, span in self.spans.items():
            error = results.get(message_id, "no confirm")
            if error is not None:
                span.set_status(Status(StatusCode.ERROR))
                span.set_attribute("error.type", error.split(":", 1)[0][:60])
            span.end()
        self.spans = {}


# --- consumer: a batch span linked to every message, a child span per event ------------------------------------

def message_context(headers: dict | None, envelope_traceparent: str | None):
    """The producer's context of a delivery: the AMQP `traceparent` header (the relay's send span), else the one
    stored in the envelope."""
    header = (headers or {}).get("traceparent")
    if isinstance(header, bytes):
        header = header.decode("ascii", "replace")
    return context_from(header) or context_from(envelope_traceparent)


@contextmanager
def batch_span(service: str, exchange: str, queue: str, contexts: Iterable) -> Iterator[object]:
    """The consumer's span over one batch: links to every message's context (semconv: batch processing)."""
    if not active(service):
        yield None
        return
    contexts = list(contexts)
    links = [Link(sc) for sc in (_span_context(c) for c in contexts) if sc is not None and sc.is_valid]
    span = tracer(service).start_span(
        f"process {queue}", context=otel_context.Context(), kind=SpanKind.CONSUMER, links=links,
        attributes={**_rabbitmq("process", "process", exchange), "messaging.destination.subscription.name": queue,
                    "messaging.batch.message_count": len(contexts)})
    token = otel_context.attach(trace.set_span_in_context(span))  # the inbox's SQL is the batch's
    try:
        yield span
    finally:
        otel_context.detach(token)
        span.end()


@contextmanager
def process_span(service: str, exchange: str, queue: str, batch, envelopes: list, contexts: list) -> Iterator[None]:
    """The span an event's handler runs in (a batch handler's run of events: one span), child of the first
    message's context, linked to the others and to the batch span; current while the handler runs, so follow-up
    events store it."""
    if not active(service):
        yield
        return
    parent, *others = contexts
    links = [Link(sc) for sc in (_span_context(c) for c in others) if sc is not None and sc.is_valid]
    if batch is not None:
        links.append(Link(batch.get_span_context()))
    first = envelopes[0]
    attributes = {**_rabbitmq("process", "process", exchange, first.type),
                  "messaging.destination.subscription.name": queue, "messaging.message.id": first.id,
                  "messaging.message.conversation_id": first.correlation_id}
    if len(envelopes) > 1:
        attributes["messaging.batch.message_count"] = len(envelopes)
    span = tracer(service).start_span(f"process {first.type}", context=parent or otel_context.Context(),
                                      kind=SpanKind.CONSUMER, links=links, attributes=attributes)
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        yield
    except BaseException as exc:
        from opentelemetry.trace.status import Status, StatusCode
        span.set_status(Status(StatusCode.ERROR))
        span.set_attribute("error.type", type(exc).__name__)  # the kind only: the text may quote values
        raise
    finally:
        otel_context.detach(token)
        span.end()
