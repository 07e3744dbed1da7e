"""`make test-compose`: the compose stack started for real, the way operators run it.

Builds the images (base images locally where no registry is reachable: deploy/local/), starts docker-compose.yml
with host networking (docker-compose.hostnet.yml, a private dockerd with --bridge=none --iptables=false), waits for
every health check and for each web's /health/ready through the nginx `proxy`, checks what the proxy answers itself
(security headers passed on, no version, /health/live, a 413 in the JSON shape), drives one training cycle to
`closed` over HTTP through the proxy (tools.demo.run_cycle; the proxy's access log names no path) in AUTH_MODE=oidc with per-role tokens
from the development identity provider (profile `dev-oidc`: tools/dev_oidc serving deploy/keycloak's realm file;
password and client-credentials grants over HTTP; the static token refused), starts Prometheus (profile
`observability`, Debian's package on the local base) and waits until every web and worker target is up, queries the
cycle's flow metrics and checks the alert rules are loaded (Grafana cannot be started here: one line says so),
checks least privilege on the live stack, restarts a worker, stops and starts the broker and checks that every consumer is back, then
`down` and `up` with the data still there, the `cluster` profile's three joined nodes, and `down -v`.
Prints the build time, the image size and the time to healthy.

Exits 0 with one "SKIPPED" line only where dockerd cannot start (tests/compose/dockerd.sh exits 3).
Secrets are random for every run (var/compose/ci.env, mode 600). Ports: brokers 5681-5683 (management
15681-15683, epmd 5690), PostgreSQL 5441, webs 8301-8304 behind the proxy on 8311-8314 (every HTTP request of
this run goes to the proxy), workers' metrics 8321-8324, Prometheus 8390, the identity provider 8180: the host's own
5672/5432 are never touched.
"""
from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from shared.config import SERVICES  # noqa: E402

DOCKER_SOCK = os.environ.get("DOCKER_SOCK", "/run/thoibinh-docker.sock")
os.environ["DOCKER_HOST"] = f"unix://{DOCKER_SOCK}"
PROJECT = os.environ.get("COMPOSE_TEST_PROJECT", "thoibinh-ci")
WORK = ROOT / "var" / "compose"
ENV_FILE = WORK / "ci.env"
FILES = ["-f", str(ROOT / "docker-compose.yml"), "-f", str(ROOT / "docker-compose.hostnet.yml")]
BASE_IMAGE = "thoibinh/bookworm:base"
STANDINS = {"python": "thoibinh/python:local", "rabbitmq": "thoibinh/rabbitmq:local",
            "postgres": "thoibinh/postgres:local", "nginx": "thoibinh/nginx:local",
            "prometheus": "thoibinh/prometheus:local"}
APP_IMAGE = "thoibinh-training:ci"
WEB_PORTS = {svc: 8301 + i for i, svc in enumerate(SERVICES)}
PROXY_PORTS = {svc: 8311 + i for i, svc in enumerate(SERVICES)}  # docker-compose.hostnet.yml's proxy defaults
METRICS_PORTS = {svc: 8321 + i for i, svc in enumerate(SERVICES)}  # deploy/prometheus/prometheus-hostnet.yml's
PROMETHEUS = "http://127.0.0.1:8390"  # docker-compose.hostnet.yml's --web.listen-address
ISSUER = "http://127.0.0.1:8180/realms/thoibinh"  # the dev-oidc provider on the host network
REALM_FILE = ROOT / "deploy" / "keycloak" / "thoibinh-realm.json"
ADMIN_CLIENT = "realm-admin-cli"  # the realm file's client whose service account may manage users (Admin REST API)
ADMIN_USERS = ISSUER.replace("/realms/", "/admin/realms/") + "/users"
# Every run has the development identity provider; Prometheus (profile observability) is started by name, since
# Grafana, in the same profile, has no image here.
PROFILES = ["--profile", "dev-oidc"]
ALL_PROFILES = [*PROFILES, "--profile", "observability", "--profile", "cluster"]
AMQP_PORTS = (5681, 5682, 5683)
MGMT = "http://127.0.0.1:15681"
PG_PORT = 5441
ONE_SHOT = {"broker-init", "migrate-needs", "migrate-courses", "migrate-evaluation", "migrate-funding"}

figures: dict[str, str] = {}


class Failure(Exception):
    pass


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def sh(cmd: list[str], *, check: bool = True, capture: bool = False, timeout: float = 900,
       quiet: bool = False) -> subprocess.CompletedProcess:
    if not quiet:
        print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    result = subprocess.run(cmd, cwd=ROOT, text=True, timeout=timeout,
                            stdout=subprocess.PIPE if capture else None,
                            stderr=subprocess.STDOUT if capture else None)
    if check and result.returncode != 0:
        raise Failure(f"{cmd[0]} {' '.join(cmd[1:3])} … exited {result.returncode}"
                      + (f":\n{result.stdout[-3000:]}" if capture else ""))
    return result


