"""Publishing with publisher confirms: a batch is sent, then every confirm is awaited with a deadline.

kombu's `confirm_publish` waits for each message in turn; sending a batch and then draining the broker's
acks keeps the same guarantee at a fraction of the round trips. Every message is `mandatory`: an unroutable
one comes back (basic.return) and counts as failed, so it stays in the outbox instead of vanishing.

A cluster is given as `;`-separated URLs. Each process tries them in its own (shuffled) order, so connections and
the quorum leaders declared through them spread over the nodes instead of all landing on the first one. Every
wait on the broker has a bound — connecting (handshake included), writing, confirms and closing — so a node that
is frozen rather than dead only costs the time-outs before the next node is tried.
"""
from __future__ import annotations

import os
import random
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import amqp
from amqp import spec
from kombu import Connection

from shared.config import Settings


CONFIRM_TIMEOUT = "confirm timeout"
NACKED = "nacked by broker"  # a negative confirm: the broker would not take the message on
CONNECT_TIMEOUT = 5.0  # TCP connect and the AMQP handshake: a frozen node accepts the TCP connection, then is silent
WRITE_TIMEOUT = 10.0  # a frozen node stops reading: a full socket buffer would block a write forever
CLOSE_TIMEOUT = 2.0  # waiting for close-ok from a node that may never answer
RPC_TIMEOUT = 10.0  # waiting for the answer to a declare, qos, consume or channel open

_ORDER: dict[tuple[int, str], str] = {}


def failover_order(amqp_url: str) -> str:
    """Return `amqp_url` with its `;`-separated URLs in this process's order (shuffled once per process).

    kombu always connects to the first URL first and fails over round-robin from there: with every process
    keeping the operator's order, every connection (and every quorum leader placed "client-local") would sit
    on the first node.
    """
    urls = [u.strip() for u in amqp_url.split(";") if u.strip()]
    if len(urls) < 2:
        return amqp_url
    key = (os.getpid(), amqp_url)  # a forked child shuffles again
    if key not in _ORDER:
        random.SystemRandom().shuffle(urls)
        _ORDER[key] = ";".join(urls)
    return _ORDER[key]


def connect(settings: Settings, **kwargs) -> Connection:
    """Open a broker connection with a bounded retry policy (kombu retries forever by default).

    Tries every URL of a cluster at least once (round-robin from this process's first), each with a bounded
    handshake, so a dead or frozen node is passed over.
    """
    url = failover_order(settings.amqp_url)
    retries = max(3, 2 * len(url.split(";")))
    conn = Connection(url, heartbeat=kwargs.pop("heartbeat", 30), connect_timeout=CONNECT_TIMEOUT,
                      transport_options={"write_timeout": WRITE_TIMEOUT, **kwargs.pop("transport_options", {})},
                      **kwargs)
    try:
        conn.ensure_connection(max_retries=retries, interval_start=0.5, interval_step=1, interval_max=3)
    except BaseException:
        close_bounded(conn)
        raise
    return conn


def _socket(conn: Connection | None):
    transport = getattr(getattr(conn, "_connection", None), "_transport", None)
    return getattr(transport, "sock", None)


class BrokerSilent(ConnectionError):
    """The broker did not answer a synchronous request in time (a frozen node): the connection is given up."""


@contextmanager
def bounded_rpc(conn: Connection, timeout: float = RPC_TIMEOUT):
    """Bound the synchronous requests made inside (py-amqp waits for their answer with no time-out).

    A time-out leaves the connection's frame reader in an unknown state, so it is raised as BrokerSilent (a
    connection error): the caller closes the connection and fails over.
    """
    sock = _socket(conn)
    if sock is None:
        yield
        return
    prev = sock.gettimeout()
    sock.settimeout(timeout)
    try:
        yield
    except socket.timeout as exc:
        raise BrokerSilent(f"no answer from the broker within {timeout}s") from exc
    finally:
        if _socket(conn) is sock:
            try:
                sock.settimeout(prev)
            except OSError:
                pass


def close_bounded(conn: Connection | None, timeout: float = CLOSE_TIMEOUT) -> None:
    """Close a broker connection without waiting more than about `timeout` per step for the broker's answer.

    py-amqp's close sends Close and then waits for close-ok with no time-out: on a frozen node that is for as
    long as the node is frozen. A time-out on the socket bounds each wait; whatever is left is abandoned
    (socket shut down and closed, no further handshake). The broker returns unacked deliveries when it sees
    the socket go.
    """
    if conn is None:
        return
    sock = _socket(conn)
    if sock is not None:
        try:
            sock.settimeout(timeout)
        except OSError:
            pass
    try:
        conn.release()
    except Exception:  # noqa: BLE001 - closing a dead or silent connection fails; we abandon it below
        pass
    finally:
        try:
            conn.collect()
        except Exception:  # noqa: BLE001 - already gone
            pass


class PublishError(Exception):
    """The broker did not confirm a publish (nack, return, timeout or lost connection)."""


