"""The worker process of a service: the inbox consumer in the main thread, the outbox relay in a second one."""
from __future__ import annotations

import logging
import threading

import sqlalchemy as sa

from shared.bus.consumer import EventConsumer, Handler
from shared.bus.relay import OutboxRelay
from shared.config import Settings
from shared.db import make_engine, make_session_factory
from shared.logs import configure_logging
from shared.outbox import Outbox

log = logging.getLogger(__name__)


def run_worker(settings: Settings, handlers: dict[str, Handler], outbox: Outbox, inbox: sa.Table) -> int:
    """Consume and relay until SIGTERM/SIGINT; finish the batch in hand, then exit 0."""
    configure_logging(settings.service, settings.log_level)
    engine = make_engine(settings.database_url)
    session_factory = make_session_factory(engine)
    relay = OutboxRelay(settings, session_factory, outbox)
    consumer = EventConsumer(settings, session_factory, inbox, handlers, on_commit=relay.wake.set)
    consumer.install_signal_handlers()
    relay_thread = threading.Thread(target=relay.run, args=(consumer.stop,), name="outbox-relay", daemon=True)
    relay_thread.start()
    log.info("worker started", extra={"queue": settings.queue})
    consumer.run()
    relay.wake.set()
    relay_thread.join(timeout=15)
    engine.dispose()
    log.info("worker stopped")
    return 0
