"""Container health checks of docker-compose.yml: `python deploy/healthcheck.py web|worker <service>`.

web:    GET /health/ready on the port this container's settings name (<SERVICE>_PORT), so a changed port needs no
        change to the probe; a 503 (database or broker away) exits 1.
worker: the service's queue has a consumer attached (a passive declare with the service's own broker user,
        which needs no permission and changes nothing). A worker that lost the broker and has not yet
        reconnected has none, so the check fails until it is back. With one worker per service, as in
        docker-compose.yml, that consumer is this container's.
Exit 0 healthy, 1 not, with one line saying why.
"""
from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.config import load_settings  # noqa: E402


def web(service: str) -> str:
    settings = load_settings(service)
    url = f"http://127.0.0.1:{settings.http_port}/health/ready"
    with urllib.request.urlopen(url, timeout=6) as answer:  # raises on 503
        return f"{url}: {answer.status}"


def worker(service: str) -> str:
    from kombu import Connection

    settings = load_settings(service)
    with Connection(settings.amqp_url, connect_timeout=3, transport_options={"max_retries": 1}) as conn:
        conn.ensure_connection(max_retries=len(settings.amqp_url.split(";")), interval_start=0, interval_step=0.2,
                               interval_max=0.5, timeout=6)
        channel = conn.channel()
        _, messages, consumers = channel.queue_declare(queue=settings.queue, passive=True)
    if consumers < 1:
        raise RuntimeError(f"no consumer on queue {settings.queue} ({messages} messages waiting)")
    return f"queue {settings.queue}: {consumers} consumer(s), {messages} ready"


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("web", "worker"):
        print("usage: python deploy/healthcheck.py web|worker <service>", file=sys.stderr)
        return 2
    try:
        print((web if argv[0] == "web" else worker)(argv[1]))
    except Exception as exc:  # noqa: BLE001 - any failure is "unhealthy"
        print(f"unhealthy: {exc.__class__.__name__}: {str(exc)[:300]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
