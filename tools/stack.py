"""Run the Procfile's eight processes as local processes: start, wait until ready, kill one, stop all.

`make up` is `python -m tools.stack up`; the demo, the end-to-end tests and the benchmark use the same
Stack, so what they test is what operators run. Each process is started directly (no shell in between),
so its own exit code is what we report after a stop.
"""
from __future__ import annotations

import os
import shlex
import signal
import socket
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


class PortBusy(RuntimeError):
    """A port the stack needs is taken by a program that is not ours (the message is one line)."""


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on `host:port` (SO_REUSEADDR as gunicorn binds, so TIME_WAIT does not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct ports the kernel says are free right now (all held open until every one is chosen)."""
    held = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            held.append(s)
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


def free_port_base(count: int, host: str = "127.0.0.1", low: int = 20000, high: int = 32000) -> int:
    """A port N with N … N+count-1 all free, below Linux's ephemeral range (tools that take a port base)."""
    import random
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(low, high - count)
        if all(port_free(base + i, host) for i in range(count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports between {low} and {high}")


def _listening_inodes(port: int) -> set[str] | None:
    """Socket inodes listening on TCP `port` (any address), or None where /proc/net/tcp cannot be read."""
    inodes, readable = set(), False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        readable = True
        for line in lines:
            parts = line.split()
            if len(parts) > 9 and parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(parts[9])
    return inodes if readable else None


def _group_socket_inodes(pgid: int) -> set[str]:
    """Socket inodes held open by the processes of one process group (a gunicorn master and its workers)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            if int(stat[stat.rindex(")") + 2:].split()[2]) != pgid:  # fields after "(comm)": state ppid pgrp
                continue
            for fd in os.listdir(f"/proc/{entry}/fd"):
                link = os.readlink(f"/proc/{entry}/fd/{fd}")
                if link.startswith("socket:["):
                    found.add(link[8:-1])
        except (OSError, ValueError):
            continue
    return found


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

    def web_services(self, names: list[str] | None = None) -> list[str]:
        """The services whose web process is among `names` (all Procfile processes by default)."""
        names = list(self.commands) if names is None else names
        return [svc for svc in SERVICES if f"{svc}-web" in names]

    def busy_ports(self, names: list[str] | None = None, grace: float = 2.0) -> dict[str, int]:
        """The web ports (service → port) of `names` that another program listens on.

        A port still held by a process of ours that was just killed gets `grace` seconds to be released.
        """
        host = self.env.get("HTTP_HOST") or "127.0.0.1"
        wanted = {svc: self.port(svc) for svc in self.web_services(names)}
        deadline = time.monotonic() + grace
        while True:
            busy = {svc: port for svc, port in wanted.items() if not port_free(port, host)}
            if not busy or time.monotonic() >= deadline:
                return busy
            time.sleep(0.1)

    def check_ports(self, names: list[str] | None = None, hint: str = "") -> None:
        """Raise PortBusy (one line) when a web port of `names` is taken, before anything is started."""
        busy = self.busy_ports(names)
        if busy:
            taken = ", ".join(f"{port} ({svc})" for svc, port in busy.items())
            raise PortBusy(f"port{'s' if len(busy) > 1 else ''} {taken} already in use by another program; "
                           + (hint or "stop it or choose other ports (<SERVICE>_PORT)"))

    def answered_by_us(self, service: str) -> bool | None:
        """Whether the program listening on the service's port is our web process (None: cannot tell here)."""
        proc = self.procs.get(f"{service}-web")
        if proc is None or proc.poll() is not None:
            return False
        listening = _listening_inodes(self.port(service))
        if listening is None:
            return None
        return bool(listening & _group_socket_inodes(proc.pid))  # own session: pgid == pid

    def migrate(self) -> None:
        subprocess.run([sys.executable, "-m", "shared.migrate"], env=self.env, check=True, cwd=PROJECT_ROOT,
                       stdout=subprocess.DEVNULL)

    def start(self, names: list[str] | None = None, replica: int = 1, *, port_check: bool = True) -> None:
        """Start the named Procfile processes (all by default), each logging to <log_dir>/<name>.log.

        `replica` > 1 starts another copy of an already running process type (key "<name>.<replica>").
        Refuses (PortBusy, nothing started) when a web port is already taken by another program (unless
        `port_check` is False: a test of what happens when another program takes the port after the check).
        """
        if replica == 1 and port_check:
            self.check_ports(names or list(self.commands))
        for name in names or list(self.commands):
            key = name if replica == 1 else f"{name}.{replica}"
            out = open(self.log_dir / f"{key}.log", "ab") if self.log_dir is not None else None
            # Own session: a Ctrl-C reaches only the supervisor, which then stops each process in order.
            self.procs[key] = subprocess.Popen(shlex.split(self.commands[name]), env=self.env, cwd=PROJECT_ROOT,
                                               stdout=out, stderr=subprocess.STDOUT if out else None,
                                               start_new_session=True)

    def wait_ready(self, timeout: float = 90) -> None:
        """Wait until every started web process answers /health/ready (database and broker reachable).

        An answer counts only while our process is alive and (where /proc tells) is the one listening on the
        port: another program on that port never passes for ours (PortBusy when ours has given up).
        """
        deadline = time.monotonic() + timeout
        pending = set(self.web_services(list(self.procs))) or set(SERVICES)
        foreign: dict[str, int] = {}
        while pending and time.monotonic() < deadline:
            for svc in sorted(pending):
                try:
                    answered = requests.get(self.url(svc) + "/health/ready", timeout=2).status_code == 200
                except requests.RequestException:
                    answered = False
                if answered:
                    ours = self.answered_by_us(svc) if f"{svc}-web" in self.procs else None
                    if ours is False:
                        foreign[svc] = self.port(svc)
                    else:
                        pending.discard(svc)
                        foreign.pop(svc, None)
            self._check_alive(foreign)
            if pending:
                time.sleep(0.3)
        if pending:
            also = f"; {self._foreign_line(foreign)}" if foreign else ""
            raise TimeoutError(f"not ready after {timeout}s: {sorted(pending)} (logs in {self.log_dir}){also}")

    @staticmethod
    def _foreign_line(foreign: dict[str, int]) -> str:
        return "another program answers on port " + ", ".join(f"{p} ({s})" for s, p in foreign.items())

    def exited(self) -> dict[str, int]:
        """Processes that have ended on their own, with their exit codes."""
        return {name: proc.returncode for name, proc in self.procs.items() if proc.poll() is not None}

    def _check_alive(self, foreign: dict[str, int] | None = None) -> None:
        for name, code in self.exited().items():
            where = f"; see {self.log_dir / (name + '.log')}" if self.log_dir else ""
            svc = name.split("-")[0]
            if foreign and svc in foreign and name == f"{svc}-web":
                raise PortBusy(f"{name} exited with {code}: {self._foreign_line({svc: foreign[svc]})}{where}")
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
    try:
        stack.start()
    except PortBusy as exc:
        print(f"make up: {exc}", file=sys.stderr)
        return 1
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


# --- the reverse proxy (deploy/nginx), run with Debian's nginx -------------------------------------------------

NGINX_DIR = PROJECT_ROOT / "deploy" / "nginx"
PROXY_DEFAULTS = {"PROXY_RATE": "30r/s", "PROXY_AUTH_RATE": "10r/s", "PROXY_ACCESS_LOG": "access.log"}


def render_proxy_config(target: Path, listen: dict[str, str], upstream: dict[str, str], **settings: str) -> Path:
    """Write deploy/nginx rendered for `nginx -p target -c nginx.conf` (what the nginx image's envsubst does in
    compose): `listen` and `upstream` map service → "host:port"; `settings` override PROXY_DEFAULTS."""
    import re
    import shutil
    values = {**PROXY_DEFAULTS, **{k: str(v) for k, v in settings.items()}}
    for service in SERVICES:
        values[f"{service.upper()}_PROXY_LISTEN"] = listen[service]
        values[f"{service.upper()}_UPSTREAM"] = upstream[service]
    text = (NGINX_DIR / "templates" / "thoibinh.conf.template").read_text()
    missing = sorted(set(re.findall(r"\$\{(\w+)\}", text)) - set(values))
    if missing:
        raise ValueError(f"no value for {', '.join(missing)}")
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    for sub in ("conf.d", "thoibinh", "tmp"):
        (target / sub).mkdir(parents=True, exist_ok=True)
    (target / "tmp").chmod(0o1777)  # nginx started as root spools bodies as its worker user (nobody)
    (target / "conf.d" / "thoibinh.conf").write_text(text)
    shutil.copy(NGINX_DIR / "locations.conf", target / "thoibinh" / "locations.conf")
    shutil.copy(NGINX_DIR / "nginx.conf", target / "nginx.conf")
    return target / "nginx.conf"


def proxy() -> int:
    """`make proxy`: Debian's nginx in front of the webs of `make up` (PROXY_PORT_BASE, default 8011: needs 8011 …
    funding 8014 → 127.0.0.1:8001-8004) until Ctrl-C."""
    import shutil
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        print("nginx is not installed: `make tools` installs Debian's nginx", file=sys.stderr)
        return 1
    base = int(os.environ.get("PROXY_PORT_BASE", "8011"))
    host = os.environ.get("PROXY_HOST", "127.0.0.1")
    stack = Stack({}, log_dir=None)
    listen = {s: f"{host}:{base + i}" for i, s in enumerate(SERVICES)}
    upstream = {s: f"127.0.0.1:{stack.port(s)}" for s in SERVICES}
    from shared.config import var_dir
    conf = render_proxy_config(var_dir() / "nginx", listen, upstream)
    print("proxy: " + ", ".join(f"{s} http://{listen[s]} → {upstream[s]}" for s in SERVICES), file=sys.stderr,
          flush=True)
    return subprocess.call([nginx, "-p", str(conf.parent), "-c", str(conf), "-e", "stderr"])


def main(argv: list[str]) -> int:
    if argv == ["up"]:
        return up()
    if argv == ["proxy"]:
        return proxy()
    if argv == ["check-broker"]:
        from tools.isolation import AMQP_URL as url
        err = broker_error(url)
        if err:
            print(f"RabbitMQ is not reachable at {url} ({err}); {BROKER_HINT}.", file=sys.stderr)
            return 1
        return 0
    print("usage: python -m tools.stack up | proxy | check-broker", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
