"""The tools keep to their own corner: a taken port or namespace is refused in one line before anything is cleared
or started, a health answer from another program never passes for ours, and `make seed` fills the databases a
`make up` then runs on."""
from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from shared.config import PROJECT_ROOT, SERVICES
from tests.e2e.conftest import RETRY_DELAYS_MS
from tests.oidc import provider  # noqa: F401 - a fixture (the loopback provider, tools/dev_oidc)
from tests.helpers import wait_until
from tools.stack import PortBusy, Stack, free_port_base

pytestmark = [pytest.mark.broker]
API = {"Authorization": "Bearer e2e-api"}
ENV = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}


def run_tool(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=PROJECT_ROOT, env={**ENV, **(env or {})},
                          capture_output=True, text=True, timeout=timeout)


def one_line(run: subprocess.CompletedProcess) -> str:
    lines = run.stderr.strip().splitlines()
    assert run.returncode != 0 and len(lines) == 1, (run.returncode, run.stdout[-1000:], run.stderr[-2000:])
    return lines[0]


@pytest.fixture
def taken_port():
    """A port some other program listens on (a bare socket, no HTTP)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", free_port_base(1)))
        s.listen()
        yield s.getsockname()[1]


@pytest.fixture
def namespace():
    name = f"test-tools-{uuid.uuid4().hex[:6]}"
    folder = PROJECT_ROOT / "var" / name
    yield name
    import shutil
    shutil.rmtree(folder, ignore_errors=True)
    (PROJECT_ROOT / "var" / f"{name}.lock").unlink(missing_ok=True)


def test_demo_refuses_a_taken_port_in_one_line_and_clears_nothing(taken_port, namespace):
    folder = PROJECT_ROOT / "var" / namespace
    folder.mkdir(parents=True)
    (folder / "kept").write_text("a previous run's files")
    run = run_tool("tools.demo", "--namespace", namespace, "--port-base", str(taken_port - 2))
    line = one_line(run)
    assert f"{taken_port} (evaluation) already in use" in line and "DEMO_PORT_BASE" in line, line
    assert (folder / "kept").exists()  # checked before the namespace is cleared


def test_demo_refuses_a_namespace_another_demo_holds(namespace):
    lock = PROJECT_ROOT / "var" / f"{namespace}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        run = run_tool("tools.demo", env={"DEMO_NAMESPACE": namespace,
                                          "DEMO_PORT_BASE": str(free_port_base(len(SERVICES)))})
    line = one_line(run)
    assert f"namespace {namespace!r} is in use by another demo" in line and "DEMO_NAMESPACE" in line, line


def test_demo_refuses_a_bad_namespace_or_port_base():
    assert run_tool("tools.demo", "--namespace", "../x").returncode == 2
    assert run_tool("tools.demo", "--port-base", "80").returncode == 2


def test_bench_refuses_a_taken_port_in_one_line_before_it_starts(taken_port):
    run = run_tool("tools.bench", "--skip", "worker", "--skip", "bare", env={"BENCH_PORT_BASE": str(taken_port)})
    line = one_line(run)
    assert line.startswith("bench: port ") and f"{taken_port} (needs) already in use" in line, line
    assert "Benchmark on" not in run.stdout


def test_make_up_refuses_a_taken_port_in_one_line(taken_port, tmp_path, bus):
    run = run_tool("tools.stack", "up", env={**bus.env(), "VAR_DIR": str(tmp_path), "FUNDING_PORT": str(taken_port)})
    line = one_line(run)
    assert line.startswith("make up: port ") and f"{taken_port} (funding)" in line, line


class _Impostor(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}')

    def log_message(self, *args):
        pass


def test_a_health_answer_from_another_program_never_passes_for_ours(tmp_path, bus):
    # Another program takes the port after our check (a race the check alone cannot close) and answers 200.
    base = free_port_base(1)
    stack = Stack({**bus.env(), "VAR_DIR": str(tmp_path), "NEEDS_PORT": str(base), "LOG_LEVEL": "WARNING"},
                  tmp_path / "logs")
    impostor = ThreadingHTTPServer(("127.0.0.1", base), _Impostor)
    threading.Thread(target=impostor.serve_forever, daemon=True).start()
    try:
        stack.start(["needs-web"], port_check=False)  # as if the impostor came after the check
        with pytest.raises(PortBusy, match=f"another program answers on port {base}"):
            stack.wait_ready(timeout=60)  # ours cannot bind and gives up; the impostor's 200 is not taken
    finally:
        stack.stop()
        impostor.shutdown()
        impostor.server_close()


@pytest.mark.slow
def test_make_seed_fills_the_databases_make_up_runs_on(backend, stack_factory, bus):
    urls = {svc: backend.url(f"seed_{svc}") for svc in SERVICES}
    env = {**bus.env(), "RETRY_DELAYS_MS": ",".join(map(str, RETRY_DELAYS_MS)),  # the stack's queues, as make up's
           **{f"{svc.upper()}_DATABASE_URL": url for svc, url in urls.items()}}
    first = run_tool("tools.seed", "--people", "12", "--survey-year", "2026", "--fiscal-year", "2026", env=env,
                     timeout=120)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "'civil_servants': 12" in first.stdout and "'answered': 12" in first.stdout
    again = run_tool("tools.seed", "--people", "12", "--survey-year", "2026", "--fiscal-year", "2026", "--no-migrate",
                     env=env, timeout=120)
    assert again.returncode == 0 and "'civil_servants': 0" in again.stdout  # nothing seeded twice
    assert "'norms': 0, 'budget_lines': 0" in again.stdout

    stack = stack_factory(urls)  # as `make up` runs: same databases, the bus the seed declared its queues on
    stack.start()
    stack.wait_ready()
    needs, courses, _, funding = (stack.url(s) for s in SERVICES)
    # the registry events waiting in needs' outbox reach courses (funding gets them too)
    trainees = wait_until(lambda: (lambda t: t if len(t) == 12 else None)(
        requests.get(f"{courses}/api/v1/trainees", headers=API).json()), timeout=60, what="trainees from needs")
    assert {t["commune_code"] for t in trainees} <= {"CM-THOIBINH", "CM-BIENBACH", "CM-TRIPHAI", "CM-TANLOC",
                                                     "CM-HOTHIKY"}
    assert requests.get(f"{funding}/api/v1/budget-lines", params={"fiscal_year": 2026}).json()
    campaigns = requests.get(f"{needs}/api/v1/campaigns", headers=API).json()
    assert [c["status"] for c in (campaigns.get("items", campaigns) if isinstance(campaigns, dict) else campaigns)
            ] == ["open"]
    stack.stop()


# --- tools/dev_oidc: the development OpenID Connect provider (issue 14) ---------------------------------------


def _token_request(provider, auth=None, **form) -> requests.Response:
    return requests.post(provider.token_url, data=form, auth=auth, timeout=10)


def test_dev_oidc_grants_the_realm_files_clients_and_users_tokens_the_services_accept(provider):
    from shared.auth import OidcVerifier, TokenRefused

    verify = {svc: OidcVerifier(provider.issuer, svc).verify for svc in SERVICES}  # discovery, then the JWKS
    program = _token_request(provider, grant_type="client_credentials", client_id="programs",
                             client_secret="CHANGE-ME")
    assert program.status_code == 200 and program.json()["token_type"] == "Bearer", program.text
    assert {svc: verify[svc](program.json()["access_token"]).roles for svc in SERVICES} == {
        svc: frozenset({"inspector"}) for svc in SERVICES}  # its service account's roles, every service's audience
    basic = _token_request(provider, ("needs", "CHANGE-ME"), grant_type="client_credentials")  # client_secret_basic
    needs_token = basic.json()["access_token"]
    assert verify["courses"](needs_token).subject == "service-account-needs"
    with pytest.raises(TokenRefused, match="InvalidAudience"):  # needs' client reaches the others, not itself
        verify["needs"](needs_token)
    officer = _token_request(provider, grant_type="password", client_id="officer-portal", username="cb.bienbach",
                             password="CHANGE-ME").json()["access_token"]
    principal = verify["courses"](officer)
    assert (principal.subject, principal.roles, principal.unit_code) == (
        "cb.bienbach", frozenset({"commune-officer"}), "CM-BIENBACH")


@pytest.mark.parametrize("form, auth, status, error", [
    ({"grant_type": "client_credentials", "client_id": "programs", "client_secret": "wrong"}, None, 401,
     "invalid_client"),
    ({"grant_type": "client_credentials"}, ("programs", "wrong"), 401, "invalid_client"),
    ({"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "CHANGE-ME"}, None, 401,
     "invalid_client"),
    ({"grant_type": "client_credentials", "client_id": "officer-portal"}, None, 400, "unauthorized_client"),
    ({"grant_type": "client_credentials", "client_id": "courses", "client_secret": "CHANGE-ME"}, None, 400,
     "unauthorized_client"),  # no service account
    ({"grant_type": "password", "client_id": "officer-portal", "username": "cb.bienbach", "password": "x"}, None,
     400, "invalid_grant"),
    ({"grant_type": "password", "client_id": "officer-portal", "username": "service-account-programs",
      "password": ""}, None, 400, "invalid_grant"),
    ({"grant_type": "password", "client_id": "programs", "client_secret": "CHANGE-ME", "username": "to.huyen",
      "password": "CHANGE-ME"}, None, 400, "unauthorized_client"),  # no direct access grants
    ({"grant_type": "authorization_code", "client_id": "officer-portal"}, None, 400, "unsupported_grant_type"),
])
def test_dev_oidc_refuses_bad_token_requests_as_oauth2_errors(provider, form, auth, status, error):
    resp = _token_request(provider, auth, **form)
    assert resp.status_code == status and resp.json()["error"] == error, resp.text


def test_dev_oidc_runs_with_the_compose_command_line_and_keeps_its_key_across_restarts(tmp_path):
    port, key_file = free_port_base(1), tmp_path / "keys" / "signing.pem"
    issuer = f"http://127.0.0.1:{port}/realms/thoibinh"
    kids = []
    for _ in range(2):
        proc = subprocess.Popen([sys.executable, "-m", "tools.dev_oidc", "--realm-file",
                                 "deploy/keycloak/thoibinh-realm.json", "--host", "127.0.0.1", "--port", str(port),
                                 "--key-file", str(key_file)], cwd=PROJECT_ROOT, env=ENV,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            discovery = wait_until(lambda: _get_json(f"{issuer}/.well-known/openid-configuration"), timeout=30,
                                   what="dev_oidc to answer")
            assert discovery["issuer"] == issuer and discovery["token_endpoint"].startswith(issuer)
            kids.append([k["kid"] for k in _get_json(discovery["jwks_uri"])["keys"]])
        finally:
            proc.terminate()
            out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0 and f"issuer {issuer}" in out, err[-2000:]
    assert kids[0] == kids[1] and len(kids[0]) == 1  # the same key (its thumbprint as kid) after the restart
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"


def _get_json(url: str):
    try:
        resp = requests.get(url, timeout=2)
    except requests.ConnectionError:
        return None
    return resp.json() if resp.status_code == 200 else None


# --- tools/dev_oidc's Admin REST API (users): how an administrator links a lecturer's account --------------------


@pytest.fixture
def own_provider():
    """A provider of this test alone (its users' attributes are changed)."""
    from tests.oidc import start_provider
    p = start_provider()
    yield p
    p.close()


def _admin_url(provider, rest: str = "") -> str:
    return f"{provider.issuer.replace('/realms/', '/admin/realms/')}/users{rest}"


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _client_token(provider, client_id: str) -> str:
    return _token_request(provider, grant_type="client_credentials", client_id=client_id,
                          client_secret="CHANGE-ME").json()["access_token"]


def _user_token(provider, username: str) -> str:
    return _token_request(provider, grant_type="password", client_id="officer-portal", username=username,
                          password="CHANGE-ME").json()["access_token"]


def _admin_claims(provider, subject: str, iss: str | None = None, exp_in: int = 300) -> dict:
    """The claims of an administrator's token, to be signed by some key."""
    now = int(time.time())
    return {"iss": iss or provider.issuer, "sub": subject, "aud": "realm-management", "iat": now,
            "exp": now + exp_in, "resource_access": {"realm-management": {"roles": ["manage-users"]}}}


def _admin_calls(provider, headers: dict) -> list[int]:
    """The status of a list, a read and an update of gv.mau with these headers."""
    gv = provider.realm.users["gv.mau"]
    return [requests.get(_admin_url(provider), params={"username": "gv.mau", "exact": "true"}, headers=headers,
                         timeout=10).status_code,
            requests.get(_admin_url(provider, f"/{gv.id}"), headers=headers, timeout=10).status_code,
            requests.put(_admin_url(provider, f"/{gv.id}"), json={"attributes": {"lecturer_id": ["x"]}},
                         headers=headers, timeout=10).status_code]


def test_dev_oidc_admin_api_refuses_a_missing_or_foreign_token_401_and_a_caller_without_manage_users_403(
        own_provider):
    from tools.dev_oidc import SigningKey
    p = own_provider
    admin = _client_token(p, "realm-admin-cli")
    foreign = SigningKey.new("RS256")  # not a key the provider publishes, with its kid
    forged = foreign.sign(_admin_claims(p, "service-account-realm-admin-cli"))
    other_issuer = p.keys[0].sign(_admin_claims(p, "service-account-realm-admin-cli", iss="http://elsewhere/realms/x"))
    expired = p.keys[0].sign(_admin_claims(p, "service-account-realm-admin-cli", exp_in=-60))
    for what, headers in (("no token", {}), ("basic", {"Authorization": "Basic cmVhbG0tYWRtaW4tY2xpOkNIQU5HRS1NRQ=="}),
                          ("garbage", _bearer("not-a-jwt")), ("another key", _bearer(forged)),
                          ("another issuer", _bearer(other_issuer)), ("expired", _bearer(expired)),
                          ("an unknown subject", _bearer(p.token(subject="nobody")))):
        assert _admin_calls(p, headers) == [401, 401, 401], what
        assert requests.get(_admin_url(p), headers=headers, timeout=10).json() == {"error": "HTTP 401 Unauthorized"}
    for what, token in (("programs (inspector)", _client_token(p, "programs")),
                        ("needs' service account", _client_token(p, "needs")),
                        ("the operator", _user_token(p, "vh.mau")), ("the training officer", _user_token(p, "to.huyen")),
                        ("the lecturer", _user_token(p, "gv.mau"))):
        assert _admin_calls(p, _bearer(token)) == [403, 403, 403], what
    assert "lecturer_id" not in p.realm.users["gv.mau"].attributes  # nothing was changed by the refused calls
    # the refusals are the token's and the roles', not the route's: the administrator's token reaches all three
    assert _admin_calls(p, _bearer(admin)) == [200, 200, 204]
    assert requests.get(_admin_url(p, "/no-such-id"), headers=_bearer(admin), timeout=10).status_code == 404
    bad = requests.put(_admin_url(p, f"/{p.realm.users['gv.mau'].id}"), headers=_bearer(admin), timeout=10,
                       json={"attributes": {"lecturer_id": "not-a-list"}})
    assert bad.status_code == 400 and p.realm.users["gv.mau"].attributes == {"lecturer_id": ["x"]}


def test_dev_oidc_admin_api_sets_a_users_attribute_and_the_next_password_grant_token_carries_the_claim(
        own_provider):
    import jwt as pyjwt
    from shared.auth import OidcVerifier, TokenRefused
    p = own_provider
    admin = _client_token(p, "realm-admin-cli")
    claims = pyjwt.decode(admin, options={"verify_signature": False})
    # as Keycloak: the client role in resource_access, its client the audience — no service accepts the token
    assert claims["resource_access"] == {"realm-management": {"roles": ["manage-users"]}}
    assert claims["aud"] == "realm-management" and claims["realm_access"]["roles"] == []
    with pytest.raises(TokenRefused, match="InvalidAudience"):
        OidcVerifier(p.issuer, "courses").verify(admin)
    before = _user_token(p, "gv.mau")

    found = requests.get(_admin_url(p), params={"username": "gv.mau", "exact": "true"}, headers=_bearer(admin),
                         timeout=10)
    assert found.status_code == 200 and [(u["username"], u["attributes"]) for u in found.json()] == [("gv.mau", {})]
    user_id = found.json()[0]["id"]
    put = requests.put(_admin_url(p, f"/{user_id}"), headers=_bearer(admin), timeout=10,
                       json={**found.json()[0], "attributes": {"lecturer_id": ["lect-42"]}})
    assert put.status_code == 204 and put.content == b""
    read = requests.get(_admin_url(p, f"/{user_id}"), headers=_bearer(admin), timeout=10).json()
    assert (read["id"], read["attributes"]) == (user_id, {"lecturer_id": ["lect-42"]})

    verify = OidcVerifier(p.issuer, "courses").verify
    assert verify(_user_token(p, "gv.mau")).lecturer_id == "lect-42"  # the next token carries the claim
    assert verify(before).lecturer_id is None  # a token issued before keeps what it had
    # a search without exact: every user whose name contains it, no service account
    names = [u["username"] for u in requests.get(_admin_url(p), params={"username": "mau"}, headers=_bearer(admin),
                                                 timeout=10).json()]
    assert sorted(names) == ["gv.mau", "tt.mau", "vh.mau"]
    assert "service-account-programs" not in [u["username"] for u in requests.get(
        _admin_url(p), headers=_bearer(admin), timeout=10).json()]


def test_dev_oidc_set_remote_user_attribute_keeps_the_users_other_attributes_and_removes_with_no_value(
        own_provider):
    from shared.auth import OidcVerifier
    from tools.dev_oidc import set_remote_user_attribute
    p = own_provider
    user_id = set_remote_user_attribute(p.issuer, "realm-admin-cli", "CHANGE-ME", "cb.bienbach", "lecturer_id", "l-7")
    assert user_id == p.realm.users["cb.bienbach"].id
    assert p.realm.users["cb.bienbach"].attributes == {"unit_code": ["CM-BIENBACH"], "lecturer_id": ["l-7"]}
    principal = OidcVerifier(p.issuer, "courses").verify(_user_token(p, "cb.bienbach"))
    assert (principal.unit_code, principal.lecturer_id) == ("CM-BIENBACH", "l-7")
    set_remote_user_attribute(p.issuer, "realm-admin-cli", "CHANGE-ME", "cb.bienbach", "lecturer_id")
    assert p.realm.users["cb.bienbach"].attributes == {"unit_code": ["CM-BIENBACH"]}
    with pytest.raises(RuntimeError, match="HTTP 403"):  # a client without manage-users
        set_remote_user_attribute(p.issuer, "programs", "CHANGE-ME", "gv.mau", "lecturer_id", "x")
    with pytest.raises(LookupError):
        set_remote_user_attribute(p.issuer, "realm-admin-cli", "CHANGE-ME", "nobody", "lecturer_id", "x")
