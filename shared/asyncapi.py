"""The event contract as an AsyncAPI 3.0 document, generated from the catalogue and the topology.

Sources, never a second copy of them:
- payloads: every (type, version) in shared.events.CATALOGUE, its marshmallow schema converted to JSON Schema by
  apispec's MarshmallowPlugin (OpenAPI 3.1 output: `type: [..., "null"]` for nullable fields, which is valid in the
  AsyncAPI Schema Object, a superset of JSON Schema draft 07);
- the wire: the envelope (shared.events.EnvelopeSchema) around each payload, the AMQP message id = envelope id;
- the topology (shared.bus.topology): one topic exchange, routing key = event type, each service's quorum queue
  bound to the routing keys of its HANDLERS table, its delay queues and its dead-letter queue;
- who publishes (the producer is the first part of the event type, through its outbox) and who consumes (HANDLERS).

AMQP bindings follow the AsyncAPI AMQP bindings 0.3.0: channels `is: routingKey` (the exchange) and `is: queue`
(a service's queue), operations `deliveryMode`/`ack`, messages `messageType`. A service's queue channel names the
routing keys it is bound to in `x-bindings` (AsyncAPI 3.0 has no object for exchange-to-queue bindings).

`document(...)` builds the whole system (tools/asyncapi.py writes it to docs/asyncapi.json) or one service's part
(GET /asyncapi.json on each service).
"""
from __future__ import annotations

import copy
from typing import Iterable, Mapping

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from shared.bus.topology import DELIVERY_LIMIT
from shared.events import CATALOGUE, EnvelopeSchema

ASYNCAPI_VERSION = "3.0.0"
AMQP_BINDING_VERSION = "0.3.0"
SERVICES = ("needs", "courses", "evaluation", "funding")
DEFAULT_EXCHANGE = "training.events"
TITLE = "Thới Bình training platform — events"
DESCRIPTION = ("Events between the needs, courses, evaluation and funding services over RabbitMQ. Every message "
               "is a JSON envelope {id, type, version, occurred_at, producer, correlation_id, causation_id, payload} "
               "published to one topic exchange with the event type as routing key; consumers tolerate unknown "
               "fields (additive changes keep the version), and apply each message id once (their inbox).")


def producer_of(event_type: str) -> str:
    """The service that publishes `event_type` (its first dotted part names the producer)."""
    return event_type.split(".", 1)[0]


def message_key(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}"


def _schemas() -> tuple[dict[tuple[str, int], dict], dict[str, dict]]:
    """JSON Schema of each catalogue payload, plus the nested schemas they reference (#/components/schemas)."""
    plugin = MarshmallowPlugin()
    spec = APISpec("events", "1", "3.1.0", plugins=[plugin])
    payloads = {}
    for key, schema_class in CATALOGUE.items():
        body = plugin.converter.schema2jsonschema(schema_class())
        doc = (schema_class.__doc__ or "").strip()
        if doc:
            body = {"description": doc, **body}
        payloads[key] = body
    nested = copy.deepcopy(spec.to_dict().get("components", {}).get("schemas", {}))
    envelope = plugin.converter.schema2jsonschema(EnvelopeSchema())
    return payloads, {"_envelope": envelope, **nested}


def _schema_name(event_type: str, version: int) -> str:
    return CATALOGUE[(event_type, version)].__name__


def _message(event_type: str, version: int, envelope: dict) -> dict:
    """The message of one event type and version: the envelope with its type, version and producer fixed."""
    props = copy.deepcopy(envelope["properties"])
    props["type"] = {"type": "string", "const": event_type}
    props["version"] = {"type": "integer", "const": version}
    props["producer"] = {"type": "string", "const": producer_of(event_type)}
    props["payload"] = {"$ref": f"#/components/schemas/{_schema_name(event_type, version)}"}
    schema_doc = (CATALOGUE[(event_type, version)].__doc__ or "").strip()
    return {
        "name": event_type,
        "title": f"{event_type} v{version}",
        "summary": schema_doc.split("\n")[0] if schema_doc else f"{event_type} version {version}",
        "contentType": "application/json",
        "correlationId": {"description": "follows one request through every service",
                          "location": "$message.payload#/correlation_id"},
        "payload": {"type": "object", "required": sorted(envelope.get("required", [])), "properties": props},
        "bindings": {"amqp": {"messageType": event_type, "bindingVersion": AMQP_BINDING_VERSION}},
    }


def _exchange(name: str) -> dict:
    return {"name": name, "type": "topic", "durable": True, "autoDelete": False, "vhost": "/"}


def _queue(name: str) -> dict:
    return {"name": name, "durable": True, "exclusive": False, "autoDelete": False, "vhost": "/"}


