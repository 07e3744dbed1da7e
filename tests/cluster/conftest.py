"""A private 3-node RabbitMQ cluster and a private PostgreSQL server on this machine, for `make test-cluster`.

Nodes rabbit-t1..t3@localhost on AMQP ports 5701-5703 (distribution 25701-25703, no management plugin), each with
its own data and log folders and one Erlang cookie under a temporary folder; PostgreSQL on 5460 (initdb + pg_ctl as
user postgres into the same folder). The machine's own broker (5672) and database (5432) are never touched.
Everything is stopped and removed at the end, also when a test fails.

Collected only with CLUSTER_TEST=1 (set by `make test-cluster`): `make test` does not start a cluster.
"""
from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.helpers import wait_until

if os.environ.get("CLUSTER_TEST") != "1":
    collect_ignore_glob = ["test_*.py"]

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")  # the server itself: Debian's launcher does not forward signals
PG_BIN = Path("/usr/lib/postgresql") / (sorted(os.listdir("/usr/lib/postgresql"))[-1] if Path(
    "/usr/lib/postgresql").is_dir() else "15") / "bin"
NODES = {f"rabbit-t{i}@localhost": 5700 + i for i in (1, 2, 3)}
PG_PORT = 5460
COOKIE = "THOIBINHCLUSTERTESTCOOKIE"


