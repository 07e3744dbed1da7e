"""The outbox relay: claims pending rows, publishes them with confirms, marks them sent in the same transaction."""
from __future__ import annotations

import logging
import threading
import time

from sqlalchemy.orm import Session, sessionmaker

from shared import metrics, tracing
from shared.bus.publisher import CONFIRM_TIMEOUT, NACKED, LazyPublisher, Outgoing
from shared.bus.safe import describe, stack
from shared.config import Settings
from shared.outbox import Outbox

log = logging.getLogger(__name__)


class BrokerUnavailable(Exception):
    """The broker could not be reached or did not confirm in time; the rows stay due."""


class Wakeup:
    """What wakes a worker's relays: `set()` wakes ONE waiting relay and is used up by it (a threading.Event woke
    every relay, and all but one then claimed rows the first already held — SKIP LOCKED — and found none); a signal
    given while none waits is kept for the next. `wake_all()` is for stopping."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._signalled = False

    def set(self) -> None:
        with self._cond:
            self._signalled = True
            self._cond.notify()

    def wake_all(self) -> None:
        with self._cond:
            self._signalled = True
            self._cond.notify_all()

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` for a signal; take it (True) or time out (False)."""
        with self._cond:
            if not self._signalled:
                self._cond.wait(timeout)
            taken, self._signalled = self._signalled, False
            return taken


class OutboxRelay:
    """Publishes one service's outbox. Safe to run several at once on PostgreSQL (SKIP LOCKED)."""

    def __init__(self, settings: Settings, session_factory: sessionmaker[Session], outbox: Outbox, *,
                 wake: Wakeup | None = None, listens: bool = True):
        """`wake` may be shared by several relays of one process (one of them `listens` for the NOTIFY)."""
        self.settings = settings
        self.session_factory = session_factory
        self.outbox = outbox
        self.wake = wake or Wakeup()
        self.listens = listens
        self._publisher = LazyPublisher(settings)

    def close(self) -> None:
        self._publisher.close()

    def run_once(self) -> int:
        """Publish one batch of due rows; return how many were confirmed.

        A message the broker refuses (returned as unroutable, or nacked) backs off on its own row and stays
        visible to operators. A broker that cannot be reached, or that does not confirm in time, is not the
        rows' fault: they stay due, untouched, and BrokerUnavailable tells the loop to back off as a whole —
        so after an outage of any length the backlog goes out as soon as the broker is back.
        """
        unavailable = None
        service = self.settings.service
        with self.session_factory() as session, session.begin():
            rows = self.outbox.claim(session, self.settings.relay_batch_size)
            if not rows:
                return 0
            started = time.perf_counter()
            sends = tracing.SendSpans(service, self.settings.exchange)
            outgoing = []
            for r in rows:
                traceparent = sends.start(r.message_id, r.routing_key, r.body, r.correlation_id)
                outgoing.append(Outgoing(message_id=r.message_id, routing_key=r.routing_key, body=r.body,
                                         exchange=self.settings.exchange, correlation_id=r.correlation_id,
                                         event_type=r.event_type,
                                         headers={"traceparent": traceparent} if traceparent else {}))
            try:
                publisher = self._publisher.get()
                results = publisher.publish(outgoing)
            except Exception as exc:  # noqa: BLE001 - connection refused, lost, closed by the broker…
                sends.finish({})
                self.close()
                metrics.relay_failed(service, "unavailable")
                raise BrokerUnavailable(describe(exc)) from exc
            sends.finish(results)
            ok, ok_types, refused = [], [], []
            for r in rows:
                error = results.get(r.message_id, "no confirm")
                if error is None:
                    ok.append(r.seq)
                    ok_types.append(r.event_type)
                elif error == CONFIRM_TIMEOUT:
                    unavailable = f"{CONFIRM_TIMEOUT} after {self.settings.confirm_timeout}s"
                else:
                    refused.append((r, error))
            self.outbox.mark_published(session, ok)
            seconds = time.perf_counter() - started
            if refused:
                metrics.relay_failed(service, "refused", len(refused))
                self.outbox.mark_failed(session, refused)
                log.warning("relay: events refused by the broker", extra={"refused": len(refused),
                                                                         "reason": refused[0][1]})
        metrics.relay_published(service, ok_types, seconds)  # committed: the rows are marked sent
        if any(error == NACKED for _, error in refused):
            # Seen in test-cluster (2026-12-03): after a node was killed every publish of one relay was nacked
            # for minutes while every queue was running with a live leader and the other relays' publishes went
            # through — the refusing state was, it seems, the channel's (it had published to the old leaders). The
            # rows back off as before, and the next attempt publishes on a fresh connection and channel.
            self.close()
        if unavailable:
            self.close()
            metrics.relay_failed(service, "unavailable")
            raise BrokerUnavailable(unavailable)
        return len(ok)

    def run(self, stop: threading.Event) -> None:
        """Loop until `stop` is set: drain the outbox, then wait for a wake-up or the poll interval."""
        log.info("outbox relay started")
        if self.listens and not self.settings.is_sqlite:
            threading.Thread(target=self.listen, args=(stop,), name="outbox-listener", daemon=True).start()
        backoff = 0.5
        while not stop.is_set():
            try:
                published = self.run_once()
                backoff = 0.5
            except BrokerUnavailable as exc:
                log.warning("relay: broker unavailable; backing off", extra={"error": str(exc)[:300], "wait": backoff})
                stop.wait(backoff)
                backoff = min(backoff * 2, 10)
                continue
            except Exception as exc:  # noqa: BLE001 - the database may be briefly away; retry after a pause
                log.error("relay iteration failed", extra={"error": describe(exc), "where": stack(exc)})
                self.close()
                stop.wait(2.0)
                continue
            if published < self.settings.relay_batch_size:
                # A batch that was not full left nothing due behind it (issue 16: claiming again at once found
                # nothing, a transaction per relay activation): rows committed since come with their own wake-up —
                # the NOTIFY or the consumer's on-commit — which is kept until a relay waits for it.
                self.wake.wait(self.settings.relay_poll_seconds)  # a signal, used up, or the poll interval
        self.close()
        log.info("outbox relay stopped")

    def listen(self, stop: threading.Event) -> None:
        """On PostgreSQL, LISTEN for the outbox's NOTIFY (sent at commit by any process) and wake the relay."""
        import psycopg
        from sqlalchemy.engine import make_url

        url = make_url(self.settings.database_url)
        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f'LISTEN "{self.outbox.channel}"')
                    self.wake.set()  # rows may have been committed while we were not listening
                    while not stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self.wake.set()
            except Exception as exc:  # noqa: BLE001 - the relay still polls; retry listening after a pause
                log.warning("outbox listener lost its connection", extra={"error": describe(exc)})
                stop.wait(2.0)