def document(handlers: Mapping[str, Iterable[str]], *, only: str | None = None, exchange: str = DEFAULT_EXCHANGE,
             queue_prefix: str = "", retry_delays_ms: Iterable[int] = (1000, 5000, 30000),
             server_host: str = "rabbitmq:5672", version: str = "1.0.0") -> dict:
    """Build the AsyncAPI 3.0 document.

    `handlers` maps each service to the event types of its HANDLERS table (its queue's bindings). With `only`, the
    document is that service's part: what it publishes, what it consumes, its queues."""
    payloads, schemas = _schemas()
    envelope = schemas.pop("_envelope")
    versions: dict[str, list[int]] = {}
    for etype, v in sorted(CATALOGUE):
        versions.setdefault(etype, []).append(v)
    consumes = {svc: sorted(set(types)) for svc, types in handlers.items()}
    unknown = {t for types in consumes.values() for t in types if t not in versions}
    if unknown:
        raise ValueError(f"HANDLERS subscribe to event types the catalogue does not have: {sorted(unknown)}")

    services = [only] if only else [s for s in SERVICES if s in handlers or any(producer_of(t) == s for t in versions)]
    published = {svc: [t for t in versions if producer_of(t) == svc] for svc in services}
    wanted = sorted({t for svc in services for t in published[svc] + consumes.get(svc, [])})

    channels: dict[str, dict] = {}
    messages: dict[str, dict] = {}
    operations: dict[str, dict] = {}
    used_schemas: dict[str, dict] = {}
    for etype in wanted:
        subscribers = sorted(s for s, types in consumes.items() if etype in types)
        channel_messages = {}
        for v in versions[etype]:
            key = message_key(etype, v)
            messages[key] = _message(etype, v, envelope)
            used_schemas[_schema_name(etype, v)] = payloads[(etype, v)]
            channel_messages[key] = {"$ref": f"#/components/messages/{key}"}
        channels[etype] = {
            "address": etype,
            "title": etype,
            "description": (f"Routing key {etype} on the topic exchange {exchange}: published by "
                            f"{producer_of(etype)}" + ("." if only else
                                                       f", consumed by {', '.join(subscribers) or 'no service'}.")),
            "messages": channel_messages,
            "bindings": {"amqp": {"is": "routingKey", "exchange": _exchange(exchange),
                                  "bindingVersion": AMQP_BINDING_VERSION}},
            "x-publisher": producer_of(etype),
            "x-subscribers": subscribers,
        }
    for svc in services:
        for etype in published[svc]:
            operations[f"{svc}.send.{etype}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{etype}"},
                "title": f"{svc} publishes {etype}",
                "summary": "Written to the outbox in the use case's transaction; the relay publishes it with "
                           "publisher confirms (persistent, mandatory).",
                "messages": [{"$ref": f"#/channels/{etype}/messages/{message_key(etype, v)}"}
                             for v in versions[etype]],
                "bindings": {"amqp": {"deliveryMode": 2, "mandatory": True,
                                      "bindingVersion": AMQP_BINDING_VERSION}},
            }
        types = consumes.get(svc, [])
        if not types:
            continue
        queue = f"{queue_prefix}{svc}"
        queue_channel = f"{svc}.queue"
        channels[queue_channel] = {
            "address": queue,
            "title": f"{svc} queue",
            "description": (f"The {svc} service's quorum queue, bound to {exchange} with the routing keys of its "
                            f"HANDLERS table. Failed messages wait in {queue}.retry.N and come back; after the "
                            f"retries, or {DELIVERY_LIMIT} redeliveries, they are parked in {queue}.dlq."),
            "messages": {message_key(t, v): {"$ref": f"#/components/messages/{message_key(t, v)}"}
                         for t in types for v in versions[t]},
            "bindings": {"amqp": {"is": "queue", "queue": _queue(queue), "bindingVersion": AMQP_BINDING_VERSION}},
            "x-bindings": [{"exchange": exchange, "routingKey": t} for t in types],
            "x-retry-queues": [{"name": f"{queue}.retry.{tier}", "ttlMs": delay}
                               for tier, delay in enumerate(retry_delays_ms, start=1)],
            "x-dead-letter-queue": f"{queue}.dlq",
        }
        for etype in types:
            operations[f"{svc}.receive.{etype}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{queue_channel}"},
                "title": f"{svc} consumes {etype}",
                "summary": "Applied once per message id (inbox) in the handler's unit of work, acked after commit.",
                "messages": [{"$ref": f"#/channels/{queue_channel}/messages/{message_key(etype, v)}"}
                             for v in versions[etype]],
                "bindings": {"amqp": {"ack": True, "bindingVersion": AMQP_BINDING_VERSION}},
                "x-handler": f"services.{svc}.handlers.HANDLERS[{etype!r}]",
            }
    # nested schemas the used payloads reference (transitively)
    pending = list(used_schemas.values())
    while pending:
        for ref in _refs(pending.pop()):
            if ref not in used_schemas:
                used_schemas[ref] = schemas[ref]
                pending.append(schemas[ref])

    title = TITLE if not only else f"{TITLE} ({only})"
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": title, "version": version, "description": DESCRIPTION},
        "defaultContentType": "application/json",
        "servers": {"broker": {"host": server_host, "protocol": "amqp", "protocolVersion": "0.9.1",
                               "description": "RabbitMQ 4 (quorum queues)"}},
        "channels": dict(sorted(channels.items())),
        "operations": dict(sorted(operations.items())),
        "components": {"messages": dict(sorted(messages.items())),
                       "schemas": dict(sorted(used_schemas.items()))},
    }


def _refs(node) -> set[str]:
    found = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def service_document(settings, handlers: Iterable[str]) -> dict:
    """One service's part, with its deployment's exchange and queue names (GET /asyncapi.json)."""
    from kombu import Connection
    host = "rabbitmq:5672"
    try:
        first = Connection(settings.amqp_url.split(";")[0].strip())
        host = f"{first.hostname}:{first.port or 5672}"  # never the credentials
    except Exception:  # noqa: BLE001 - an unparsable URL keeps the documented default host
        pass
    return document({settings.service: list(handlers)}, only=settings.service, exchange=settings.exchange,
                    queue_prefix=settings.queue_prefix, retry_delays_ms=settings.retry_delays_ms, server_host=host)


def asyncapi_view(settings, handlers: list[str]):
    """The Flask view of GET /asyncapi.json: this service's part, built once on first request."""
    from flask import jsonify
    built: list[dict] = []

    def view():
        if not built:
            built.append(service_document(settings, handlers))
        return jsonify(built[0])

    return view
