"""docker-compose.yml stays valid and in step with the Procfile, the service ports and the one-database-per-service rule.

Needs the `docker-compose` binary (Debian package, installed by `make tools`) but no Docker engine: `config` only
parses, interpolates and validates.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from shared.config import DEFAULT_PORTS, PROJECT_ROOT, SERVICES
from tools.stack import procfile_commands

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
TOKENS = {"API_TOKEN": "compose-test-api-token", "ADMIN_TOKEN": "compose-test-admin-token"}
INITDB = "/docker-entrypoint-initdb.d"


def _docker_compose() -> str:
    path = shutil.which("docker-compose")
    if path is None:
        pytest.fail("docker-compose is not installed: run `make tools` (installs Debian's docker-compose package)",
                    pytrace=False)
    return path


def _run_config(extra_env: dict[str, str] | None = None, drop: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(extra_env or {})
    return subprocess.run([_docker_compose(), "-f", str(COMPOSE_FILE), "config"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def resolved() -> dict:
    """The compose model as docker-compose resolves it: anchors merged, variables interpolated."""
    result = _run_config(TOKENS)
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    return yaml.safe_load(result.stdout)


@pytest.fixture(scope="module")
def raw() -> dict:
    """docker-compose.yml as written (PyYAML merges `<<` keys; variables stay as ${…})."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _command(service: dict) -> str:
    cmd = service.get("command")
    return " ".join(cmd) if isinstance(cmd, list) else (cmd or "")


def _app_services(model: dict) -> dict[str, dict]:
    """Services built from the project's image (every process of ours, migrate included)."""
    return {name: svc for name, svc in model["services"].items() if "build" in svc}


def test_compose_file_validates_with_docker_compose_config():
    result = _run_config(TOKENS)
    assert result.returncode == 0, f"docker-compose config exited {result.returncode}:\n{result.stderr}"


def test_compose_refuses_to_start_without_api_and_admin_tokens():
    result = _run_config(drop=tuple(TOKENS))
    assert result.returncode != 0
    assert "API_TOKEN" in result.stderr or "ADMIN_TOKEN" in result.stderr


def test_every_procfile_process_is_a_compose_service_with_the_same_command(resolved):
    services = resolved["services"]
    for name, command in procfile_commands().items():
        assert name in services, f"Procfile process {name!r} has no compose service"
        assert _command(services[name]) == command, f"{name}: compose runs {_command(services[name])!r}"


def test_compose_runs_no_web_or_worker_process_the_procfile_lacks(resolved):
    procfile = procfile_commands()
    ours = set(_app_services(resolved)) - {"migrate"}
    named_like_processes = {n for n in resolved["services"] if n.endswith(("-web", "-worker"))}
    assert ours | named_like_processes <= set(procfile), sorted((ours | named_like_processes) - set(procfile))


def test_all_app_services_share_one_image_built_from_deploy_dockerfile(resolved):
    apps = _app_services(resolved)
    assert {Path(s["build"]["dockerfile"]).as_posix() for s in apps.values()} == {"deploy/Dockerfile"}
    assert len({s["image"] for s in apps.values()}) == 1
    assert (PROJECT_ROOT / "deploy" / "Dockerfile").is_file()


def test_migrate_runs_once_after_postgres_and_broker_are_healthy(resolved):
    migrate = resolved["services"]["migrate"]
    assert _command(migrate) == "python -m shared.migrate"
    assert str(migrate.get("restart", "no")) == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate["depends_on"]["rabbitmq"]["condition"] == "service_healthy"


def test_webs_and_workers_wait_for_migrate_and_a_healthy_broker(resolved):
    for name in procfile_commands():
        svc = resolved["services"][name]
        assert svc["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
        assert svc["depends_on"]["rabbitmq"]["condition"] == "service_healthy", name
        assert svc["restart"] == "unless-stopped", name
        env = svc["environment"]
        assert env["HTTP_HOST"] == "0.0.0.0", name
        assert env["AMQP_URL"] == "amqp://guest:guest@rabbitmq:5672//", name
        assert env["API_TOKEN"] == TOKENS["API_TOKEN"] and env["ADMIN_TOKEN"] == TOKENS["ADMIN_TOKEN"], name


def test_web_services_publish_their_port_and_probe_readiness(resolved):
    for service, port in DEFAULT_PORTS.items():
        web = resolved["services"][f"{service}-web"]
        published = {(int(p["published"]), int(p["target"])) if isinstance(p, dict)
                     else tuple(int(x) for x in str(p).split("/")[0].split(":")[-2:]) for p in web["ports"]}
        assert (port, port) in published, f"{service}-web publishes {published}"
        probe = " ".join(web["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/health/ready" in probe and "urllib" in probe, probe


def test_broker_and_database_have_health_checks(resolved):
    rabbit, pg = resolved["services"]["rabbitmq"], resolved["services"]["postgres"]
    assert re.match(r"rabbitmq:3\.(1[0-9])", rabbit["image"]) or rabbit["image"].startswith("rabbitmq:4"), \
        "quorum queues with x-dead-letter-strategy=at-least-once need RabbitMQ >= 3.10"
    assert "management" in rabbit["image"]
    assert " ".join(rabbit["healthcheck"]["test"]).endswith("rabbitmq-diagnostics -q ping")
    assert pg["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])


def _init_scripts(postgres: dict) -> list[Path]:
    for volume in postgres.get("volumes", []):
        source, _, rest = volume.partition(":") if isinstance(volume, str) else (volume["source"], ":", volume["target"])
        target = rest.split(":")[0]
        if target == INITDB:
            path = (PROJECT_ROOT / source).resolve()
            return sorted(path.glob("*.sql")) if path.is_dir() else [path]
    pytest.fail(f"postgres mounts nothing at {INITDB}")


def test_postgres_init_creates_one_database_per_service(raw):
    scripts = _init_scripts(raw["services"]["postgres"])
    assert scripts, "no *.sql init script found"
    sql = "\n".join(p.read_text() for p in scripts)
    sql = re.sub(r"--[^\n]*", "", sql)
    created = re.findall(r'CREATE\s+DATABASE\s+"?(\w+)"?', sql, flags=re.IGNORECASE)
    assert sorted(created) == sorted(SERVICES)


def test_each_service_database_url_points_at_its_own_database(resolved):
    for name, svc in _app_services(resolved).items():
        env = svc["environment"]
        for service in SERVICES:
            url = env.get(f"{service.upper()}_DATABASE_URL")
            if name.startswith(f"{service}-") or name == "migrate":
                assert url is not None, f"{name} lacks {service.upper()}_DATABASE_URL"
            if url is not None:
                assert url.startswith("postgresql+psycopg://") and "@postgres:5432/" in url, url
                assert url.rsplit("/", 1)[1] == service, f"{name}: {service.upper()}_DATABASE_URL is {url}"
