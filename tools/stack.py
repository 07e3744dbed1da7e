"""Run the Procfile's eight processes as local processes: start, wait until ready, kill one, stop all.

`make up` is `python -m tools.stack up`; the demo, the end-to-end tests and the benchmark use the same
Stack, so what they test is what operators run. Each process is started directly (no shell in between),
so its own exit code is what we report after a stop.
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

    def __init__(self, env: dict[str, str], log_dir: Path | None):
        """`log_dir` None: every process writes to this terminal (its JSON lines name the service)."""
        self.env = {**os.environ, **env}
        self.env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{self.env.get('PATH', '')}"
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.log_dir = log_dir
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
        self.commands = procfile_commands()
        self.procs: dict[str, subprocess.Popen] = {}

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
            out = open(self.log_dir / f"{key}.log", "ab") if self.log_dir is not None else None
            # Own session: a Ctrl-C reaches only the supervisor, which then stops each process in order.
            self.procs[key] = subprocess.Popen(shlex.split(self.commands[name]), env=self.env, cwd=PROJECT_ROOT,
                                               stdout=out, stderr=subprocess.STDOUT if out else None,
                                               start_new_session=True)

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

    def exited(self) -> dict[str, int]:
        """Processes that have ended on their own, with their exit codes."""
        return {name: proc.returncode for name, proc in self.procs.items() if proc.poll() is not None}

    def _check_alive(self) -> None:
        for name, code in self.exited().items():
            where = f"; see {self.log_dir / (name + '.log')}" if self.log_dir else ""
            raise RuntimeError(f"{name} exited with {code}{where}")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to one process and wait for it to end."""
        proc = self.procs.pop(name)
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def stop(self, timeout: float = 30) -> dict[str, int]:
        """SIGTERM every process (they finish the message in hand), wait, then SIGKILL stragglers."""
        targets = dict(self.procs)
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
        return codes


def up() -> int:
    """`make up`: start the eight processes, show their logs here, stop them all on Ctrl-C or SIGTERM."""
    from tools.isolation import AMQP_URL

    err = broker_error(AMQP_URL)
    if err:
        print(f"RabbitMQ is not reachable at {AMQP_URL} ({err}); {BROKER_HINT}.", file=sys.stderr)
        return 1
    stop = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: stop.append(signum))
    stack = Stack({}, log_dir=None)
    stack.start()
    print(f"started {', '.join(stack.procs)}; web on ports "
          f"{', '.join(str(stack.port(s)) for s in SERVICES)}; Ctrl-C stops everything", file=sys.stderr, flush=True)
    while not stop and not stack.exited():
        time.sleep(0.2)
    died = stack.exited()
    if died:
        print(f"stopping everything: {died} exited on its own", file=sys.stderr)
    codes = stack.stop()
    print("stopped: " + ", ".join(f"{n} rc={c}" for n, c in codes.items()), file=sys.stderr)
    return 0 if not died and all(c == 0 for c in codes.values()) else 1


def main(argv: list[str]) -> int:
    if argv == ["up"]:
        return up()
    if argv == ["check-broker"]:
        from tools.isolation import AMQP_URL as url
        err = broker_error(url)
        if err:
            print(f"RabbitMQ is not reachable at {url} ({err}); {BROKER_HINT}.", file=sys.stderr)
            return 1
        return 0
    print("usage: python -m tools.stack up | check-broker", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