@dataclass
class Outgoing:
    message_id: str
    routing_key: str
    body: bytes | str
    exchange: str = ""
    correlation_id: str | None = None
    event_type: str | None = None
    headers: dict = field(default_factory=dict)


class ConfirmingPublisher:
    """One confirm-mode channel on a connection the caller owns (one per thread: channels are not thread-safe)."""

    def __init__(self, connection: Connection, confirm_timeout: float = 10.0):
        self.connection = connection
        self.confirm_timeout = confirm_timeout
        self.channel = connection.channel()
        self.channel.confirm_select()
        self.channel.events["basic_ack"].add(self._on_ack)
        self.channel.events["basic_nack"].add(self._on_nack)
        self.channel.events["basic_return"].add(self._on_return)
        self._next_tag = 1
        self._pending: dict[int, str] = {}
        self._results: dict[str, str | None] = {}
        self._returned: dict[str, str] = {}

    def _settle(self, tag: int, multiple: bool, error: str | None) -> None:
        tags = [t for t in self._pending if t <= tag] if multiple else [tag]
        for t in tags:
            mid = self._pending.pop(t, None)
            if mid is not None:
                self._results[mid] = self._returned.pop(mid, None) or error

    def _on_ack(self, delivery_tag, multiple):
        self._settle(delivery_tag, multiple, None)

    def _on_nack(self, delivery_tag, multiple):
        self._settle(delivery_tag, multiple, NACKED)

    def _on_return(self, exc, exchange, routing_key, message):
        # py-amqp calls basic_return handlers with the channel error it built from reply code and text.
        mid = message.properties.get("message_id")
        if mid:
            code, text = getattr(exc, "reply_code", "?"), getattr(exc, "reply_text", str(exc))
            self._returned[mid] = f"returned {code} {text}: no queue bound for {routing_key!r}"

    def publish(self, messages: list[Outgoing]) -> dict[str, str | None]:
        """Publish `messages`; return message_id → None when confirmed, or the reason it was not."""
        self._results = {}
        self._returned = {}
        with _coalesced_writes(self.channel.connection.transport):
            for m in messages:
                props = dict(message_id=m.message_id, content_type="application/json", content_encoding="utf-8",
                             delivery_mode=2, application_headers=m.headers or None)
                if m.correlation_id:
                    props["correlation_id"] = m.correlation_id
                if m.event_type:
                    props["type"] = m.event_type
                body = m.body.encode("utf-8") if isinstance(m.body, str) else m.body
                self._pending[self._next_tag] = m.message_id
                self._next_tag += 1
                # basic.publish as channel.basic_publish sends it, without the non-blocking read py-amqp makes
                # before every message (a check for connection.blocked): the confirms below read once per batch.
                self.channel.send_method(spec.Basic.Publish, "Bssbb", (0, m.exchange, m.routing_key, True, False),
                                         amqp.Message(body, **props))
        deadline = time.monotonic() + self.confirm_timeout
        while self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                self.connection.drain_events(timeout=remaining)
            except socket.timeout:
                break
        for mid in list(self._pending.values()):
            self._results[mid] = CONFIRM_TIMEOUT
        self._pending.clear()
        return self._results

    def publish_one(self, message: Outgoing) -> None:
        """Publish one message and raise PublishError unless the broker confirmed it."""
        error = self.publish([message]).get(message.message_id, "no confirm")
        if error:
            raise PublishError(error)


COALESCE_BYTES = 256 * 1024  # written to the socket in pieces of about this size


@contextmanager
def _coalesced_writes(transport):
    """Gather the frames written inside into few socket writes (py-amqp makes one sendall per message: a
    system call each, the relay's largest cost when it publishes thousands per second). Order is kept; whatever is
    gathered is written when it reaches COALESCE_BYTES and on leaving. On an error nothing more is written —
    messages not sent are never confirmed, so their outbox rows stay due."""
    real = getattr(transport, "_write", None)
    if real is None:  # another transport: write as it does
        yield
        return
    chunks: list[bytes] = []
    size = 0

    def flush() -> None:
        nonlocal size
        if chunks:
            data = b"".join(chunks)
            chunks.clear()
            size = 0
            real(data)

    def gather(data) -> None:
        nonlocal size
        chunks.append(bytes(data))  # py-amqp hands a view of a buffer it reuses for the next frame
        size += len(data)
        if size >= COALESCE_BYTES:
            flush()

    transport._write = gather
    try:
        yield
        flush()
    finally:
        transport._write = real


class LazyPublisher:
    """A ConfirmingPublisher on its own connection, opened on first use and dropped after a failure."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._conn: Connection | None = None
        self._publisher: ConfirmingPublisher | None = None

    def get(self) -> ConfirmingPublisher:
        if self._publisher is None:
            self._conn = connect(self.settings)
            try:
                with bounded_rpc(self._conn):
                    self._publisher = ConfirmingPublisher(self._conn, self.settings.confirm_timeout)
            except BaseException:
                self.close()
                raise
        return self._publisher

    def close(self) -> None:
        conn, self._conn, self._publisher = self._conn, None, None
        close_bounded(conn)
