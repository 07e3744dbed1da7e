"""Running in isolation: throw-away PostgreSQL databases, private broker namespaces, waiting with a deadline.

Used by the demo, the benchmark and the tests, so that none of them disturbs another or a `make up`.
"""
from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa

from services import get_settings
from shared.config import SERVICES, Settings

PG_ADMIN_URL = os.environ.get("PG_ADMIN_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
AMQP_URL = os.environ.get("AMQP_URL") or "amqp://guest:guest@127.0.0.1:5672//"


def wait_until(check, timeout: float = 30, interval: float = 0.05, what: str = "condition"):
    """Poll `check` until it returns a truthy value or the deadline passes (then fail with `what`)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last value: {last!r})")


def pg_error(url: str | None = None) -> str | None:
    """Return None when the PostgreSQL server answers at `url` (PG_ADMIN_URL), else a one-line reason."""
    engine = sa.create_engine(url or PG_ADMIN_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return None
    except Exception as exc:  # noqa: BLE001
        return f"{exc.__class__.__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    finally:
        engine.dispose()


def create_pg_database(prefix: str = "t", template: str | None = None) -> str:
    """Create an empty PostgreSQL database (or a copy of database `template`, which must have no connections)
    and return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    engine.dispose()
    return sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    """Drop a database made by create_pg_database, closing its connections."""
    name = sa.make_url(url).database
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@dataclass
class BusNamespace:
    """A private exchange and queue prefix, so a run never sees another's (or make up's) messages."""

    exchange: str
    queue_prefix: str
    extra_queues: list[str] = field(default_factory=list)

    def queue(self, name: str) -> str:
        """Name a queue of this namespace that is not a service's (a capture or sink); delete() removes it too."""
        full = f"{self.queue_prefix}{name}"
        self.extra_queues.append(full)
        return full

    def settings(self, service: str, **overrides) -> Settings:
        return get_settings(service, **{"exchange": self.exchange, "queue_prefix": self.queue_prefix,
                                         "amqp_url": AMQP_URL, **overrides})

    def env(self) -> dict[str, str]:
        return {"EVENT_EXCHANGE": self.exchange, "QUEUE_PREFIX": self.queue_prefix, "AMQP_URL": AMQP_URL}

    def delete(self) -> None:
        from kombu import Connection
        with Connection(AMQP_URL) as conn:
            ch = conn.channel()
            for svc in SERVICES:
                s = self.settings(svc)
                for q in [s.queue, s.dead_letter_queue, *(s.retry_queue(i + 1) for i in range(len(s.retry_delays_ms)))]:
                    ch.queue_delete(q)
            for q in self.extra_queues:
                ch.queue_delete(q)
            ch.exchange_delete(self.exchange)


def new_namespace(kind: str = "test") -> BusNamespace:
    """A fresh namespace named `<kind>.<random tag>`."""
    tag = uuid.uuid4().hex[:8]
    return BusNamespace(exchange=f"{kind}.{tag}.events", queue_prefix=f"{kind}.{tag}.")
