"""The nginx proxy of deploy/nginx in front of a real gunicorn web (issue 12, finding 1): 200 idle and half-header
connections do not stop /health/live from answering within a second; a burst of wrong-token requests gets 429s;
an over-limit body is 413 in the JSON shape; the configuration passes `nginx -t`.

Debian's nginx (`make tools`) on loopback 8401-8404, the needs web under gunicorn (deploy/gunicorn.conf.py: 2
workers × 4 threads, the set-up that 8-16 idle connections stalled) on a free port."""
from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from shared.config import PROJECT_ROOT, SERVICES
from tests.helpers import wait_until
from tools.stack import free_ports, port_free, render_proxy_config

pytestmark = pytest.mark.slow
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
PROXY_PORTS = {service: 8401 + i for i, service in enumerate(SERVICES)}
TOKEN = "proxy-test-token"


def _render(tmp: Path, web_port: int, upstreams: dict[str, str] | None = None, **settings: str) -> Path:
    return render_proxy_config(tmp, {s: f"127.0.0.1:{p}" for s, p in PROXY_PORTS.items()},
                               {s: f"127.0.0.1:{web_port}" for s in SERVICES} | (upstreams or {}), **settings)


def _live(base: str) -> bool:
    try:
        return requests.get(base + "/health/live", timeout=1).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    """The needs web under gunicorn, as `python -m shared.serve needs` runs it."""
    from shared.migrate import upgrade
    tmp = tmp_path_factory.mktemp("proxy-web")
    url = f"sqlite:///{tmp / 'needs.db'}"
    upgrade("needs", url)
    [port] = free_ports(1)
    env = {**os.environ, "NEEDS_DATABASE_URL": url, "NEEDS_PORT": str(port), "HTTP_HOST": "127.0.0.1",
           "API_TOKEN": TOKEN, "ADMIN_TOKEN": TOKEN + "-admin", "WEB_WORKERS": "2", "WEB_THREADS": "4"}
    log = open(tmp / "web.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "shared.serve", "needs"], cwd=PROJECT_ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: _live(f"http://127.0.0.1:{port}"), timeout=60)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def proxy_dir(tmp_path_factory) -> Path:
    """nginx's prefix: the rendered configuration, error.log, access.log and nginx's own stderr (nginx.stderr)."""
    return tmp_path_factory.mktemp("nginx")


@pytest.fixture(scope="module")
def proxy(web, proxy_dir):
    """The proxy on 8401-8404, every upstream the needs web but evaluation's: a closed port (upstream errors)."""
    if NGINX is None:
        pytest.skip("Debian's nginx is not installed (make tools)")
    busy = [p for p in PROXY_PORTS.values() if not port_free(p)]
    if busy:
        pytest.fail(f"ports {busy} are taken: the proxy test needs 8401-8404")
    [closed] = free_ports(1)
    # One credentialed request a minute after the burst of 20: at the default 10r/s a loaded CI machine refilled
    # the bucket while the 100 requests were still going, and the request after the burst was let through (401).
    conf = _render(proxy_dir, web, {"evaluation": f"127.0.0.1:{closed}"}, PROXY_AUTH_RATE="1r/m")
    stderr = open(proxy_dir / "nginx.stderr", "wb")
    proc = subprocess.Popen([NGINX, "-p", str(conf.parent), "-c", str(conf), "-e", "stderr"],
                            stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
    base = f"http://127.0.0.1:{PROXY_PORTS['needs']}"
    try:
        wait_until(lambda: proc.poll() is not None or _live(base), timeout=20)
        assert proc.poll() is None, (proxy_dir / "nginx.stderr").read_text()
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        stderr.close()


def test_the_config_passes_nginx_t(tmp_path):
    if NGINX is None:
        pytest.skip("Debian's nginx is not installed (make tools)")
    conf = _render(tmp_path, 8409)
    out = subprocess.run([NGINX, "-t", "-p", str(conf.parent), "-c", str(conf), "-e", "stderr"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "syntax is ok" in out.stderr


def test_the_compose_entry_point_renders_exactly_the_templates_variables():
    script = (PROJECT_ROOT / "deploy" / "nginx" / "start.sh").read_text()
    template = (PROJECT_ROOT / "deploy" / "nginx" / "templates" / "thoibinh.conf.template").read_text()
    assert set(re.findall(r"\$\{(\w+)\}", template)) == set(re.findall(r"\$\{(\w+)\}", script))


def test_200_idle_and_half_header_connections_leave_health_answering_within_a_second(proxy, capsys):
    sockets = []
    try:
        for i in range(200):
            s = socket.create_connection(("127.0.0.1", PROXY_PORTS["needs"]), timeout=5)
            if i % 4 == 0:  # half a request header, never finished
                s.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            sockets.append(s)
        time.sleep(0.5)  # every connection established and waiting at the proxy
        times = []
        for _ in range(10):
            t0 = time.perf_counter()
            resp = requests.get(proxy + "/health/live", timeout=1)
            times.append(time.perf_counter() - t0)
            assert resp.status_code == 200
        with capsys.disabled():
            print(f"\n/health/live with 200 idle connections: max {max(times) * 1000:.0f} ms, "
                  f"median {sorted(times)[5] * 1000:.0f} ms")
        assert max(times) < 1.0
    finally:
        for s in sockets:
            s.close()


def test_a_burst_of_wrong_token_requests_gets_429s(proxy, capsys):
    codes = []
    with requests.Session() as session:
        for i in range(100):
            codes.append(session.post(proxy + "/api/v1/civil-servants", json={},
                                      headers={"Authorization": f"Bearer guess-{i}"}, timeout=5).status_code)
    limited = codes.count(429)
    with capsys.disabled():
        print(f"\n100 wrong-token requests in a burst: {codes.count(401)} × 401, {limited} × 429")
    assert limited >= 50 and set(codes) <= {401, 429}
    resp = requests.post(proxy + "/api/v1/civil-servants", json={}, headers={"Authorization": "Bearer x"})
    assert resp.status_code == 429
    assert resp.json()["code"] == 429 and resp.headers.get("Retry-After")
    # Requests without credentials are not counted in the credential zone.
    assert requests.get(proxy + "/health/live", timeout=1).status_code == 200


def test_an_over_limit_body_is_413_in_the_json_shape(proxy):
    resp = requests.post(proxy + "/api/v1/civil-servants", data=b"{" + b" " * (2 << 20) + b"}",
                         headers={"Content-Type": "application/json"}, timeout=10)
    assert resp.status_code == 413
    assert resp.json()["code"] == 413
    # The open feedback routes are a small class: 100 KB is refused there.
    resp = requests.post(proxy + "/api/v1/feedback/abc", data=b"x" * 100_000, timeout=10)
    assert resp.status_code == 413


def test_tokens_in_feedback_and_check_in_paths_reach_no_proxy_log(proxy, proxy_dir):
    """nginx writes the request line into every error-log message of a request (rate limit, refused body, upstream
    error): on the feedback and check-in routes the path is a trainee's link. Each of those failures on them, and
    the same upstream error on a route without a token, then neither log may hold the token."""
    token = "tok" + secrets.token_urlsafe(16)
    evaluation = f"http://127.0.0.1:{PROXY_PORTS['evaluation']}"  # its upstream is a closed port
    codes = [requests.post(f"{proxy}/api/v1/feedback/{token}", json={}, headers={"Authorization": "Bearer x"},
                           timeout=5).status_code for _ in range(30)]
    assert 429 in codes, codes  # the credential zone: a burst of 20, then one a minute
    assert requests.post(f"{proxy}/feedback/{token}", data=b"x" * 100_000, timeout=10).status_code == 413
    for path in (f"/feedback/{token}", f"/api/v1/feedback/{token}", f"/checkin/{token}", f"/api/v1/checkin/{token}",
                 f"/checkin/me/{token}"):
        assert requests.get(evaluation + path, timeout=10).status_code == 503, path
    assert requests.get(evaluation + "/health/live", timeout=10).status_code == 503
    time.sleep(0.2)
    logs = {name: (proxy_dir / name).read_text(errors="replace") for name in ("error.log", "access.log",
                                                                            "nginx.stderr")}
    for name, text in logs.items():
        assert token not in text, f"{name}: " + next(line for line in text.splitlines() if token in line)
    # The check can fail: the upstream error of a route without a token is still logged, with its request line.
    assert re.search(r'connect\(\) failed .*request: "GET /health/live', logs["error.log"]), logs["error.log"][-2000:]
    # What the error log no longer says, the access log does, without the path.
    access = logs["access.log"]
    assert re.search(r'"POST" 429 .* route=feedback ', access) and re.search(r'"POST" 413 .* route=feedback ', access)
    assert re.search(r'"GET" 503 .* route=checkin upstream=127\.0\.0\.1:\d+ upstream_status=502', access), \
        access[-1500:]


def test_metrics_are_not_served_through_the_proxy(proxy, web):
    assert requests.get(f"http://127.0.0.1:{web}/metrics", timeout=5).status_code == 200
    resp = requests.get(proxy + "/metrics", timeout=5)
    assert resp.status_code == 404 and resp.json()["code"] == 404
