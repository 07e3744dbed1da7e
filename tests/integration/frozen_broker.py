"""A TCP proxy in front of the local RabbitMQ that can be frozen: to a client it looks like a SIGSTOPped node.

Frozen, it neither reads nor writes nor accepts; the kernel still completes TCP handshakes into the listen backlog
and keeps established connections open, exactly as for a stopped process. The machine's own broker is never
touched.
"""
from __future__ import annotations

import select
import socket
import threading
from urllib.parse import urlsplit, urlunsplit

from tests.helpers import AMQP_URL


class FreezableBroker:
    def __init__(self, upstream_url: str = AMQP_URL):
        parts = urlsplit(upstream_url.split(";")[0])
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 5672)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        netloc = parts.netloc.rsplit("@", 1)
        self.url = urlunsplit(parts._replace(netloc=f"{netloc[0]}@127.0.0.1:{self.port}" if len(netloc) == 2
                                             else f"127.0.0.1:{self.port}"))
        self.running = threading.Event()  # set: forwarding; clear: frozen
        self.running.set()
        self.closed = threading.Event()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def freeze(self) -> None:
        self.running.clear()

    def thaw(self) -> None:
        self.running.set()

    def _accept(self) -> None:
        while not self.closed.is_set():
            self.running.wait(0.2)
            if not self.running.is_set():
                continue
            try:
                r, _, _ = select.select([self.listener], [], [], 0.2)
                if not r or not self.running.is_set():
                    continue
                client, _ = self.listener.accept()
                server = socket.create_connection(self.upstream, timeout=5)
            except (OSError, ValueError):  # closed under us
                continue
            server.settimeout(None)
            self.sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while not self.closed.is_set():
                if not self.running.is_set():
                    self.running.wait(0.2)
                    continue
                r, _, _ = select.select(list(peers), [], [], 0.2)  # raises ValueError once closed
                if not self.running.is_set():
                    continue
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        return
                    peers[s].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass

    def close(self) -> None:
        self.closed.set()
        self.running.set()
        for s in [self.listener, *self.sockets]:
            try:
                s.close()
            except OSError:
                pass


def pin_order(url: str) -> str:
    """Make this process try the URLs of `url` in the given order (publisher.failover_order shuffles them)."""
    import os

    from shared.bus import publisher
    publisher._ORDER[(os.getpid(), url)] = url
    return url
