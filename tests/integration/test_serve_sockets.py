"""The web under gunicorn as `python -m shared.serve` runs it (issue 16): every worker listens on a socket of its
own (SO_REUSEPORT), so the kernel spreads connections over the workers instead of the first to wake taking them
all; and a port something already listens on is refused at start, as a single shared socket would have been."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest
import requests

from shared.config import PROJECT_ROOT
from shared.migrate import upgrade
from tests.helpers import wait_until
from tests.integration.test_metrics_scrape import _children, free_port

pytestmark = [pytest.mark.slow]


def _listening_inodes(port: int) -> set[str]:
    """Inodes of the sockets listening on `port` (IPv4 and IPv6)."""
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                out.add(fields[9])
    return out


def _sockets_of(pid: int) -> set[str]:
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(target[8:-1])
    return out


def _serve(tmp_path, port: int, log_name: str) -> tuple[subprocess.Popen, object]:
    db = f"sqlite:///{tmp_path / 'needs.db'}"
    upgrade("needs", db)
    env = {**os.environ, "NEEDS_DATABASE_URL": db, "NEEDS_PORT": str(port), "WEB_WORKERS": "2", "WEB_THREADS": "2",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"), "LOG_LEVEL": "WARNING", "VAR_DIR": str(tmp_path)}
    env.pop("WEB_REUSE_PORT", None)
    log = open(tmp_path / log_name, "wb")
    return subprocess.Popen([sys.executable, "-m", "shared.serve", "needs"], cwd=PROJECT_ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT), log


def _live(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False


def test_each_worker_listens_on_its_own_socket(tmp_path):
    port = free_port()
    proc, log = _serve(tmp_path, port, "web.log")
    try:
        wait_until(lambda: _live(f"http://127.0.0.1:{port}/health/live"), timeout=30, what="gunicorn up")
        workers = wait_until(lambda: (lambda c: c if len(c) == 2 else None)(_children(proc.pid)), timeout=30,
                             what="two workers")
        listening = wait_until(lambda: (lambda s: s if len(s) == 2 else None)(_listening_inodes(port)), timeout=30,
                               what="two listening sockets")
        own = {pid: _sockets_of(pid) & listening for pid in workers}
        assert all(len(s) == 1 for s in own.values()), own  # one listening socket each…
        assert len(set.union(*own.values())) == 2, own  # …not the same one
        assert not _sockets_of(proc.pid) & listening  # the master accepts nothing
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


def test_a_port_already_listened_on_is_refused_at_start(tmp_path):
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # even one that would share it
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc, log = _serve(tmp_path, port, "taken.log")
        try:
            assert proc.wait(timeout=60) != 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
    text = (tmp_path / "taken.log").read_text()
    assert f"needs: 127.0.0.1:{port} is already in use" in text, text
