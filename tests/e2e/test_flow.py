"""The heart of the system end to end: processes started as `make up` starts them (the Procfile, each
process directly), a training cycle over HTTP, and `make demo` itself. The services run in AUTH_MODE=oidc against the
loopback OpenID Connect provider (tests/oidc.py, i.e. tools/dev_oidc): each step is done with the token of the role
that does it in real life, obtained from the provider's token endpoint for the realm file's sample users."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid

import pytest
import requests

from services.needs.seed import synthetic_civil_servants
from shared.config import PROJECT_ROOT, SERVICES
from tests.helpers import wait_until
from tools.demo import COMMUNE, FINANCE, INSPECTOR, LECTURER, OPERATOR, TRAINING, Callers
from tools.dev_oidc import Logins
from tools.stack import free_port_base

pytestmark = [pytest.mark.slow, pytest.mark.broker]
STATIC_API = {"Authorization": "Bearer e2e-api"}  # the development tokens the stack is also given: refused in oidc
STATIC_ADMIN = {"Authorization": "Bearer e2e-admin"}


def ok(resp, status=200):
    assert resp.status_code == status, f"{resp.request.method} {resp.url} → {resp.status_code} {resp.text[:300]}"
    return resp.json()


def test_completing_a_course_triggers_feedback_collection_and_settlement_then_closes_it(backend, stack_factory,
                                                                                         provider):
    # SQLite files under a private VAR_DIR, as `make up` uses by default; or one PostgreSQL database per service
    urls = {svc: backend.url(f"e2e_{svc}") for svc in SERVICES} if backend.is_postgres else {}
    stack = stack_factory(urls, provider)
    stack.migrate()
    stack.start()
    stack.wait_ready()
    needs, courses, evaluation, funding = (stack.url(s) for s in SERVICES)
    as_ = Callers(Logins(provider.issuer, provider.realm))  # role (and commune) → a sample user's bearer token
    API, ADMIN = as_(TRAINING), as_(OPERATOR)  # the training officer runs the course, the operator calls /admin

    # the development tokens are configured too, and refused: AUTH_MODE=oidc takes the provider's tokens only
    for url, static in ((f"{courses}/api/v1/trainees", STATIC_API), (f"{needs}/admin/outbox", STATIC_ADMIN)):
        assert requests.get(url, headers=static).status_code == 401
    assert requests.get(f"{needs}/admin/outbox", headers=API).status_code == 403  # a valid token, not an operator

    ok(requests.post(f"{needs}/admin/needs/seed", json={"civil_servants": 30}, headers=ADMIN))
    ok(requests.post(f"{funding}/admin/funding/seed", json={"fiscal_year": 2026}, headers=ADMIN))
    trainees = wait_until(lambda: (lambda t: t if len(t) == 30 else None)(
        ok(requests.get(f"{courses}/api/v1/trainees", headers=API))), timeout=30, what="trainees synced from needs")
    communes = {t["commune_code"] for t in trainees}
    assert len(communes) == 5  # the 12 former units arrive as today's 5 communes
    commune_of = {t["civil_servant_id"]: t["commune_code"] for t in trainees}

    # 10 of 30 people would take more than the default 30 % of a small commune's staff on one day: this cycle is
    # about closing, the on-duty share is tested in tests/unit/courses.
    ok(requests.post(f"{courses}/api/v1/rules/duty-shares", json={"commune_code": "*", "max_absent_percent": 100,
                                                                 "note": "e2e"}, headers=API))
    lecturer = ok(requests.post(f"{courses}/api/v1/lecturers", json={
        "name": "GV A", "tier": 2, "degree": "master", "pedagogy_certificate": True, "years_experience": 5},
        headers=API), 201)
    # an administrator links the sample lecturer's account to the record (Keycloak's lecturer_id user attribute):
    # without it gv.mau's token may record nothing
    provider.set_user_attribute("gv.mau", "lecturer_id", lecturer["id"])
    venue = ok(requests.post(f"{courses}/api/v1/venues", json={
        "name": "Hội trường xã Thới Bình", "address": "Thới Bình, Cà Mau", "capacity": 40,
        "distances": [{"commune_code": c, "km": 0} for c in sorted(communes)]}, headers=API), 201)
    course = ok(requests.post(f"{courses}/api/v1/courses", headers=API, json={
        "code": "E2E-1", "title": "Kỹ năng giao tiếp", "organizer_unit_code": "CM-THOIBINH",
        "topic_code": "KN-GIAOTIEP", "venue_id": venue["id"],
        "sessions": [{"date": d, "buoi": b, "lecturer_id": lecturer["id"]}
                     for d in ("2026-03-02", "2026-03-03") for b in ("morning", "afternoon")]}), 201)
    assert course["status"] == "draft"
    chosen = [t["civil_servant_id"] for t in trainees[:10]]
    by_commune: dict[str, list[str]] = {}
    for cs in chosen:
        by_commune.setdefault(commune_of[cs], []).append(cs)
    assert len(by_commune) > 1
    # each commune's officer enrolls the commune's own people; another commune's person is refused (403)
    first, other = sorted(by_commune)[:2]
    refused = requests.post(f"{courses}/api/v1/courses/{course['id']}/enrollments", headers=as_(COMMUNE, first),
                            json={"civil_servant_ids": by_commune[other][:1]})
    assert refused.status_code == 403 and refused.json()["code"] == 403, refused.text[:300]
    for commune, ids in by_commune.items():
        ok(requests.post(f"{courses}/api/v1/courses/{course['id']}/enrollments", json={"civil_servant_ids": ids},
                         headers=as_(COMMUNE, commune)), 201)
    # scheduling publishes courses.course_scheduled; funding's worker reserves the budget and confirms the course
    assert ok(requests.post(f"{courses}/api/v1/courses/{course['id']}/schedule", headers=API))["revision"] == 1
    wait_until(lambda: ok(requests.get(f"{courses}/api/v1/courses/{course['id']}"))["status"] == "confirmed",
               timeout=30, what="funding to reserve the budget and confirm the course")
    sessions = course["sessions"]
    # trainee 0 never comes; trainee 1 misses the whole second day; everyone else attends all four buổi
    records = [{"session_id": s["id"], "civil_servant_id": cs,
                "present": not (i == 0 or (i == 1 and s["date"] == "2026-03-03"))}
               for i, cs in enumerate(chosen) for s in sessions]
    # attendance: each commune's officer for its own people (the lecturer may as well: its results below)
    for commune in by_commune:
        ok(requests.post(f"{courses}/api/v1/courses/{course['id']}/attendance", headers=as_(COMMUNE, commune),
                         json={"records": [r for r in records if commune_of[r["civil_servant_id"]] == commune]}), 201)
    ok(requests.post(f"{courses}/api/v1/courses/{course['id']}/results", headers=as_(LECTURER), json={"scores": [
        {"civil_servant_id": cs, "kind": kind, "competency_code": "CM06", "score": score}
        for cs in chosen[2:4] for kind, score in (("pre", 5.0), ("post", 8.0))]}), 201)
    roster = {r["civil_servant_id"]: r for r in ok(requests.get(
        f"{courses}/api/v1/courses/{course['id']}/enrollments", headers=API))}
    assert [(roster[cs]["sessions_attended"], roster[cs]["days_attended"]) for cs in chosen[:3]] == [
        (0, 0), (2, 1), (4, 2)]
    done = ok(requests.post(f"{courses}/api/v1/courses/{course['id']}/complete", headers=API))
    assert done["status"] == "completed"
    again = requests.post(f"{courses}/api/v1/courses/{course['id']}/complete", headers=API)
    assert again.status_code == 409  # completing twice is refused: one course_completed per course

    closed = wait_until(lambda: (lambda c: c if c["status"] == "closed" else None)(
        ok(requests.get(f"{courses}/api/v1/courses/{course['id']}"))), timeout=60, what="the course to close")
    assert closed["closing"]["state"] == "closed"
    assert closed["closing"]["feedback_request_count"] == 9  # the trainee who never came is not asked

    settlement = ok(requests.get(f"{funding}/api/v1/settlements/{course['id']}", headers=as_(FINANCE)))
    # sample norms in force on 2026-03-02: tier 2 = 2,000,000/buổi; learner support 150,000/day attended
    assert settlement["lecturer_fees"] == 4 * 2_000_000
    # meals are paid per day attended: 8 people × 2 days + 1 person × 1 day (TT 36/2018 Art. 4)
    meals = [x for x in settlement["lines"] if x["item"] == "learner_support"]
    assert sum(x["quantity"] for x in meals) == 8 * 2 + 1 * 1 and {x["unit_amount"] for x in meals} == {150_000}
    assert closed["closing"]["settlement_total"] == settlement["total"] == sum(x["amount"] for x in settlement["lines"])
    lines = ok(requests.get(f"{funding}/api/v1/budget-lines", params={"fiscal_year": 2026}))
    assert sum(b["spent"] for b in lines) == settlement["total"]
    assert all(b["balance"] == b["allocated"] - b["spent"] for b in lines)

    reqs = ok(requests.get(f"{evaluation}/api/v1/courses/{course['id']}/feedback-requests", headers=API))
    assert len(reqs) == 9 and len({r["token"] for r in reqs}) == 9
    for r in reqs[:4]:
        ok(requests.post(f"{evaluation}/api/v1/feedback/{r['token']}", json={"scores": {
            "content": 8, "methods": 8, "lecturer": 9, "organisation": 7, "applicability": 8}}), 201)
    assert requests.post(f"{evaluation}/api/v1/feedback/{reqs[0]['token']}",
                         json={"scores": {"content": 1}}).status_code == 409
    live = ok(requests.get(f"{evaluation}/api/v1/courses/{course['id']}/feedback-summary"))
    assert (live["responses"], live["index"], live["suppressed_reason"]) == (4, None, "window_open")
    ok(requests.post(f"{evaluation}/api/v1/courses/{course['id']}/close-feedback", headers=API))
    summary = ok(requests.get(f"{evaluation}/api/v1/courses/{course['id']}/feedback-summary"))
    # TT 10/2017 chain: objects programme 8, lecturers (8 + 9)/2, organisation 7, effectiveness 8 → 7.875
    assert (summary["responses"], summary["index"], summary["band"]) == (4, 7.88, "good")

    for svc in SERVICES:  # closing the window published evaluation.course_evaluated: every outbox drains
        wait_until(lambda: ok(requests.get(f"{stack.url(svc)}/admin/outbox", headers=ADMIN))["pending"] == 0,
                   timeout=30, what=f"{svc}'s outbox to drain")
    # the inspector reads who did what: courses recorded each role under the sample user's subject
    logged = ok(requests.get(f"{courses}/api/v1/access-log", params={"limit": 1000}, headers=as_(INSPECTOR)))
    assert {(e["subject"], e["role"]) for e in logged} >= {
        (as_.logins.user(COMMUNE, c).username, COMMUNE) for c in by_commune} | {
        ("to.huyen", TRAINING), ("gv.mau", LECTURER)}
    assert requests.get(f"{courses}/api/v1/access-log", headers=API).status_code == 403
    codes = stack.stop()
    assert codes == {name: 0 for name in stack.commands}  # SIGTERM: each one finished its work and exited 0
    log = "".join(p.read_text() for p in stack.log_dir.glob("*.log"))
    # Personal data never reaches the logs: no name of the seeded civil servants in any process's output.
    leaked = [p["full_name"] for p in synthetic_civil_servants(30) if p["full_name"] in log]
    assert leaked == []


@pytest.fixture
def demo_namespace():
    """A private demo namespace (folder, exchange, queues), so the test never meets a `make demo` beside it."""
    name = f"test-demo-{uuid.uuid4().hex[:6]}"
    yield name
    shutil.rmtree(PROJECT_ROOT / "var" / name, ignore_errors=True)
    (PROJECT_ROOT / "var" / f"{name}.lock").unlink(missing_ok=True)
    from tools.demo import demo_bus
    demo_bus(name).delete()


def test_make_demo_runs_the_cycle_and_exits_zero(backend, demo_namespace):
    # `make demo` / `make demo DB=postgres`, on free ports and a private namespace
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}",
           "DB": backend.name, "DEMO_PORT_BASE": str(free_port_base(len(SERVICES))), "DEMO_NAMESPACE": demo_namespace}
    run = subprocess.run([sys.executable, "-m", "tools.demo"], cwd=PROJECT_ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    if backend.is_postgres:  # its four throw-away databases are gone
        prefix = demo_namespace.replace("-", "_")
        assert scalar_pg(f"SELECT count(*) FROM pg_database WHERE datname LIKE '{prefix}%'") == 0
    assert "TÓM TẮT KHÓA HỌC" in run.stdout and "closed" in run.stdout
    # the story the issues ask the demo to show: needs → plan, plan line → course, funds reserved, confirmed,
    # feedback and the report's index and band, the settlement's payee list, the ledger balance
    for step in ("Đóng đợt khảo sát →", "Kế hoạch đã được phê duyệt", "lớp được đề xuất từ các dòng kế hoạch",
                 "Đã giữ kinh phí", "lớp đã xác nhận", "«Phiếu đã được ghi nhận»", "Chỉ số chung", "xếp loại",
                 "Danh sách ký nhận", "tái lập từ sổ cái: khớp", "Khen thưởng học viên xuất sắc",
                 "8. Thông báo", "mời trả lời phiếu lấy ý kiến", "nhắc trả lời phiếu", "Thư mời mẫu"):
        assert step in run.stdout, step
    # issue 13: the messages reached the local SMTP sink, one invitation saved with its calendar
    out = PROJECT_ROOT / "var" / demo_namespace / "out"
    assert (out / "thu-moi.eml").stat().st_size > 0 and [p for p in out.glob("*.ics")]
    sent = re.search(r"(\d+) thư đã gửi, (\d+) thư máy chủ nhận", run.stdout)
    assert sent and int(sent.group(1)) == int(sent.group(2)) > 0, run.stdout[-2000:]
    # issue 13: the follow-up survey reached trainees and their supervisors
    for purpose in ("khảo sát sau khóa học (học viên)", "khảo sát sau khóa học (người quản lý trực tiếp)"):
        mails = re.search(re.escape(purpose) + r"\s+(\d+)", run.stdout)
        assert mails and int(mails.group(1)) > 0, (purpose, run.stdout[-2500:])
    # issue 14: AUTH_MODE=oidc, every step by the sample user of its role, the static token refused
    assert "AUTH_MODE=oidc" in run.stdout and "Mã tĩnh API_TOKEN khi AUTH_MODE=oidc: HTTP 401" in run.stdout
    for tag in ("[operator · vh.mau]", "[training-officer · to.huyen]", "[commune-officer · cb.", "[lecturer · gv.mau]",
                "[finance-officer · tc.huyen]", "[inspector · tt.mau]"):
        assert tag in run.stdout, tag
    logged = dict(re.findall(r"nhật ký truy cập dữ liệu cá nhân của (\w+): \d+ lượt gần nhất — (.*)", run.stdout))
    assert "commune-officer" in logged["courses"] and "lecturer" in logged["courses"], logged
    assert "finance-officer" in logged["funding"] and "API_TOKEN" not in run.stdout.split("9. Quyền")[0]


def test_make_demo_keeps_the_static_development_tokens_as_an_explicit_switch(demo_namespace):
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}", "DB": "sqlite",
           "DEMO_AUTH": "static", "DEMO_PORT_BASE": str(free_port_base(len(SERVICES))),
           "DEMO_NAMESPACE": demo_namespace}
    run = subprocess.run([sys.executable, "-m", "tools.demo"], cwd=PROJECT_ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "AUTH_MODE=static" in run.stdout and "[commune-officer · API_TOKEN]" in run.stdout
    assert "[operator · ADMIN_TOKEN]" in run.stdout and "vh.mau" not in run.stdout


def scalar_pg(sql: str):
    from tests.e2e.conftest import scalar
    from tests.helpers import PG_ADMIN_URL
    return scalar(PG_ADMIN_URL, sql)


def test_make_demo_says_how_to_start_rabbitmq_when_it_is_unreachable():
    env = {**os.environ, "AMQP_URL": "amqp://guest:guest@127.0.0.1:1//",
           "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
    run = subprocess.run([sys.executable, "-m", "tools.demo"], cwd=PROJECT_ROOT, env=env, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "RabbitMQ is not reachable" in lines[0] and "rabbitmq-server -detached" in lines[0]