def compose(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return sh(["docker-compose", "-p", PROJECT, *FILES, "--env-file", str(ENV_FILE), *PROFILES, *args], **kwargs)


def docker(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return sh(["docker", *args], **kwargs)


# --- engine and images ---------------------------------------------------------------------------------------


def start_engine() -> str | None:
    """None when the engine answers, else the reason it cannot start."""
    result = subprocess.run([str(ROOT / "tests" / "compose" / "dockerd.sh")], cwd=ROOT, text=True,
                            capture_output=True, env={**os.environ, "DOCKER_SOCK": DOCKER_SOCK})
    if result.returncode == 0:
        return None
    reason = (result.stdout + result.stderr).strip() or f"exit {result.returncode}"
    if result.returncode == 3:
        return reason
    raise Failure(f"starting dockerd failed: {reason}")


def image_exists(name: str) -> bool:
    return docker("image", "inspect", name, check=False, capture=True, quiet=True).returncode == 0


def image_size(name: str) -> int:
    return int(docker("image", "inspect", "--format", "{{.Size}}", name, capture=True, quiet=True).stdout.strip())


def build_images() -> None:
    step("images")
    t0 = time.monotonic()
    sh([str(ROOT / "deploy" / "local" / "build-images.sh")])
    figures["base images (cached after the first run)"] = f"{time.monotonic() - t0:.0f} s"
    t1 = time.monotonic()
    docker("build", "-q", "--network", "host", "--build-arg", f"BASE_IMAGE={STANDINS['python']}",
           "-f", str(ROOT / "deploy" / "Dockerfile"), "-t", APP_IMAGE, str(ROOT))
    figures["app image build"] = f"{time.monotonic() - t1:.0f} s"
    figures["app image size"] = f"{image_size(APP_IMAGE) / 1e6:.0f} MB"
    figures["broker / database / proxy / prometheus stand-ins"] = " / ".join(
        f"{image_size(STANDINS[k]) / 1e6:.0f} MB" for k in ("rabbitmq", "postgres", "nginx", "prometheus"))


# --- secrets and settings ------------------------------------------------------------------------------------


def realm_secret(client_id: str) -> str:
    from tools.dev_oidc import Realm
    return Realm.load(REALM_FILE).clients[client_id].secret or ""


def write_env_file() -> dict[str, str]:
    secret = lambda: secrets.token_hex(20)  # noqa: E731 - URL-safe
    env = {
        "API_TOKEN": secret(), "ADMIN_TOKEN": secret(), "POSTGRES_PASSWORD": secret(),
        # Bearer JWTs of the dev-oidc provider, per role (issue 14; the compose file fixes AUTH_MODE=oidc); the two
        # static tokens must be refused. needs' client secret is the realm file's (the provider's only source).
        "OIDC_ISSUER": ISSUER, "NEEDS_OIDC_CLIENT_SECRET": realm_secret("needs"),
        "RABBITMQ_ADMIN_USER": "admin", "RABBITMQ_ADMIN_PASSWORD": secret(), "RABBITMQ_ERLANG_COOKIE": secret(),
        **{f"{svc.upper()}_DB_PASSWORD": secret() for svc in SERVICES},
        **{f"{svc.upper()}_AMQP_PASSWORD": secret() for svc in SERVICES},
        "PYTHON_IMAGE": STANDINS["python"], "RABBITMQ_IMAGE": STANDINS["rabbitmq"],
        "POSTGRES_IMAGE": STANDINS["postgres"], "NGINX_IMAGE": STANDINS["nginx"], "APP_IMAGE": APP_IMAGE,
        "PROMETHEUS_IMAGE": STANDINS["prometheus"],
        "HTTP_HOST": "127.0.0.1", "POSTGRES_ADDR": f"127.0.0.1:{PG_PORT}",
        "AMQP_NODE_1": f"127.0.0.1:{AMQP_PORTS[0]}", "AMQP_NODE_2": f"127.0.0.1:{AMQP_PORTS[1]}",
        "AMQP_NODE_3": f"127.0.0.1:{AMQP_PORTS[2]}", "RABBITMQ_MANAGEMENT_ADDR": "127.0.0.1:15681",
        **{f"{svc.upper()}_PORT": str(port) for svc, port in WEB_PORTS.items()},
        **{f"{svc.upper()}_PROXY_PORT": str(port) for svc, port in PROXY_PORTS.items()},
        **{f"{svc.upper()}_METRICS_PORT": str(port) for svc, port in METRICS_PORTS.items()},
        # The links handed to trainees point at the proxy, like every client.
        "FEEDBACK_BASE_URL": f"http://127.0.0.1:{PROXY_PORTS['evaluation']}",
        # One client driving a whole cycle at machine speed: the per-address rates are meant for people.
        "PROXY_RATE": "300r/s", "PROXY_AUTH_RATE": "200r/s",
        "LOG_LEVEL": "WARNING", "WEB_WORKERS": "1",
    }
    WORK.mkdir(parents=True, exist_ok=True)
    ENV_FILE.touch(mode=0o600)
    os.chmod(ENV_FILE, 0o600)
    ENV_FILE.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    return env


# --- waiting -------------------------------------------------------------------------------------------------


def containers() -> dict[str, dict]:
    """{service: docker inspect state} of this project's containers."""
    ids = compose("ps", "-a", "-q", capture=True, quiet=True).stdout.split()
    if not ids:
        return {}
    info = json.loads(docker("inspect", *ids, capture=True, quiet=True).stdout)
    return {c["Config"]["Labels"]["com.docker.compose.service"]: c["State"] for c in info}


def wait_healthy(what: str, timeout: float = 300, services: set[str] | None = None) -> float:
    """Wait until every long-running container is healthy and every one-shot job exited 0; return seconds."""
    t0 = time.monotonic()
    last = ""
    while True:
        states = containers()
        pending = []
        for name, st in sorted(states.items()):
            if services is not None and name not in services:
                continue
            if name in ONE_SHOT:
                if st["Status"] == "exited" and st["ExitCode"] != 0:
                    logs = compose("logs", "--no-color", "--tail", "40", name, capture=True, quiet=True, check=False)
                    raise Failure(f"{name} exited {st['ExitCode']}:\n{logs.stdout}")
                if st["Status"] != "exited":
                    pending.append(f"{name}:{st['Status']}")
            elif "Health" in st:
                if st["Health"]["Status"] != "healthy":
                    pending.append(f"{name}:{st['Health']['Status']}")
            elif st["Status"] != "running":
                pending.append(f"{name}:{st['Status']}")
        if states and not pending:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise Failure(f"{what}: not healthy after {timeout:.0f} s: {', '.join(pending) or 'no containers'}")
        if ", ".join(pending) != last:
            last = ", ".join(pending)
            print(f"   {time.monotonic() - t0:5.1f} s waiting: {last}", flush=True)
        time.sleep(1)


def proxied(service: str, path: str, *, method: str = "GET", data: bytes | None = None,
            headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one request to a web through the proxy; HTTP errors are answers too."""
    req = urllib.request.Request(f"http://127.0.0.1:{PROXY_PORTS[service]}{path}", data=data, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as answer:
            return answer.status, dict(answer.headers.items()), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


def wait_proxied(what: str, timeout: float = 120) -> float:
    """Wait until every web's /health/ready answers 200 through the proxy; return seconds."""
    t0 = time.monotonic()
    last = ""
    while True:
        pending = []
        for svc in SERVICES:
            try:
                status = proxied(svc, "/health/ready", timeout=5)[0]
            except OSError as exc:
                status = exc.__class__.__name__
            if status != 200:
                pending.append(f"{svc}:{status}")
        if not pending:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise Failure(f"{what}: /health/ready through the proxy after {timeout:.0f} s: {', '.join(pending)}")
        if ", ".join(pending) != last:
            last = ", ".join(pending)
            print(f"   {time.monotonic() - t0:5.1f} s waiting through the proxy: {last}", flush=True)
        time.sleep(0.5)


def wait_stack(what: str, timeout: float) -> float:
    """Every container healthy (or its job done), then every web ready through the proxy; return seconds."""
    t0 = time.monotonic()
    wait_healthy(what, timeout)
    wait_proxied(what, max(30.0, timeout - (time.monotonic() - t0)))
    return time.monotonic() - t0


def management(path: str, env: dict[str, str], base: str = MGMT):
    auth = base64.b64encode(f"{env['RABBITMQ_ADMIN_USER']}:{env['RABBITMQ_ADMIN_PASSWORD']}".encode()).decode()
    req = urllib.request.Request(base + path, headers={"Authorization": f"Basic {auth}"})
    with urllib.request.urlopen(req, timeout=10) as answer:
        return json.loads(answer.read())


def consumers_per_queue(env: dict[str, str]) -> dict[str, int]:
    queues = management("/api/queues/%2F", env)
    return {q["name"]: q.get("consumers", 0) for q in queues if q["name"] in SERVICES}


def wait_consumers(env: dict[str, str], timeout: float = 120) -> float:
    t0 = time.monotonic()
    counts: dict[str, int] = {}
    while time.monotonic() - t0 < timeout:
        try:
            counts = consumers_per_queue(env)
        except OSError:
            counts = {}
        if all(counts.get(svc, 0) >= 1 for svc in SERVICES):
            return time.monotonic() - t0
        time.sleep(0.5)
    raise Failure(f"consumers not back after {timeout:.0f} s: {counts}")


# --- the checks ----------------------------------------------------------------------------------------------


class ComposeStack:
    """What tools.demo.run_cycle needs of a stack: the base URL of each web app, i.e. its port on the proxy."""

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{PROXY_PORTS[service]}"


SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
                    "Cross-Origin-Resource-Policy": "same-origin", "Cache-Control": "no-store"}


def check_proxy() -> None:
    step("the proxy: security headers, /health/live, its own refusals")
    for svc in SERVICES:
        status, headers, body = proxied(svc, "/health/live")
        if status != 200:
            raise Failure(f"{svc}: /health/live through the proxy answered {status}: {body[:200]!r}")
        wrong = {k: headers.get(k) for k, v in SECURITY_HEADERS.items() if headers.get(k) != v}
        if wrong or "frame-ancestors 'none'" not in headers.get("Content-Security-Policy", ""):
            raise Failure(f"{svc}: security headers through the proxy: {wrong or headers}")
        if headers.get("Server", "") != "nginx":  # server_tokens off: no version; the web's own Server is replaced
            raise Failure(f"{svc}: Server header through the proxy: {headers.get('Server')!r}")
    print(f"   /health/live 200 on {', '.join(str(p) for p in PROXY_PORTS.values())}, with "
          f"{', '.join(SECURITY_HEADERS)}, CSP; Server: nginx (no version)")
    # A body over the JSON API's 1 MB cap never reaches the web: nginx's own 413 in the webs' JSON shape.
    status, headers, body = proxied("needs", "/api/v1/plans", method="POST", data=b"{" + b" " * (2 << 20) + b"}",
                                    headers={"Content-Type": "application/json"})
    shape = json.loads(body) if headers.get("Content-Type", "").startswith("application/json") else {}
    if status != 413 or shape.get("code") != 413:
        raise Failure(f"2 MB JSON body through the proxy: {status} {body[:200]!r}")
    print(f"   2 MB JSON body: {status} {shape.get('status')!r} from the proxy (JSON shape)")


def check_proxy_log() -> None:
    """The cycle went through the proxy, and its access log names no path (feedback and check-in tokens)."""
    logs = compose("logs", "--no-color", "proxy", capture=True, quiet=True).stdout
    ours = re.findall(r'\[\d{4}-\d\d-\d\dT[^]]+\] "(GET|POST|PATCH|PUT|DELETE)" \d{3} ', logs)
    with_path = re.findall(r'"(?:GET|POST|PATCH|PUT|DELETE) /[^"]*" \d{3} ', logs)
    if len(ours) < 50:
        raise Failure(f"the proxy logged {len(ours)} requests: did the cycle go around it?")
    if with_path:
        raise Failure(f"the proxy's access log names paths: {with_path[:3]}")
    print(f"   proxy access log: {len(ours)} requests ({ours.count('POST')} POST), no path in any line")


def logins():
    """Bearer headers per sample user of the realm file, by the password grant at the dev-oidc provider. A user
    attribute set on its realm (tools.demo.run_cycle links gv.mau to the lecturer it registers: `lecturer_id`) is set
    at the provider, as an administrator does: through the Admin REST API with realm-admin-cli's client credentials
    (the same calls as against Keycloak), then in the local copy."""
    from tools.dev_oidc import Logins, Realm, set_remote_user_attribute

    class ProviderRealm(Realm):
        def set_user_attribute(self, username: str, attribute: str, *values: str) -> None:
            user_id = set_remote_user_attribute(ISSUER, ADMIN_CLIENT, realm_secret(ADMIN_CLIENT), username,
                                                attribute, *values)
            super().set_user_attribute(username, attribute, *values)
            print(f"   [administrator · {ADMIN_CLIENT}] {attribute} of {username} set at the provider "
                  f"(Admin REST API: GET {urllib.parse.urlsplit(ADMIN_USERS).path}?username=…, PUT …/{user_id}: 204)")

    return Logins(ISSUER, ProviderRealm.load(REALM_FILE))


def admin_status(token: str | None) -> int:
    """The status of the provider's Admin REST API listing gv.mau with this bearer token (None: no header)."""
    req = urllib.request.Request(ADMIN_USERS + "?username=gv.mau&exact=true",
                                 headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def check_identity(env: dict[str, str]) -> None:
    """Tokens come from the provider over HTTP (client credentials and password grants); the webs take them and
    refuse the static tokens, no token, and a token for another service."""
    step(f"identity: AUTH_MODE=oidc, tokens from the dev-oidc provider ({ISSUER})")
    from tools.dev_oidc import Realm, fetch_token
    realm = Realm.load(REALM_FILE)
    programs = realm.clients["programs"]
    t0 = time.monotonic()
    program = fetch_token(ISSUER, programs.client_id, programs.secret)  # client credentials: an inspector
    figures["token (client credentials) from the provider"] = f"{(time.monotonic() - t0) * 1000:.0f} ms"
    for svc in SERVICES:
        status, _, body = proxied(svc, "/api/v1/access-log?limit=1", headers={"Authorization": f"Bearer {program}"})
        if status != 200:
            raise Failure(f"{svc}: the programs client's token (inspector) answered {status}: {body[:200]!r}")
    print(f"   client credentials (client `programs`, role inspector): GET /api/v1/access-log 200 on every service")
    officer = logins().headers(logins().user("training-officer").username)
    for svc in SERVICES:
        refusals = {what: proxied(svc, "/api/v1/access-log?limit=1", headers=headers)[0] for what, headers in (
            ("API_TOKEN", {"Authorization": f"Bearer {env['API_TOKEN']}"}),
            ("ADMIN_TOKEN", {"Authorization": f"Bearer {env['ADMIN_TOKEN']}"}),
            ("no token", {}))}
        if set(refusals.values()) != {401}:
            raise Failure(f"{svc}: in oidc mode {refusals}")
    status = proxied("needs", "/api/v1/access-log?limit=1", headers=officer)[0]
    if status != 403:  # a training officer is no inspector: the role check, after the token is taken
        raise Failure(f"needs: a training officer's token on the access log answered {status}, not 403")
    print("   the static API_TOKEN / ADMIN_TOKEN and no token: 401 on every service; a training officer's token on "
          "the access log: 403")
    # Linking an account (lecturer_id) is the administrator's: the provider's Admin REST API takes only a token of a
    # user holding realm-management's manage-users (realm-admin-cli's service account).
    admin = fetch_token(ISSUER, ADMIN_CLIENT, realm_secret(ADMIN_CLIENT))
    statuses = {"no token": admin_status(None), "programs (inspector)": admin_status(program),
                "the operator": admin_status(logins().headers("vh.mau")["Authorization"].split()[1]),
                ADMIN_CLIENT: admin_status(admin)}
    if statuses != {"no token": 401, "programs (inspector)": 403, "the operator": 403, ADMIN_CLIENT: 200}:
        raise Failure(f"the provider's Admin REST API (users): {statuses}")
    print(f"   Admin REST API (GET /admin/realms/…/users): {statuses}")


def drive_cycle(env: dict[str, str]) -> None:
    step("one training cycle to `closed` over HTTP (tools.demo.run_cycle through the proxy, 8311-8314), "
         "each step with its role's token")
    from tools import demo

    # The static tokens the demo's last step expects to see refused in oidc mode: this run's random ones.
    demo.API = {"Authorization": f"Bearer {env['API_TOKEN']}"}
    demo.ADMIN = {"Authorization": f"Bearer {env['ADMIN_TOKEN']}"}
    t0 = time.monotonic()
    demo.run_cycle(ComposeStack(), WORK / "out", None, demo.Callers(logins()))
    figures["training cycle over HTTP (through the proxy)"] = f"{time.monotonic() - t0:.0f} s"
    # gv.mau was linked at the provider itself: a new login (a fresh copy of the realm file) carries the claim,
    # naming a lecturer courses registered
    import jwt
    fresh = logins()
    token = fresh.headers("gv.mau")["Authorization"].split()[1]
    linked = jwt.decode(token, options={"verify_signature": False}).get("lecturer_id")
    status, _, body = proxied("courses", "/api/v1/lecturers", headers=fresh.headers(fresh.user("training-officer")
                                                                                    .username))
    if status != 200 or linked not in {x["id"] for x in json.loads(body)}:
        raise Failure(f"gv.mau's new token names lecturer_id {linked!r}; courses' lecturers answered {status}")
    print(f"   a new login of gv.mau carries lecturer_id {linked} (a lecturer courses registered)")
    if not closed_courses():
        raise Failure("the cycle ran but no course is `closed`")
    check_proxy_log()


def check_subject_report() -> None:
    """needs assembles a trainee's data-subject report from the four services (NEEDS_PEER_URLS, its own client
    credentials at the provider), for the inspector only."""
    step("data-subject report: needs asks courses, evaluation and funding with its own client credentials")
    as_ = logins()
    inspector = as_.headers(as_.user("inspector").username)
    course = closed_courses()[0]
    status, _, body = proxied("courses", f"/api/v1/courses/{course['id']}/enrollments", headers=inspector)
    trained = [e for e in json.loads(body) if e["status"] == "enrolled"] if status == 200 else []
    if not trained:  # (those moved to a later class are `withdrawn`: no feedback request, no settlement line)
        raise Failure(f"the closed course's enrollments answered {status}: {body[:200]!r}")
    # Every report must be complete; one trainee at least (the demo's absentee has no feedback request) has records
    # in all four services.
    for enrollment in trained:
        person = enrollment["civil_servant_id"]
        status, _, body = proxied("needs", f"/api/v1/data-subjects/{person}/report", headers=inspector, timeout=30)
        if status != 200:
            raise Failure(f"the data-subject report answered {status}: {body[:300]!r}")
        report = json.loads(body)
        counts = {svc: part["record_count"] for svc, part in report["services"].items()}
        if not report.get("complete") or list(counts) != list(SERVICES):
            raise Failure(f"the data-subject report: complete={report.get('complete')}, records per service {counts}")
        if all(counts.values()):
            break
    else:
        raise Failure(f"no trainee of the closed course has records in all four services (last: {counts})")
    refused = proxied("needs", f"/api/v1/data-subjects/{person}/report",
                      headers=as_.headers(as_.user("training-officer").username))[0]
    if refused != 403:
        raise Failure(f"a training officer asking for the data-subject report got {refused}, not 403")
    print(f"   one trainee's report (inspector {as_.user('inspector').username}): complete, records "
          + ", ".join(f"{svc} {n}" for svc, n in counts.items()) + "; a training officer: 403")


def closed_courses() -> list[dict]:
    as_ = logins()
    headers = as_.headers(as_.user("training-officer").username)
    status, _, body = proxied("courses", "/api/v1/courses?status=closed", headers=headers)
    if status != 200:
        raise Failure(f"GET /api/v1/courses?status=closed answered {status}: {body[:200]!r}")
    return json.loads(body)


# --- Prometheus ----------------------------------------------------------------------------------------------


def prometheus(path: str) -> dict:
    with urllib.request.urlopen(PROMETHEUS + path, timeout=10) as answer:
        body = json.loads(answer.read())
    if body.get("status") != "success":
        raise Failure(f"Prometheus {path}: {body}")
    return body["data"]


def prom_value(query: str) -> float | None:
    result = prometheus("/api/v1/query?" + urllib.parse.urlencode({"query": query}))["result"]
    return float(result[0]["value"][1]) if result else None


def check_prometheus_config() -> None:
    """The hostnet config scrapes the ports this run gives the processes (a drift would leave targets down)."""
    import yaml
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus-hostnet.yml").read_text())
    got = {(g["labels"]["service"], g["labels"]["process"]): t for job in config["scrape_configs"]
           for g in job["static_configs"] if "labels" in g for t in g["targets"]}
    want = {**{(s, "web"): f"127.0.0.1:{p}" for s, p in WEB_PORTS.items()},
            **{(s, "worker"): f"127.0.0.1:{p}" for s, p in METRICS_PORTS.items()}}
    if got != want:
        raise Failure(f"deploy/prometheus/prometheus-hostnet.yml scrapes {got}, this run listens on {want}")


def start_prometheus() -> float:
    """Start Prometheus (its targets are waited for later, while the cycle runs meanwhile); return the start time."""
    step("profile `observability`: Prometheus (Debian's package on the local base image)")
    check_prometheus_config()
    compose("--profile", "observability", "up", "-d", "--no-build", "prometheus")
    print("   grafana: not started — no image registry is reachable here and Grafana has no Debian package "
          "(deploy/grafana is checked by tests/integration/test_observability_config.py)")
    return time.monotonic()


def wait_targets(t0: float) -> None:
    step("Prometheus: every web and worker target up in /api/v1/targets")
    deadline = time.monotonic() + 120
    last = ""
    while True:
        try:
            targets = prometheus("/api/v1/targets?state=active")["activeTargets"]
        except (OSError, Failure) as exc:
            targets, last = [], f"{exc.__class__.__name__}"
        ours = {(t["labels"].get("service"), t["labels"].get("process")): t for t in targets
                if t["labels"].get("job") in ("web", "worker")}
        down = sorted(f"{s}-{p}:{t['health']}" for (s, p), t in ours.items() if t["health"] != "up")
        if len(ours) == 2 * len(SERVICES) and not down:
            break
        if time.monotonic() > deadline:
            raise Failure(f"Prometheus targets after 120 s: {down or last or len(ours)} "
                          f"{[t.get('lastError') for t in ours.values() if t['health'] != 'up'][:3]}")
        now = ", ".join(down) or last
        if now != last:
            print(f"   {time.monotonic() - t0:5.1f} s waiting for targets: {now}", flush=True)
            last = now
        time.sleep(1)
    figures["Prometheus started → every target up (cycle meanwhile)"] = f"{time.monotonic() - t0:.0f} s"
    print(f"   {len(ours)} targets up: {', '.join(f'{s}-{p}' for s, p in sorted(ours))}")


def check_prometheus(closed: int) -> None:
    step("Prometheus after the cycle: the flow metrics and the alert rules")
    queries = {
        "completed": 'sum(thoibinh_outbox_published_total{service="courses",event_type="courses.course_completed"})',
        "feedback requested": 'sum(thoibinh_outbox_published_total{service="evaluation",'
                              'event_type="evaluation.feedback_requested"})',
        "settled": 'sum(thoibinh_outbox_published_total{service="funding",event_type="funding.course_settled"})',
        "closed": 'sum(thoibinh_courses_closed_total{service="courses"})',
    }
    deadline = time.monotonic() + 60  # a scrape every 5 s
    while True:
        got = {name: prom_value(q) for name, q in queries.items()}
        if got["closed"] == closed and all(v is not None and v >= closed for v in got.values()):
            break
        if time.monotonic() > deadline:
            raise Failure(f"Prometheus after the cycle: {got}, {closed} course(s) closed by the API")
        time.sleep(1)
    print("   " + ", ".join(f"{name} {value:.0f}" for name, value in got.items())
          + f" (the API lists {closed} closed course(s))")
    groups = prometheus("/api/v1/rules")["groups"]
    loaded = {r["name"]: r for g in groups for r in g["rules"] if r["type"] == "alerting"}
    import yaml
    written = {r["alert"] for g in yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())["groups"]
               for r in g["rules"]}
    bad = {name: r.get("health") for name, r in loaded.items() if r.get("health") not in ("ok", "unknown")}
    if set(loaded) != written or bad:
        raise Failure(f"alert rules loaded {sorted(loaded)} (health {bad}), alerts.yml has {sorted(written)}")
    firing = sorted(f"{n}:{r['state']}" for n, r in loaded.items() if r["state"] != "inactive")
    print(f"   {len(loaded)} alert rules loaded from alerts.yml ({', '.join(sorted(loaded))}); "
          f"not inactive: {', '.join(firing) or 'none'}")


def check_least_privilege(env: dict[str, str]) -> None:
    step("least privilege on the live stack")
    import psycopg
    from kombu import Connection

    def pg(user: str, password: str, db: str) -> str:
        try:
            with psycopg.connect(host="127.0.0.1", port=PG_PORT, user=user, password=password, dbname=db,
                                 connect_timeout=5) as conn:
                return "ok" if conn.execute("select 1").fetchone() else "?"
        except psycopg.Error as exc:
            return f"refused ({str(exc).strip().splitlines()[-1][:80]})"

    needs_pw = env["NEEDS_DB_PASSWORD"]
    assert pg("needs", needs_pw, "needs") == "ok", "needs cannot reach its own database"
    for db in ("courses", "postgres"):
        answer = pg("needs", needs_pw, db)
        assert answer.startswith("refused"), f"role needs connects to database {db}"
        print(f"   role needs → database {db}: {answer}")
    with psycopg.connect(host="127.0.0.1", port=PG_PORT, user="needs", password=needs_pw, dbname="needs") as conn:
        row = conn.execute("select rolsuper, rolcreatedb, rolcreaterole from pg_roles where rolname = 'needs'").fetchone()
        assert row == (False, False, False), row
        owner = conn.execute("select tableowner from pg_tables where schemaname = 'public' limit 1").fetchone()
        assert owner == ("needs",), f"needs' tables are owned by {owner}"
    print("   role needs: no superuser, createdb or createrole; owns its tables")

    def amqp(user: str, password: str, queue: str) -> str:
        url = f"amqp://{user}:{password}@127.0.0.1:{AMQP_PORTS[0]}//"
        try:
            with Connection(url, connect_timeout=5) as conn:
                conn.ensure_connection(max_retries=1)
                channel = conn.channel()
                channel.basic_get(queue=queue, no_ack=False)
                return "ok"
        except Exception as exc:  # noqa: BLE001 - access refused, or login refused
            return f"refused ({exc.__class__.__name__}: {str(exc)[:90]})"

    answer = amqp("needs", env["NEEDS_AMQP_PASSWORD"], "courses")
    assert answer.startswith("refused"), "broker user needs can read the courses queue"
    print(f"   broker user needs → queue courses: {answer}")
    answer = amqp("guest", "guest", "needs")
    assert answer.startswith("refused"), "guest can log in"
    print(f"   broker user guest: {answer}")
    for svc in SERVICES:
        got = json.loads(docker("inspect", "--format", "{{json .Config.Env}}", f"{PROJECT}_{svc}-worker_1",
                                capture=True, quiet=True).stdout)
        names = {item.split("=", 1)[0] for item in got}
        others = {f"{o.upper()}_DATABASE_URL" for o in SERVICES if o != svc} & names
        assert not others and "POSTGRES_PASSWORD" not in names and "RABBITMQ_ADMIN_PASSWORD" not in names, \
            f"{svc}-worker sees {sorted(others | (names & {'POSTGRES_PASSWORD', 'RABBITMQ_ADMIN_PASSWORD'}))}"
    print("   no app container holds another service's database URL, the superuser or the broker administrator")
    got = json.loads(docker("inspect", "--format", "{{json .Config.Env}}", f"{PROJECT}_proxy_1",
                            capture=True, quiet=True).stdout)
    secret_names = sorted(n for n in (item.split("=", 1)[0] for item in got)
                          if re.search(r"PASSWORD|TOKEN|COOKIE|DATABASE_URL|AMQP_URL", n))
    assert not secret_names, f"the proxy container holds {secret_names}"
    print("   the proxy holds no password, token, cookie or database/broker URL")


def restart_worker(env: dict[str, str]) -> None:
    step("restart a worker")
    t0 = time.monotonic()
    compose("restart", "courses-worker")
    wait_consumers(env)
    wait_stack("after restarting courses-worker", 120)
    figures["worker restart → healthy"] = f"{time.monotonic() - t0:.0f} s"


def bounce_broker(env: dict[str, str]) -> None:
    step("stop and start the broker; every consumer comes back")
    compose("stop", "rabbitmq")
    probe = compose("exec", "-T", "courses-worker", "python", "deploy/healthcheck.py", "worker", "courses",
                    check=False, capture=True)
    print(f"   worker probe with the broker stopped: exit {probe.returncode}, {probe.stdout.strip()[:160]}")
    if probe.returncode == 0:
        raise Failure("the worker health check passes while the broker is stopped")
    compose("start", "rabbitmq")
    t0 = time.monotonic()
    wait_healthy("broker restarted", 180, services={"rabbitmq"})
    wait_consumers(env, 180)
    figures["broker start → every consumer back"] = f"{time.monotonic() - t0:.0f} s"
    print(f"   consumers per queue: {consumers_per_queue(env)}")
    wait_stack("after the broker restart", 180)


def down_and_up(env: dict[str, str], before: int) -> None:
    step("down, up again: the data is still there, and the provider's signing key")
    as_ = logins()
    issued_before = as_.headers(as_.user("training-officer").username)
    compose("down")
    t0 = time.monotonic()
    compose("up", "-d", "--no-build")
    wait_stack("up after down", 300)
    figures["time to healthy (volumes kept, from up -d)"] = f"{time.monotonic() - t0:.0f} s"
    after = len(closed_courses())
    if after != before:
        raise Failure(f"{before} closed course(s) before down, {after} after up")
    print(f"   {after} closed course(s) kept")
    status, _, body = proxied("courses", "/api/v1/courses?status=closed", headers=issued_before)
    if status != 200:  # the key lives in the oidc-data volume (--key-file): a restart must not void every token
        raise Failure(f"a token issued before down answered {status} after up: {body[:200]!r}")
    print("   a token issued before `down` is still accepted after `up` (the provider kept its key)")


def cluster(env: dict[str, str]) -> None:
    step("profile `cluster`: three broker nodes, joined")
    compose("--profile", "cluster", "up", "-d", "--no-build", "rabbitmq-2", "rabbitmq-3")
    took = wait_healthy("cluster nodes", 240, services={"rabbitmq", "rabbitmq-2", "rabbitmq-3"})
    # The management API marks a node running once it has its first statistics: a few seconds after joining.
    deadline = time.monotonic() + 60
    while True:
        running = sorted(n["name"] for n in management("/api/nodes", env) if n.get("running"))
        if len(running) == 3:
            break
        if time.monotonic() > deadline:
            raise Failure(f"cluster: running nodes {running}")
        time.sleep(1)
    print(f"   running nodes: {', '.join(running)} ({took:.0f} s)")
    # A worker connects through node 2 when node 1 is not the first it tries (AMQP_URL lists the three).
    wait_consumers(env)
    figures["cluster nodes 2 and 3 joined"] = f"{took:.0f} s"


def main() -> int:
    t_start = time.monotonic()
    reason = start_engine()
    if reason is not None:
        print(f"SKIPPED make test-compose: dockerd cannot start here ({reason})")
        return 0
    env = write_env_file()
    (WORK / "compose.log").unlink(missing_ok=True)  # the logs of an earlier failed run
    compose(*ALL_PROFILES, "down", "-v", "--remove-orphans", check=False, capture=True)
    ok = False
    try:
        build_images()
        step("up -d")
        t0 = time.monotonic()
        compose("up", "-d", "--no-build")
        wait_stack("first up", 420)
        figures["time to healthy (empty volumes, from up -d)"] = f"{time.monotonic() - t0:.0f} s"
        prometheus_started = start_prometheus()
        check_proxy()
        check_identity(env)
        drive_cycle(env)
        check_subject_report()
        before = len(closed_courses())
        wait_targets(prometheus_started)
        check_prometheus(before)
        check_least_privilege(env)
        restart_worker(env)
        bounce_broker(env)
        down_and_up(env, before)
        cluster(env)
        ok = True
    except (Failure, AssertionError, TimeoutError, RuntimeError, OSError) as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        logs = compose("logs", "--no-color", "--tail", "30", capture=True, check=False, quiet=True)
        (WORK / "compose.log").write_text(logs.stdout or "")
        print(f"(last log lines of every container: {WORK / 'compose.log'})", file=sys.stderr)
    finally:
        step("down -v")
        compose(*ALL_PROFILES, "down", "-v", "--remove-orphans", check=False)
    if ok:
        ENV_FILE.unlink(missing_ok=True)  # this run's secrets: the stack they guarded is gone
    figures["make test-compose in all"] = f"{time.monotonic() - t_start:.0f} s"
    print("\n" + "\n".join(f"{k:<45}: {v}" for k, v in figures.items()))
    print("test-compose " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
