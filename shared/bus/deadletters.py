"""Dead-letter operations for operators, with pika: list, replay and purge parked messages, and queue depths.

Listing takes every message without acking and then returns them all (nack with requeue), so nothing is
consumed by looking. Replay republishes to the service's own queue through the default exchange with
publisher confirms before the parked copy is acked: a crash in between leaves a duplicate, which the
inbox absorbs, never a loss.

With a cluster (`;`-separated AMQP_URL) every node is tried in turn, each with bounded connect and handshake
time-outs, so the endpoints answer while a node is dead or frozen, as the workers do.
"""
from __future__ import annotations

import json
from contextlib import contextmanager

import pika

from shared.bus.publisher import failover_order
from shared.config import Settings


def _parameters(amqp_url: str) -> list[pika.ConnectionParameters]:
    """pika parameters for each URL of our AMQP_URL (this process's failover order), read the way kombu reads
    them ("…//" is the vhost "/"). pika tries them in turn; each attempt is bounded (TCP connect, then the
    whole handshake: a frozen node accepts the TCP connection and never answers)."""
    from kombu import Connection
    out = []
    for url in failover_order(amqp_url).split(";"):
        if not url.strip():
            continue
        info = Connection(url.strip())
        out.append(pika.ConnectionParameters(
            host=info.hostname, port=info.port or 5672, virtual_host=info.virtual_host or "/",
            credentials=pika.PlainCredentials(info.userid, info.password),
            socket_timeout=5, stack_timeout=8, blocked_connection_timeout=10, connection_attempts=1))
    return out


def _connect(settings: Settings) -> pika.BlockingConnection:
    return pika.BlockingConnection(_parameters(settings.amqp_url))


@contextmanager
def _channel(settings: Settings):
    conn = _connect(settings)
    try:
        yield conn.channel()
    finally:
        if conn.is_open:
            conn.close()


def _describe(method, props, body: bytes) -> dict:
    headers = props.headers or {}
    try:
        env = json.loads(body)
        event_type = env.get("type") if isinstance(env, dict) else None
    except ValueError:
        event_type = None
    return {
        "message_id": props.message_id,
        "event_type": event_type or props.type,
        "reason": _text(headers.get("x-dead-letter-reason")) or _death_reason(headers),
        "dead_lettered_at": _text(headers.get("x-dead-lettered-at")),
        "retries": headers.get("x-retry-count", 0),
        "original_routing_key": _text(headers.get("x-original-routing-key")),
        "size": len(body),
    }


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def _death_reason(headers: dict) -> str | None:
    deaths = headers.get("x-death") or []
    if deaths:
        d = deaths[0]
        return f"broker: {_text(d.get('reason'))} from {_text(d.get('queue'))}"
    return None


def _drain(ch, queue: str, limit: int | None = None):
    taken = []
    while limit is None or len(taken) < limit:
        method, props, body = ch.basic_get(queue, auto_ack=False)
        if method is None:
            break
        taken.append((method, props, body))
    return taken


def list_parked(settings: Settings, limit: int = 100) -> list[dict]:
    """Describe up to `limit` parked messages without consuming them."""
    with _channel(settings) as ch:
        taken = _drain(ch, settings.dead_letter_queue, limit)
        if taken:
            ch.basic_nack(delivery_tag=taken[-1][0].delivery_tag, multiple=True, requeue=True)
        return [_describe(*t) for t in taken]


def replay(settings: Settings, message_id: str | None = None) -> int:
    """Send parked messages (one by id, or all) back to the service's queue; return how many."""
    with _channel(settings) as ch:
        ch.confirm_delivery()
        taken = _drain(ch, settings.dead_letter_queue)
        count = 0
        for method, props, body in taken:
            if message_id is not None and props.message_id != message_id:
                continue
            headers = {k: v for k, v in (props.headers or {}).items()
                       if k not in ("x-retry-count", "x-death", "x-first-death-exchange", "x-first-death-queue",
                                    "x-first-death-reason", "x-last-death-exchange", "x-last-death-queue",
                                    "x-last-death-reason")}
            headers["x-replayed-from-dlq"] = True
            new_props = pika.BasicProperties(
                message_id=props.message_id, correlation_id=props.correlation_id, type=props.type,
                content_type=props.content_type or "application/json", content_encoding=props.content_encoding,
                delivery_mode=2, headers=headers)
            # Raises on nack/unroutable: the parked copy is then requeued by the close below.
            ch.basic_publish("", settings.queue, body, new_props, mandatory=True)
            ch.basic_ack(method.delivery_tag)
            count += 1
        return count


def purge(settings: Settings, message_id: str | None = None) -> int:
    """Delete parked messages (one by id, or all); return how many."""
    with _channel(settings) as ch:
        if message_id is None:
            return ch.queue_purge(settings.dead_letter_queue).method.message_count
        count = 0
        for method, props, _body in _drain(ch, settings.dead_letter_queue):
            if props.message_id == message_id:
                ch.basic_ack(method.delivery_tag)
                count += 1
        return count


def queue_depths(settings: Settings) -> dict:
    """Return ready-message counts of the main, delay and dead-letter queues (None where not declared yet)."""
    names = [settings.queue, *(settings.retry_queue(i + 1) for i in range(len(settings.retry_delays_ms))),
             settings.dead_letter_queue]
    out = {}
    conn = _connect(settings)
    try:
        for name in names:
            ch = conn.channel()  # a passive declare of a missing queue closes its channel, not the connection
            try:
                res = ch.queue_declare(name, passive=True)
                out[name] = {"messages": res.method.message_count, "consumers": res.method.consumer_count}
                ch.close()
            except pika.exceptions.ChannelClosedByBroker:
                out[name] = None
    finally:
        if conn.is_open:
            conn.close()
    return out