def log(msg: str) -> None:
    print(f"[cluster {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class RabbitCluster:
    def __init__(self, base: Path):
        self.base = base
        self.home = base / "home"
        self.home.mkdir(parents=True)
        cookie = self.home / ".erlang.cookie"
        cookie.write_text(COOKIE)
        cookie.chmod(0o400)
        (base / "enabled_plugins").write_text("[].\n")
        (base / "rabbitmq-env.conf").write_text("")
        # partitions after a freeze heal on their own; a short tick finds a frozen node in ~15 s
        (base / "advanced.config").write_text("[{kernel, [{net_ticktime, 15}]}].\n")
        self.procs: dict[str, subprocess.Popen] = {}
        self.frozen: set[str] = set()

    def env(self, node: str) -> dict:
        port = NODES[node]
        short = node.split("@")[0]
        conf = self.base / f"{short}.conf"
        conf.write_text(f"listeners.tcp.default = 127.0.0.1:{port}\ncluster_partition_handling = autoheal\n"
                        "loopback_users.guest = true\n")
        return {**{k: v for k, v in os.environ.items() if not k.startswith("RABBITMQ_")},
                "HOME": str(self.home), "RABBITMQ_NODENAME": node, "RABBITMQ_NODE_PORT": str(port),
                "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1", "RABBITMQ_DIST_PORT": str(port + 20000),
                "RABBITMQ_CONFIG_FILE": str(conf), "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.base / "advanced.config"),
                "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
                "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"), "RABBITMQ_LOG_BASE": str(self.base / "log"),
                "RABBITMQ_PID_FILE": str(self.base / f"{short}.pid"), "RABBITMQ_LOGS": "-",
                "ERL_EPMD_ADDRESS": "127.0.0.1"}

    @property
    def url(self) -> str:
        return ";".join(f"amqp://guest:guest@127.0.0.1:{p}//" for p in NODES.values())

    def start(self, node: str) -> None:
        out = open(self.base / f"{node.split('@')[0]}.out", "ab")
        self.procs[node] = subprocess.Popen([str(RABBIT_BIN / "rabbitmq-server")], env=self.env(node), stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def ctl(self, node: str, *args: str, timeout: float = 60, check: bool = True) -> str:
        run = subprocess.run([str(RABBIT_BIN / "rabbitmqctl"), "-n", node, *args], env=self.env(node),
                             capture_output=True, text=True, timeout=timeout)
        if check and run.returncode != 0:
            raise RuntimeError(f"rabbitmqctl -n {node} {' '.join(args)}: {run.stdout[-500:]} {run.stderr[-500:]}")
        return run.stdout

    def await_startup(self, node: str, timeout: float = 90) -> None:
        def started():
            run = subprocess.run([str(RABBIT_BIN / "rabbitmqctl"), "-n", node, "await_startup", "--timeout", "30"],
                                 env=self.env(node), capture_output=True, timeout=45)
            return run.returncode == 0
        wait_until(started, timeout=timeout, interval=1, what=f"{node} running")

    def up(self) -> None:
        for node in NODES:
            self.start(node)
        for node in NODES:
            self.await_startup(node)
        first = next(iter(NODES))
        for node in list(NODES)[1:]:
            self.ctl(node, "stop_app")
            self.ctl(node, "join_cluster", first)
            self.ctl(node, "start_app")
        running = json.loads(self.ctl(first, "cluster_status", "--formatter", "json"))["running_nodes"]
        assert sorted(running) == sorted(NODES), running

    def kill(self, node: str) -> None:
        proc = self.procs.pop(node)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def freeze(self, node: str) -> None:
        os.killpg(self.procs[node].pid, signal.SIGSTOP)
        self.frozen.add(node)

    def thaw(self, node: str) -> None:
        os.killpg(self.procs[node].pid, signal.SIGCONT)
        self.frozen.discard(node)

    def running_nodes(self, via: str) -> list[str]:
        try:
            return json.loads(self.ctl(via, "cluster_status", "--formatter", "json", timeout=20))["running_nodes"]
        except Exception:  # noqa: BLE001 - node busy healing
            return []

    def leaders(self, via: str, prefix: str) -> dict[str, str]:
        """Queue name → leader node, for the quorum queues whose names start with `prefix`."""
        rows = json.loads(self.ctl(via, "list_queues", "name", "leader", "--formatter", "json", "-q", timeout=30))
        return {r["name"]: r.get("leader") for r in rows if r["name"].startswith(prefix)}

    def depths(self, via: str, prefix: str) -> dict[str, int]:
        rows = json.loads(self.ctl(via, "list_queues", "name", "messages", "--formatter", "json", "-q", timeout=30))
        return {r["name"]: r["messages"] for r in rows if r["name"].startswith(prefix)}

    def down(self) -> None:
        for node, proc in list(self.procs.items()):
            try:
                os.killpg(proc.pid, signal.SIGCONT)
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        self.procs.clear()
        for node in NODES:  # forget the nodes in the shared epmd (the machine's broker keeps its own entry)
            pass


class PrivatePostgres:
    def __init__(self, base: Path):
        self.dir = base / "pgdata"
        self.sock = base / "pgsock"
        self.log = base / "pg.log"
        pg = pwd.getpwnam("postgres")
        for path in (self.dir, self.sock):
            path.mkdir(parents=True)
            os.chown(path, pg.pw_uid, pg.pw_gid)
        for path in (base, base.parent):
            path.chmod(0o755)  # postgres must reach its folders
        self.log.touch()
        os.chown(self.log, pg.pw_uid, pg.pw_gid)
        self.user = [] if os.geteuid() == pg.pw_uid else ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 120) -> None:
        run = subprocess.run([*self.user, *args], timeout=timeout, capture_output=True, text=True, cwd="/")
        if run.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {run.stdout[-800:]} {run.stderr[-800:]}")

    def init(self) -> None:
        self._run(str(PG_BIN / "initdb"), "-D", str(self.dir), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        self.start()

    def start(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.dir), "-l", str(self.log), "-w", "-t", "60", "-o",
                  f"-p {PG_PORT} -k {self.sock} -c listen_addresses=127.0.0.1 -c max_connections=200", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.dir), "-m", mode, "-w", "-t", "60", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{PG_PORT}/{database}"

    def create(self, database: str) -> str:
        import sqlalchemy as sa
        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
        engine.dispose()
        return self.url(database)

    def down(self) -> None:
        try:
            self.stop("immediate")
        except Exception:  # noqa: BLE001 - not running
            pass


def _port_free(port: int) -> bool:
    import socket
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture(scope="session")
def workdir():
    path = Path(tempfile.mkdtemp(prefix="cluster-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def rabbit_cluster(workdir):
    taken = [p for p in [*NODES.values(), *(p + 20000 for p in NODES.values())] if not _port_free(p)]
    if taken:
        pytest.fail(f"ports {taken} are taken: another cluster test running, or a leftover? (nothing was started)")
    cluster = RabbitCluster(workdir / "rabbit")
    started = time.monotonic()
    try:
        cluster.up()
        log(f"3-node RabbitMQ cluster up in {time.monotonic() - started:.0f}s: {', '.join(NODES)}")
        yield cluster
    finally:
        cluster.down()


@pytest.fixture(scope="session")
def private_pg(workdir):
    if not _port_free(PG_PORT):
        pytest.fail(f"port {PG_PORT} is taken (nothing was started)")
    pg = PrivatePostgres(workdir / "pg")
    try:
        pg.init()
        log(f"private PostgreSQL up on {PG_PORT}")
        yield pg
    finally:
        pg.down()
