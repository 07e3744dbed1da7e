"""The compose files stay valid and in step with the Procfile, the service ports, one database and one role per
service, one broker user per service, and secrets that come only from the environment.

Needs the `docker-compose` binary (Debian package, installed by `make tools`) but no Docker engine: `config` only
parses, interpolates and validates. `make test-compose` (tests/compose/run.py) starts the stack for real.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from shared.config import DEFAULT_PORTS, PROJECT_ROOT, SERVICES
from tools.stack import procfile_commands

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
PORTS_FILE = PROJECT_ROOT / "docker-compose.ports.yml"
BROKER_PORTS_FILE = PROJECT_ROOT / "docker-compose.broker-ports.yml"
HOSTNET_FILE = PROJECT_ROOT / "docker-compose.hostnet.yml"
ENV_EXAMPLE = PROJECT_ROOT / "deploy" / "env.example"
SECRET_NAMES = ("API_TOKEN", "ADMIN_TOKEN", "POSTGRES_PASSWORD", "RABBITMQ_ADMIN_PASSWORD", "RABBITMQ_ERLANG_COOKIE",
                *(f"{s.upper()}_DB_PASSWORD" for s in SERVICES), *(f"{s.upper()}_AMQP_PASSWORD" for s in SERVICES),
                "NEEDS_OIDC_CLIENT_SECRET")
# Distinct values, so that a value found in a container's environment names the secret it is.
SECRETS = {name: f"s3cret-{name.lower().replace('_', '-')}" for name in SECRET_NAMES}
INITDB = "/docker-entrypoint-initdb.d"
ONE_SHOT = {"broker-init", *(f"migrate-{s}" for s in SERVICES)}
# Built from the project's image but no service's process: the development identity provider (profile dev-oidc).
TOOLS = {"oidc"}
# Variables docker-compose may read from the caller's environment or a .env file: kept out of these runs.
COMPOSE_VARS = re.compile(r"^(COMPOSE_|AMQP_NODE_|POSTGRES_|RABBITMQ_|PYTHON_IMAGE|APP_IMAGE|HTTP_HOST|"
                          r"QUEUE_PREFIX|EVENT_EXCHANGE|AUTH_MODE$|OIDC_|NEEDS_|.*_PORT$|.*_PASSWORD$|.*_TOKEN$|.*_SECRET$)")


def _docker_compose() -> str:
    path = shutil.which("docker-compose")
    if path is None:
        pytest.fail("docker-compose is not installed: run `make tools` (installs Debian's docker-compose package)",
                    pytrace=False)
    return path


def _run_config(extra_env: dict[str, str] | None = None, drop: tuple[str, ...] = (),
                files: tuple[Path, ...] = (COMPOSE_FILE, PORTS_FILE), profile: str | None = None,
                ) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in drop and not COMPOSE_VARS.match(k)}
    env.update(extra_env or {})
    for name in drop:
        env.pop(name, None)
    cmd = [_docker_compose()]
    for f in files:
        cmd += ["-f", str(f)]
    # An empty env file: a developer's .env beside the compose file must not change what is tested.
    empty = Path(tempfile.gettempdir()) / "thoibinh-compose-test-empty.env"
    empty.write_text("")
    cmd += ["--env-file", str(empty)]
    if profile:
        cmd += ["--profile", profile]
    return subprocess.run([*cmd, "config"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60)


def _config(**kwargs) -> dict:
    result = _run_config(SECRETS | kwargs.pop("extra_env", {}), **kwargs)
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    return yaml.safe_load(result.stdout)


@pytest.fixture(scope="module")
def resolved() -> dict:
    """The compose model as docker-compose resolves it: anchors merged, variables interpolated."""
    return _config()


@pytest.fixture(scope="module")
def raw() -> dict:
    """docker-compose.yml as written (PyYAML merges `<<` keys; variables stay as ${…})."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _command(service: dict) -> str:
    cmd = service.get("command")
    return " ".join(cmd) if isinstance(cmd, list) else (cmd or "")


