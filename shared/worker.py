"""The worker process of a service: the inbox consumer in the main thread, the outbox relays (RELAY_THREADS) in
the service's own polling loops (durable jobs kept in its database) in further threads, with two every worker runs:
the access log's retention purge and the console's replays of dead-letter groups (shared/console_replay.py)."""
from __future__ import annotations

import logging
import threading
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from shared import metrics, tracing
from shared.bus.consumer import EventConsumer, Handler
from shared.bus.relay import OutboxRelay, Wakeup
from shared.bus.safe import describe, stack
from shared.config import Settings, env
from shared.db import make_engine, make_session_factory
from shared.logs import configure_logging
from shared.outbox import Outbox

log = logging.getLogger(__name__)

# A polling loop's round: run what is due (each piece in its own transaction), return how much ran; the event is
# the worker's stop signal, for rounds long enough to want to stop between pieces.
Tick = Callable[[sessionmaker[Session], threading.Event], int]


def metrics_port(settings: Settings) -> int | None:
    """<SERVICE>_METRICS_PORT: the worker's Prometheus port (unset or 0: none). Documented ports: needs 9101,
    courses 9102, evaluation 9103, funding 9104 (deploy/prometheus/prometheus.yml scrapes those)."""
    return env(f"{settings.service.upper()}_METRICS_PORT", None, int) or None


def relay_threads(settings: Settings) -> int:
    """RELAY_THREADS (default 2 on PostgreSQL): relays of this worker publishing the outbox side by side, each on its
    own broker connection (SKIP LOCKED gives them different rows), so one's wait for confirms overlaps another's
    work. Always 1 on SQLite, whose single writer would only take turns."""
    return 1 if settings.is_sqlite else max(1, env("RELAY_THREADS", 2, int))


def _poll(name: str, tick: Tick, poll_seconds: float, session_factory: sessionmaker[Session],
          stop: threading.Event, wake: Wakeup | threading.Event, service: str = "") -> None:
    """Run `tick` until stop is set, waiting `poll_seconds` after a round that found nothing to do."""
    metrics.bind_service(service)  # job metrics of this thread carry the service's name
    log.info("loop started", extra={"loop": name})
    while not stop.is_set():
        try:
            ran = tick(session_factory, stop)
        except Exception as exc:  # noqa: BLE001 - e.g. the database restarting: try again next round
            # the exception's kind and where it arose, never its text (it may quote a row's values)
            log.error("loop round failed", extra={"loop": name, "error": describe(exc), "where": stack(exc)})
            ran = 0
        if ran:
            wake.set()  # the round's transactions may have written outbox rows
        else:
            stop.wait(poll_seconds)
    log.info("loop stopped", extra={"loop": name})


def run_worker(settings: Settings, handlers: dict[str, Handler], outbox: Outbox, inbox: sa.Table, *,
               loops: dict[str, tuple[Tick, float]] | None = None) -> int:
    """Consume and relay, and run the service's polling loops ({name: (tick, poll seconds)}), until SIGTERM/SIGINT;
    finish the batch and the job in hand, then exit 0."""
    configure_logging(settings.service, settings.log_level)
    tracing.configure(settings.service)  # off unless the OTEL_* variables ask for traces
    engine = make_engine(settings.database_url)
    tracing.instrument_engine(engine, settings.service)
    session_factory = make_session_factory(engine)
    wake = Wakeup()
    relays = [OutboxRelay(settings, session_factory, outbox, wake=wake, listens=k == 0)
              for k in range(relay_threads(settings))]
    relay = relays[0]
    consumer = EventConsumer(settings, session_factory, inbox, handlers, on_commit=wake.set)
    consumer.install_signal_handlers()
    served = metrics.serve_worker(settings.service, settings.http_host, metrics_port(settings), session_factory,
                                  outbox, lambda: consumer.dead_letter_depth)
    relaying = [threading.Thread(target=r.run, args=(consumer.stop,), daemon=True,
                                       name="outbox-relay" if k == 0 else f"outbox-relay-{k + 1}")
                      for k, r in enumerate(relays)]
    for thread in relaying:
        thread.start()
    # every worker purges its service's access log of entries older than the retention in force (issue 14)
    from shared import access_log
    loops = {**(loops or {}), "access-log-retention": (access_log.purge_tick(outbox.table.metadata),
                                                       env("ACCESS_LOG_PURGE_SECONDS", 3600.0, float))}
    # every worker carries on the console's running replays of dead-letter groups, in batches (issue 15)
    from shared import console_replay
    loops["console-replays"] = (console_replay.replay_tick(settings, inbox.metadata),
                                env("CONSOLE_REPLAY_POLL_SECONDS", 2.0, float))
    loop_threads = [threading.Thread(target=_poll, name=name, daemon=True,
                                     args=(name, tick, poll, session_factory, consumer.stop, relay.wake,
                                           settings.service))
                    for name, (tick, poll) in (loops or {}).items()]
    for thread in loop_threads:
        thread.start()
    log.info("worker started", extra={"queue": settings.queue})
    consumer.run()
    relay.wake.wake_all()
    for thread in loop_threads:
        thread.join(timeout=30)
    for thread in relaying:
        thread.join(timeout=15)
    if served:
        served[0].shutdown()
        served[0].server_close()
    engine.dispose()
    tracing.shutdown()  # flush the spans still queued
    log.info("worker stopped")
    return 0
