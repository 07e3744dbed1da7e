"""The broker topology as data: one exchange, and per service a main queue, delay queues and a dead-letter queue.

Retries go through the default exchange straight to the one queue (never back through the topic exchange,
which would redeliver to every subscriber). Quorum queues with at-least-once dead-lettering, so a message
moved by the broker (delivery limit, TTL expiry of a delay queue) is not lost on the way.

Quorum queues are declared with `x-queue-leader-locator=balanced`: RabbitMQ places each new queue's leader on the
node with the fewest leaders, instead of the node the declaring client happens to be connected to. Queues declared
before that argument existed keep their own arguments (RabbitMQ refuses a re-declaration that differs); for them,
an operator policy `queue-leader-locator: balanced` does the same, and the per-process order of the cluster's URLs
(shared.bus.publisher.failover_order) spreads the declaring clients.
"""
from __future__ import annotations

import logging

import amqp
from kombu import Exchange, Queue, binding

from shared.config import Settings

log = logging.getLogger(__name__)

DELIVERY_LIMIT = 20  # RabbitMQ 4 drops after 20 redeliveries unless dead-lettered; we dead-letter explicitly
LEADER_LOCATOR = "x-queue-leader-locator"


def event_exchange(settings: Settings) -> Exchange:
    return Exchange(settings.exchange, type="topic", durable=True)


def _quorum_args(**extra) -> dict:
    return {"x-queue-type": "quorum", LEADER_LOCATOR: "balanced", **extra}


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


def without_leader_locator(queue: Queue) -> Queue:
    """The same queue as declared before the leader locator argument was added."""
    args = {k: v for k, v in (queue.queue_arguments or {}).items() if k != LEADER_LOCATOR}
    return Queue(queue.name, exchange=queue.exchange, routing_key=queue.routing_key, bindings=queue.bindings,
                 durable=queue.durable, auto_delete=queue.auto_delete, queue_arguments=args)


def _declare_queue(channel, queue: Queue) -> Queue:
    """Declare `queue`; an existing queue declared without the leader locator is declared with its own arguments.

    The attempt with the locator runs on a spare channel, since RabbitMQ closes the channel of a refused
    declaration. Returns the queue (bound to `channel`) whose arguments match the broker's, so that a consumer
    re-declaring it is not refused either.
    """
    probe = channel.connection.channel()
    try:
        queue(probe).declare()
        return queue(channel)
    except amqp.exceptions.PreconditionFailed as exc:
        if LEADER_LOCATOR not in str(exc):
            raise
        legacy = without_leader_locator(queue)(channel)
        legacy.declare()
        log.info("queue predates the balanced leader locator; a policy can set it",
                 extra={"queue": queue.name, "policy": "queue-leader-locator=balanced"})
        return legacy
    finally:
        try:
            probe.close()
        except Exception:  # noqa: BLE001 - already closed by the broker's refusal
            pass


def declare(settings: Settings, channel, routing_keys) -> Queue:
    """Declare the exchange and this service's queues on `channel`; return the main queue bound to it."""
    event_exchange(settings)(channel).declare()
    _declare_queue(channel, dead_letter_queue(settings))
    for q in retry_queues(settings):
        _declare_queue(channel, q)
    return _declare_queue(channel, main_queue(settings, routing_keys))