def _app_services(model: dict) -> dict[str, dict]:
    """Services built from the project's image (every process of ours, the one-shot jobs included)."""
    return {name: svc for name, svc in model["services"].items() if "build" in svc}


def _service_of(name: str) -> str | None:
    return next((s for s in SERVICES if name.startswith(f"{s}-") or name == f"migrate-{s}"), None)


def _published(service: dict) -> set[tuple[int, int]]:
    return {(int(p["published"]), int(p["target"])) if isinstance(p, dict)
            else tuple(int(x) for x in str(p).split("/")[0].split(":")[-2:]) for p in service.get("ports", [])}


def _load_broker_init():
    spec = importlib.util.spec_from_file_location("broker_init", PROJECT_ROOT / "deploy" / "broker_init.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- validity and the Procfile -------------------------------------------------------------------------------


def test_compose_file_validates_with_docker_compose_config():
    for files in ((COMPOSE_FILE,), (COMPOSE_FILE, PORTS_FILE), (COMPOSE_FILE, PORTS_FILE, BROKER_PORTS_FILE),
                  (COMPOSE_FILE, HOSTNET_FILE)):
        result = _run_config(SECRETS, files=files)
        assert result.returncode == 0, f"{[f.name for f in files]}: exited {result.returncode}:\n{result.stderr}"


def test_compose_refuses_to_start_without_each_secret():
    def without(secret: str) -> tuple[str, subprocess.CompletedProcess]:
        return secret, _run_config({k: v for k, v in SECRETS.items() if k != secret}, drop=(secret,))

    with ThreadPoolExecutor(max_workers=4) as pool:
        for secret, result in pool.map(without, SECRET_NAMES):
            assert result.returncode != 0, f"compose starts without {secret}"
            assert secret in result.stderr, result.stderr


def test_no_secret_has_a_default_in_any_compose_file():
    for path in (COMPOSE_FILE, PORTS_FILE, BROKER_PORTS_FILE, HOSTNET_FILE):
        text = path.read_text()
        for name in SECRET_NAMES:
            assert not re.search(rf"\$\{{{name}:?-", text), f"{path.name} gives {name} a default"
        assert "guest" not in re.sub(r"#[^\n]*", "", text), f"{path.name} mentions guest outside a comment"


def test_env_example_lists_every_variable_the_compose_file_requires():
    required = set(re.findall(r"\$\{(\w+):\?", COMPOSE_FILE.read_text()))
    assert required == set(SECRET_NAMES)
    listed = set(re.findall(r"^#?\s*(\w+)=", ENV_EXAMPLE.read_text(), flags=re.MULTILINE))
    assert required <= listed, sorted(required - listed)
    for line in ENV_EXAMPLE.read_text().splitlines():
        name, _, value = line.partition("=")
        if name in required:
            assert value == "CHANGE-ME", f"env.example ships a value for {name}"


def test_every_procfile_process_is_a_compose_service_with_the_same_command(resolved):
    services = resolved["services"]
    for name, command in procfile_commands().items():
        assert name in services, f"Procfile process {name!r} has no compose service"
        assert _command(services[name]) == command, f"{name}: compose runs {_command(services[name])!r}"


def test_compose_runs_no_web_or_worker_process_the_procfile_lacks(resolved):
    procfile = procfile_commands()
    ours = set(_app_services(resolved)) - ONE_SHOT - TOOLS
    named_like_processes = {n for n in resolved["services"] if n.endswith(("-web", "-worker"))}
    assert ours | named_like_processes <= set(procfile), sorted((ours | named_like_processes) - set(procfile))


def test_all_app_services_share_one_image_built_from_deploy_dockerfile(resolved):
    apps = _app_services(resolved)
    assert {Path(s["build"]["dockerfile"]).as_posix() for s in apps.values()} == {"deploy/Dockerfile"}
    assert len({s["image"] for s in apps.values()}) == 1
    assert {s["build"]["args"]["BASE_IMAGE"] for s in apps.values()} == {"python:3.11-slim"}
    dockerfile = (PROJECT_ROOT / "deploy" / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim$", dockerfile, flags=re.MULTILINE)
    assert re.search(r"^FROM \$\{BASE_IMAGE\}$", dockerfile, flags=re.MULTILINE)


# --- order of start ------------------------------------------------------------------------------------------


def test_each_service_is_migrated_once_by_its_own_job_after_postgres_is_healthy(resolved):
    for service in SERVICES:
        job = resolved["services"][f"migrate-{service}"]
        assert _command(job) == f"python -m shared.migrate {service}"
        assert str(job.get("restart", "no")) == "no"
        assert job["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_webs_and_workers_wait_for_their_schema_their_broker_user_and_a_healthy_broker(resolved):
    for name in procfile_commands():
        svc = resolved["services"][name]
        service = _service_of(name)
        assert svc["depends_on"][f"migrate-{service}"]["condition"] == "service_completed_successfully", name
        assert svc["depends_on"]["broker-init"]["condition"] == "service_completed_successfully", name
        assert svc["depends_on"]["rabbitmq"]["condition"] == "service_healthy", name
        assert svc["restart"] == "unless-stopped", name
        env = svc["environment"]
        assert env["HTTP_HOST"] == "0.0.0.0", name
        assert env["API_TOKEN"] == SECRETS["API_TOKEN"] and env["ADMIN_TOKEN"] == SECRETS["ADMIN_TOKEN"], name


def test_web_services_publish_their_port_through_the_ports_file_only(resolved):
    bare = _config(files=(COMPOSE_FILE,))
    for name, svc in bare["services"].items():
        assert "ports" not in svc, f"{name} publishes ports in docker-compose.yml (host networking cannot drop them)"
    proxy = resolved["services"]["proxy"]  # issue 12: only nginx publishes; the webs sit behind it
    for service, port in DEFAULT_PORTS.items():
        web = resolved["services"][f"{service}-web"]
        assert not _published(web), f"{service}-web is published directly: {_published(web)}"
        assert (port, port) in _published(proxy), f"proxy publishes {_published(proxy)}"
        assert web["environment"][f"{service.upper()}_PORT"] == str(port)
        assert proxy["environment"][f"{service.upper()}_UPSTREAM"] == f"{service}-web:{port}"


def test_web_probes_read_the_configured_port_and_workers_probe_their_consumer(resolved):
    for service in SERVICES:
        web = resolved["services"][f"{service}-web"]["healthcheck"]["test"]
        assert web[-3:] == ["deploy/healthcheck.py", "web", service], web
        assert not re.search(r"\b80\d\d\b", " ".join(web)), f"literal port in {web}"
        worker = resolved["services"][f"{service}-worker"]["healthcheck"]["test"]
        assert worker[-3:] == ["deploy/healthcheck.py", "worker", service], worker
    probe = (PROJECT_ROOT / "deploy" / "healthcheck.py").read_text()
    assert "load_settings(service)" in probe and "http_port" in probe and "passive=True" in probe


def test_broker_and_database_have_health_checks(resolved):
    rabbit, pg = resolved["services"]["rabbitmq"], resolved["services"]["postgres"]
    assert re.match(r"rabbitmq:3\.(1[0-9])", rabbit["image"]) or rabbit["image"].startswith("rabbitmq:4"), \
        "quorum queues with x-dead-letter-strategy=at-least-once need RabbitMQ >= 3.10"
    assert "management" in rabbit["image"]
    assert " ".join(rabbit["healthcheck"]["test"]).endswith("rabbitmq-diagnostics -q ping")
    assert pg["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])


def test_broker_is_published_only_by_the_optional_file():
    assert "ports" not in _config()["services"]["rabbitmq"]
    rabbit = _config(files=(COMPOSE_FILE, PORTS_FILE, BROKER_PORTS_FILE))["services"]["rabbitmq"]
    assert {(5672, 5672), (15672, 15672)} <= _published(rabbit)
    assert all(p.get("host_ip") == "127.0.0.1" for p in rabbit["ports"] if isinstance(p, dict))


# --- least privilege -----------------------------------------------------------------------------------------


def _init_scripts(postgres: dict) -> list[Path]:
    for volume in postgres.get("volumes", []):
        source, _, rest = volume.partition(":") if isinstance(volume, str) else (volume["source"], ":", volume["target"])
        target = rest.split(":")[0]
        if target == INITDB:
            path = (PROJECT_ROOT / source).resolve()
            return sorted(p for p in path.iterdir() if p.suffix in (".sql", ".sh")) if path.is_dir() else [path]
    pytest.fail(f"postgres mounts nothing at {INITDB}")


def test_postgres_init_creates_one_database_and_one_owning_role_per_service(raw):
    scripts = _init_scripts(raw["services"]["postgres"])
    assert [p.name for p in scripts] == ["init-service-databases.sh"]
    text = scripts[0].read_text()
    calls = re.findall(r'^create_service_database (\w+) "\$\{(\w+):\?', text, flags=re.MULTILINE)
    assert sorted(calls) == sorted((s, f"{s.upper()}_DB_PASSWORD") for s in SERVICES)
    body = re.sub(r"--[^\n]*", "", text)
    assert re.search(r'CREATE ROLE :"svc" LOGIN PASSWORD :\'pw\' NOSUPERUSER NOCREATEDB NOCREATEROLE', body)
    assert 'CREATE DATABASE :"svc" OWNER :"svc"' in body
    assert 'REVOKE ALL ON DATABASE :"svc" FROM PUBLIC' in body
    env = _config()["services"]["postgres"]["environment"]
    for service in SERVICES:
        assert env[f"{service.upper()}_DB_PASSWORD"] == SECRETS[f"{service.upper()}_DB_PASSWORD"]


def test_each_app_container_gets_only_its_own_database_url_with_its_own_role(resolved):
    for name, svc in _app_services(resolved).items():
        env = svc.get("environment", {})
        own = _service_of(name)
        urls = {k: v for k, v in env.items() if k.endswith("_DATABASE_URL")}
        if name == "broker-init" or name in TOOLS:
            assert not urls, f"broker-init gets {sorted(urls)}"
            continue
        assert list(urls) == [f"{own.upper()}_DATABASE_URL"], f"{name} gets {sorted(urls)}"
        url = urls[f"{own.upper()}_DATABASE_URL"]
        password = SECRETS[f"{own.upper()}_DB_PASSWORD"]
        assert url == f"postgresql+psycopg://{own}:{password}@postgres:5432/{own}", f"{name}: {url}"


def test_no_app_process_holds_a_superuser_administrator_or_another_services_secret(resolved):
    for name, svc in _app_services(resolved).items():
        if name == "broker-init":
            continue
        own = _service_of(name)
        allowed = {SECRETS["API_TOKEN"], SECRETS["ADMIN_TOKEN"], SECRETS[f"{own.upper()}_DB_PASSWORD"],
                   SECRETS[f"{own.upper()}_AMQP_PASSWORD"]} if own else set()  # the dev provider: none at all
        if name == "needs-web":  # the one process asking the peers for a data-subject report
            allowed.add(SECRETS["NEEDS_OIDC_CLIENT_SECRET"])
        text = " ".join(str(v) for v in svc.get("environment", {}).values())
        for secret in set(SECRETS.values()) - allowed:
            assert secret not in text, f"{name} holds {next(k for k, v in SECRETS.items() if v == secret)}"


def test_each_service_talks_to_the_broker_as_its_own_user_never_guest(resolved):
    for name in procfile_commands():
        own = _service_of(name)
        url = resolved["services"][name]["environment"]["AMQP_URL"]
        password = SECRETS[f"{own.upper()}_AMQP_PASSWORD"]
        assert url.split(";") == [f"amqp://{own}:{password}@rabbitmq:5672//"] * 3, url
    assert "guest" not in yaml.safe_dump(resolved)
    init = resolved["services"]["broker-init"]
    assert _command(init) == "python deploy/broker_init.py" and str(init["restart"]) == "no"
    assert init["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    assert resolved["services"]["rabbitmq"]["environment"]["RABBITMQ_DEFAULT_PASS"] == SECRETS["RABBITMQ_ADMIN_PASSWORD"]


@pytest.mark.parametrize("prefix", ["", "ci."])
def test_broker_permissions_cover_own_queues_and_the_exchange_only(prefix):
    perms = _load_broker_init().permissions
    exchange = "training.events"
    for service in SERVICES:
        p = perms(service, exchange, prefix)
        own = [f"{prefix}{service}", f"{prefix}{service}.dlq", f"{prefix}{service}.retry.1", f"{prefix}{service}.retry.3"]
        for kind in ("configure", "write", "read"):
            for name in (*own, exchange):
                assert re.fullmatch(p[kind], name), f"{service} {kind} {name}"
        assert re.fullmatch(p["write"], "amq.default")
        assert not re.fullmatch(p["configure"], "amq.default") and not re.fullmatch(p["read"], "amq.default")
        for other in set(SERVICES) - {service}:
            for name in (f"{prefix}{other}", f"{prefix}{other}.dlq", f"{prefix}{other}.retry.1"):
                for kind in ("configure", "write", "read"):
                    assert not re.search(p[kind], name), f"{service} may {kind} {name}"
        for name in (f"{prefix}{service}x", f"x{prefix}{service}", f"{prefix}{service}.dlq.x", "training.eventsX"):
            assert not re.search(p["read"], name), f"{service} may read {name}"


def test_broker_queue_names_match_the_settings_the_permissions_assume():
    from shared.config import load_settings

    settings = load_settings("needs", queue_prefix="ci.")
    perms = _load_broker_init().permissions("needs", settings.exchange, "ci.")
    for name in (settings.queue, settings.dead_letter_queue, settings.retry_queue(1), settings.exchange):
        assert re.fullmatch(perms["read"], name), name


# --- host networking and the cluster profile -----------------------------------------------------------------


def test_hostnet_override_puts_every_container_on_the_host_network_off_the_hosts_own_ports():
    model = _config(files=(COMPOSE_FILE, HOSTNET_FILE), profile="cluster")
    for name, svc in model["services"].items():
        assert svc.get("network_mode") == "host", name
        assert "ports" not in svc, name
    text = HOSTNET_FILE.read_text()
    ports = {int(p) for p in re.findall(r"\b(\d{4,5})\b", re.sub(r"#[^\n]*", "", text))}
    assert ports, "no ports in the hostnet override"
    for port in ports - {127}:
        # webs 8301-8304, proxy 8311-8314, worker metrics 8321-8324, Prometheus 8390, the identity provider 8180
        assert (5680 <= port <= 5699 or 15680 <= port <= 15699 or 5440 <= port <= 5449 or 8301 <= port <= 8324
                or port in (8390, 8180)), port
    assert not {5672, 15672, 5432, 4369} & ports


def test_cluster_profile_runs_three_broker_nodes_joined_to_the_first():
    single = _config()
    profiled = {name: svc["profiles"] for name, svc in single["services"].items() if svc.get("profiles")}
    assert profiled == {"rabbitmq-2": ["cluster"], "rabbitmq-3": ["cluster"],
                        "prometheus": ["observability"], "grafana": ["observability"],
                        "oidc": ["dev-oidc"], "keycloak": ["keycloak"]}, profiled
    model = _config(profile="cluster", extra_env={"AMQP_NODE_2": "rabbitmq-2:5672", "AMQP_NODE_3": "rabbitmq-3:5672"})
    nodes = [model["services"][n] for n in ("rabbitmq", "rabbitmq-2", "rabbitmq-3")]
    assert len({n["hostname"] for n in nodes}) == 3
    assert len({n["environment"]["RABBITMQ_ERLANG_COOKIE"] for n in nodes}) == 1
    for node in nodes[1:]:
        assert any("cluster.conf" in str(v) and "/etc/rabbitmq/conf.d/" in str(v) for v in node["volumes"])
    assert model["services"]["rabbitmq-2"]["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    conf = (PROJECT_ROOT / "deploy" / "rabbitmq" / "cluster.conf").read_text()
    assert "cluster_formation.classic_config.nodes.1 = rabbit@rabbitmq" in conf
    url = model["services"]["courses-worker"]["environment"]["AMQP_URL"]
    hosts = [u.split("@", 1)[1] for u in url.split(";")]
    assert hosts == ["rabbitmq:5672//", "rabbitmq-2:5672//", "rabbitmq-3:5672//"], url


# --- the identity provider (issue 14) ------------------------------------------------------------------------


def test_the_identity_providers_are_profiles_serving_the_realm_file_and_the_webs_verify_oidc(resolved):
    realm = "deploy/keycloak/thoibinh-realm.json"
    oidc, keycloak = resolved["services"]["oidc"], resolved["services"]["keycloak"]
    command = oidc["command"]
    assert command[:3] == ["python", "-m", "tools.dev_oidc"] and command[command.index("--realm-file") + 1] == realm
    assert command[command.index("--public-url") + 1] == "http://oidc:8180"  # the issuer the services reach
    assert "healthcheck" in oidc and not oidc.get("environment")  # holds no secret of ours
    assert keycloak["image"].startswith("quay.io/keycloak/keycloak:")
    assert keycloak["command"][:2] == ["start-dev", "--import-realm"]
    assert any(str(v).endswith(f"{realm}:/opt/keycloak/data/import/thoibinh-realm.json:ro")
               for v in keycloak["volumes"]), keycloak["volumes"]
    for name in procfile_commands():
        env = resolved["services"][name]["environment"]
        assert env["AUTH_MODE"] == "oidc", name  # static tokens are a development mode, never the compose default
        assert "oidc" not in resolved["services"][name].get("depends_on", {}), name  # a profile: no dependency


def test_hostnet_runs_the_dev_provider_and_prometheus_on_loopback():
    model = _config(files=(COMPOSE_FILE, HOSTNET_FILE))
    command = model["services"]["oidc"]["command"]
    assert command[command.index("--host") + 1: command.index("--host") + 4] == ["127.0.0.1", "--port", "8180"]
    assert "--public-url" not in command  # issuer http://127.0.0.1:8180/realms/thoibinh for services and clients
    prom = model["services"]["prometheus"]["command"]
    assert "--config.file=/etc/prometheus/prometheus-hostnet.yml" in prom
    assert "--web.listen-address=127.0.0.1:8390" in prom


def test_auth_mode_is_oidc_whatever_the_env_file_says_and_needs_web_alone_holds_its_client_secret():
    model = _config(extra_env={"AUTH_MODE": "static"})  # a .env asking for the development mode changes nothing
    for name in procfile_commands():
        assert model["services"][name]["environment"]["AUTH_MODE"] == "oidc", name
    holders = {name for name, svc in model["services"].items()
               if "NEEDS_OIDC_CLIENT_SECRET" in (svc.get("environment") or {})}
    assert holders == {"needs-web"}, holders
    assert model["services"]["needs-web"]["environment"]["NEEDS_OIDC_CLIENT_SECRET"] == SECRETS["NEEDS_OIDC_CLIENT_SECRET"]


def test_needs_web_reaches_the_three_peers_of_the_data_subject_report():
    from services.needs.settings import PEERS, _peer_urls

    def peers(model: dict) -> dict:
        return _peer_urls(model["services"]["needs-web"]["environment"]["NEEDS_PEER_URLS"])

    bridge = peers(_config())
    assert bridge == {p: f"http://{p}-web:{DEFAULT_PORTS[p]}" for p in PEERS}, bridge
    hostnet = peers(_config(files=(COMPOSE_FILE, HOSTNET_FILE),
                            extra_env={f"{p.upper()}_PORT": str(8301 + SERVICES.index(p)) for p in PEERS}))
    assert hostnet == {p: f"http://127.0.0.1:{8301 + SERVICES.index(p)}" for p in PEERS}, hostnet
