"""End-to-end fixtures: the Procfile's processes as real local processes, on private ports, databases and queues."""
from __future__ import annotations

import socket

import pytest
import sqlalchemy as sa
from kombu import Connection

from shared.bus import topology
from shared.bus.publisher import ConfirmingPublisher, Outgoing
from shared.config import SERVICES
from tests.oidc import provider  # noqa: F401 (a fixture: the loopback OpenID Connect provider)
from tests.servers import bus, db_url_factory, pg_url_factory  # noqa: F401 (fixtures)
from tests.helpers import AMQP_URL
from tools.dev_oidc import Provider
from tools.stack import Stack


RETRY_DELAYS_MS = (200, 400)  # short delay queues, so a poison message is parked within a second


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def stack_factory(bus, tmp_path):
    """Build a Stack whose services use the private bus namespace, free ports and the given database URLs; with a
    `provider` (tests/oidc.py's loopback OpenID Connect provider) in AUTH_MODE=oidc trusting it, else with the static
    development tokens e2e-api / e2e-admin (which oidc mode refuses)."""
    stacks = []

    def make(db_urls: dict[str, str], provider: Provider | None = None, **env) -> Stack:
        full = {**bus.env(), "API_TOKEN": "e2e-api", "ADMIN_TOKEN": "e2e-admin", "LOG_LEVEL": "INFO",
                "WEB_WORKERS": "1", "VAR_DIR": str(tmp_path / "var"),
                "RETRY_DELAYS_MS": ",".join(map(str, RETRY_DELAYS_MS)),
                **(provider.service_env() if provider else {})}
        for svc in SERVICES:
            full[f"{svc.upper()}_PORT"] = str(free_port())
            if svc in db_urls:
                full[f"{svc.upper()}_DATABASE_URL"] = db_urls[svc]
        full.update(env)
        stack = Stack(full, tmp_path / f"logs{len(stacks)}")
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.stop()


def publish(bus, routing_key: str, messages: list[tuple[str, str]]) -> None:
    """Publish (message id, body) pairs to the namespace's exchange with confirms."""
    with Connection(AMQP_URL) as conn:
        pub = ConfirmingPublisher(conn, confirm_timeout=30)
        results = pub.publish([Outgoing(mid, routing_key, body, exchange=bus.exchange) for mid, body in messages])
    assert not [e for e in results.values() if e], results


def declare_queue(bus, service: str, handlers) -> None:
    """Declare a service's queues up front, so events published before its worker starts are kept."""
    with Connection(AMQP_URL) as conn:
        topology.declare(bus.settings(service, retry_delays_ms=RETRY_DELAYS_MS), conn.channel(), handlers)


def count_by(url: str, sql: str) -> dict:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        out = {row[0]: row[1] for row in conn.execute(sa.text(sql))}
    engine.dispose()
    return out


def scalar(url: str, sql: str):
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        value = conn.execute(sa.text(sql)).scalar()
    engine.dispose()
    return value
