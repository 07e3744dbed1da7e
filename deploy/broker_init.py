"""One RabbitMQ user per service, limited to its own queues and the event exchange; no guest.

Run by the compose job `broker-init` (the app image, `python deploy/broker_init.py`) once the broker answers,
through the management HTTP API with the administrator's credentials. Idempotent: every run sets each user's
password (from <SERVICE>_AMQP_PASSWORD) and permissions again and deletes `guest` if it exists.

Permissions of user <svc> on vhost "/" (regular expressions, see RabbitMQ's access-control guide):
  configure  its queues (<prefix><svc>, <prefix><svc>.dlq, <prefix><svc>.retry.N) and the event exchange
             (declared by every consumer);
  write      its queues (queue.bind) and the event exchange (basic.publish of the relay), and amq.default
             (the default exchange: retries, parking and replays go straight to its own queues; queue.declare
             with a dead-letter exchange "" needs it too);
  read       its queues (consume, get, purge) and the event exchange (queue.bind reads the source exchange).
Another service's queues match none of them: a user cannot consume, purge or bind them.
"""
from __future__ import annotations

import base64
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

SERVICES = ("needs", "courses", "evaluation", "funding")


def permissions(service: str, exchange: str, prefix: str = "") -> dict[str, str]:
    """The configure/write/read regular expressions of one service's user."""
    queues = rf"{re.escape(prefix + service)}(\.dlq|\.retry\.[0-9]+)?"
    ex = re.escape(exchange)
    return {"configure": f"^({queues}|{ex})$", "write": f"^({queues}|{ex}|amq\\.default)$",
            "read": f"^({queues}|{ex})$"}


class Management:
    def __init__(self, base_url: str, user: str, password: str):
        self.base = base_url.rstrip("/")
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def call(self, method: str, path: str, body: dict | None = None) -> int:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Authorization": self.auth, "content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as answer:
                return answer.status
        except urllib.error.HTTPError as exc:
            if method == "DELETE" and exc.code == 404:
                return 404
            raise RuntimeError(f"{method} {path}: {exc.code} {exc.read()[:300]!r}") from None

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.call("GET", "/api/overview")
                return
            except (OSError, RuntimeError) as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"management API at {self.base} did not answer: {exc}") from None
                time.sleep(1)


def main() -> int:
    env = os.environ
    api = Management(env.get("RABBITMQ_MANAGEMENT_URL", "http://rabbitmq:15672"),
                     env.get("RABBITMQ_ADMIN_USER", "admin"), env["RABBITMQ_ADMIN_PASSWORD"])
    exchange = env.get("EVENT_EXCHANGE") or "training.events"
    prefix = env.get("QUEUE_PREFIX") or ""
    vhost = urllib.parse.quote(env.get("RABBITMQ_VHOST") or "/", safe="")
    api.wait(float(env.get("BROKER_INIT_TIMEOUT", "90")))
    for service in SERVICES:
        password = env.get(f"{service.upper()}_AMQP_PASSWORD")
        if not password:
            print(f"{service.upper()}_AMQP_PASSWORD is not set", file=sys.stderr)
            return 1
        api.call("PUT", f"/api/users/{service}", {"password": password, "tags": ""})
        api.call("PUT", f"/api/permissions/{vhost}/{service}", permissions(service, exchange, prefix))
        print(f"broker user {service}: own queues {prefix}{service}[.dlq|.retry.N] and exchange {exchange}")
    if api.call("DELETE", "/api/users/guest") != 404:
        print("deleted the guest user")
    return 0


if __name__ == "__main__":
    sys.exit(main())
