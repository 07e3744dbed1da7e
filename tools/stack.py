"""Run the Procfile's eight processes as local processes: start, wait until ready, kill one, stop all.

`make up` runs the same Procfile with honcho; the demo, the end-to-end tests and the benchmark use this
module so that they can also kill and restart single processes.
"""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from shared.config import DEFAULT_PORTS, PROJECT_ROOT, SERVICES

PROCFILE = PROJECT_ROOT / "Procfile"
BROKER_HINT = ("start it with `rabbitmq-server -detached` (Debian), `docker compose up -d rabbitmq`, "
               "or point AMQP_URL at a running broker")


def procfile_commands(path: Path = PROCFILE) -> dict[str, str]:
    """Return process name → command line, in Procfile order."""
    out = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, cmd = line.partition(":")
            out[name.strip()] = cmd.strip()
    return out


def broker_error(amqp_url: str) -> str | None:
    """Return None when RabbitMQ answers at `amqp_url`, else a one-line reason."""
    from kombu import Connection
    try:
        with Connection(amqp_url, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0.5)
        return None
    except Exception as exc:  # noqa: BLE001
        return f"{exc.__class__.__name__}: {exc}"


class Stack:
    """The eight processes with one environment (database URLs, ports, exchange, queue prefix)."""

    def __init__(self, env: dict[str, str], log_dir: Path):
        self.env = {**os.environ, **env}
        self.env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{self.env.get('PATH', '')}"
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.commands = procfile_commands()
        self.procs: dict[str, subprocess.Popen] = {}
        self._honcho: subprocess.Popen | None = None

    def port(self, service: str) -> int:
        return int(self.env.get(f"{service.upper()}_PORT") or DEFAULT_PORTS[service])

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.port(service)}"

    def migrate(self) -> None:
        subprocess.run([sys.executable, "-m", "shared.migrate"], env=self.env, check=True, cwd=PROJECT_ROOT,
                       stdout=subprocess.DEVNULL)

    def start(self, names: list[str] | None = None, replica: int = 1) -> None:
        """Start the named Procfile processes (all by default), each logging to <log_dir>/<name>.log.

        `replica` > 1 starts another copy of an already running process type (key "<name>.<replica>").
        """
        for name in names or list(self.commands):
            key = name if replica == 1 else f"{name}.{replica}"
            log = open(self.log_dir / f"{key}.log", "ab")
            self.procs[key] = subprocess.Popen(shlex.split(self.commands[name]), env=self.env, cwd=PROJECT_ROOT,
                                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def start_honcho(self) -> None:
        """Start everything exactly as `make up` does (honcho with the Procfile)."""
        log = open(self.log_dir / "honcho.log", "ab")
        honcho = Path(sys.executable).parent / "honcho"
        self._honcho = subprocess.Popen([str(honcho), "start", "-f", str(PROCFILE)], env=self.env, cwd=PROJECT_ROOT,
                                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 90) -> None:
        """Wait until every web process answers /health/ready (database and broker reachable)."""
        deadline = time.monotonic() + timeout
        pending = set(SERVICES)
        while pending and time.monotonic() < deadline:
            for svc in list(pending):
                try:
                    if requests.get(self.url(svc) + "/health/ready", timeout=2).status_code == 200:
                        pending.discard(svc)
                except requests.RequestException:
                    pass
            self._check_alive()
            if pending:
                time.sleep(0.3)
        if pending:
            raise TimeoutError(f"not ready after {timeout}s: {sorted(pending)} (logs in {self.log_dir})")

    def _check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.log_dir / (name + '.log')}")
        if self._honcho is not None and self._honcho.poll() is not None:
            raise RuntimeError(f"honcho exited with {self._honcho.returncode}; see {self.log_dir / 'honcho.log'}")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to one process and wait for it to end."""
        proc = self.procs.pop(name)
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def stop(self, timeout: float = 30) -> dict[str, int]:
        """SIGTERM every process (they finish the message in hand), wait, then SIGKILL stragglers."""
        targets = dict(self.procs)
        if self._honcho is not None:
            targets["honcho"] = self._honcho
        for proc in targets.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        codes, deadline = {}, time.monotonic() + timeout
        for name, proc in targets.items():
            try:
                codes[name] = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                codes[name] = proc.wait()
        self.procs.clear()
        self._honcho = None
        return codes


def main(argv: list[str]) -> int:
    if argv == ["check-broker"]:
        from tools.isolation import AMQP_URL as url
        err = broker_error(url)
        if err:
            print(f"RabbitMQ is not reachable at {url} ({err}); {BROKER_HINT}.", file=sys.stderr)
            return 1
        return 0
    print("usage: python -m tools.stack check-broker", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
