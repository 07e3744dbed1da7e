"""The broker topology as data: one exchange, and per service a main queue, delay queues and a dead-letter queue.

Retries go through the default exchange straight to the one queue (never back through the topic exchange,
which would redeliver to every subscriber). Quorum queues with at-least-once dead-lettering, so a message
moved by the broker (delivery limit, TTL expiry of a delay queue) is not lost on the way.
"""
from __future__ import annotations

from kombu import Exchange, Queue, binding

from shared.config import Settings

DELIVERY_LIMIT = 20  # RabbitMQ 4 drops after 20 redeliveries unless dead-lettered; we dead-letter explicitly


def event_exchange(settings: Settings) -> Exchange:
    return Exchange(settings.exchange, type="topic", durable=True)


def _quorum_args(**extra) -> dict:
    return {"x-queue-type": "quorum", **extra}


def main_queue(settings: Settings, routing_keys) -> Queue:
    """The service's durable queue, bound to every event type its HANDLERS table subscribes to."""
    exchange = event_exchange(settings)
    return Queue(
        settings.queue,
        bindings=[_binding(exchange, key) for key in sorted(routing_keys)],
        durable=True,
        queue_arguments=_quorum_args(**{
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": settings.dead_letter_queue,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
            "x-delivery-limit": DELIVERY_LIMIT,
        }),
    )


def _binding(exchange: Exchange, key: str) -> binding:
    return binding(exchange, routing_key=key)


def retry_queues(settings: Settings) -> list[Queue]:
    """Delay queues with growing TTLs; expired messages fall back into the main queue."""
    return [
        Queue(
            settings.retry_queue(tier), durable=True,
            queue_arguments=_quorum_args(**{
                "x-message-ttl": delay,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": settings.queue,
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            }),
        )
        for tier, delay in enumerate(settings.retry_delays_ms, start=1)
    ]


PARKED_DELIVERY_LIMIT = 1_000_000  # listing a DLQ returns its messages; RabbitMQ 4 would drop them after 20


def dead_letter_queue(settings: Settings) -> Queue:
    """The parking lot: no dead-letter exchange, and a delivery limit no operator will reach by listing."""
    return Queue(settings.dead_letter_queue, durable=True,
                 queue_arguments=_quorum_args(**{"x-delivery-limit": PARKED_DELIVERY_LIMIT}))


def declare(settings: Settings, channel, routing_keys) -> Queue:
    """Declare the exchange and this service's queues on `channel`; return the main queue bound to it."""
    event_exchange(settings)(channel).declare()
    dead_letter_queue(settings)(channel).declare()
    for q in retry_queues(settings):
        q(channel).declare()
    queue = main_queue(settings, routing_keys)(channel)
    queue.declare()
    return queue
