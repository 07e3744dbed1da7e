"""Real third-party servers on loopback for the notification tests: an SMTP server (aiosmtpd) that keeps what it
received, and a scripted HTTP server for the SMS gateway and Zalo ZNS (answers given per request, requests kept)."""
from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Keep:
    def __init__(self, sink: "SmtpSink"):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        code = self.sink.refuse.get(address)
        if code:
            return code
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.sink.answer_data:
            return self.sink.answer_data
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.sink.lock:
            self.sink.messages.append((list(envelope.rcpt_tos), msg))
            count = len(self.sink.messages)
        if self.sink.after_data is not None:
            self.sink.after_data(count)  # e.g. kill the sender now: the message arrived, its 250 never will
        return "250 Message accepted"


class SmtpSink:
    """aiosmtpd on a free loopback port; `messages` = [(recipients, EmailMessage)]. `refuse[address] = "550 …"`
    refuses a recipient; `answer_data = "451 …"` answers every DATA with that."""

    def __init__(self):
        self.messages: list = []
        self.lock = threading.Lock()
        self.refuse: dict[str, str] = {}
        self.answer_data: str | None = None
        self.after_data = None  # called with the number of messages received, before the 250 reply
        self.port = free_port()
        self.controller = Controller(_Keep(self), hostname="127.0.0.1", port=self.port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()

    def to(self, address: str) -> list:
        with self.lock:
            return [m for rcpts, m in self.messages if address in rcpts]


@dataclass
class Scripted:
    """answers: a list of (status, body dict) or "timeout", used in turn; the last one repeats."""

    answers: list = field(default_factory=lambda: [(200, {})])
    requests: list = field(default_factory=list)
    delay: float = 0.0


class HttpProvider:
    """A loopback HTTP server answering POSTs from a script; keeps (path, headers, json body) of each request."""

    def __init__(self, script: Scripted | None = None):
        self.script = script or Scripted()
        script_ref = self.script

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                i = len(script_ref.requests)
                script_ref.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                answer = script_ref.answers[min(i, len(script_ref.answers) - 1)]
                if answer == "timeout":
                    time.sleep(1.5)
                    answer = (200, {"error": 0, "data": {"msg_id": "late"}})
                status, payload = answer
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (its time-out)
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    @property
    def requests(self) -> list:
        return self.script.requests
