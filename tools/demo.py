"""`make demo`: a Thới Bình training cycle end to end over HTTP, against real RabbitMQ and local SQLite files.

Needs → plan → course → funds → learning → feedback → settlement → closing the loop: seeds the district and a
survey campaign, closes it into needs, approves a yearly plan; courses proposes classes from the plan lines, one is
scheduled and funding reserves its estimate (confirmed); attendance and tests, completion; feedback through the web
form and the API, the report with its index and band; the settlement with its payee list and the ledger balances;
needs met, lecturer ratings and rewards. Prints a summary, stops every process, exits 0.

Runs in its own corner so that it never disturbs a `make up` (or another demo) beside it: a namespace (default
`demo`: folder var/demo, exchange demo.training.events, queues demo.*; held with a lock while it runs) and four
ports (default 8101–8104). On SQLite (default) the databases are files in the folder; `--db postgres` creates four
throw-away PostgreSQL databases and drops them at the end.

Who does what (issue 14): the services run with AUTH_MODE=oidc against the development OpenID Connect provider
(tools/dev_oidc, on a free loopback port, reading deploy/keycloak/thoibinh-realm.json), and each step uses the token
of the sample user whose role does it in real life: the training officer plans and runs courses, the commune
officer of the class's commune manages its enrollments and attendance, the lecturer records results, the finance
officer reads estimates and settlements, the operator calls /admin, the inspector reads the access log. Each step
prints [role · user]. `--auth static` (DEMO_AUTH=static) keeps the development tokens API_TOKEN/ADMIN_TOKEN.

    python -m tools.demo [--db sqlite|postgres] [--auth oidc|static] [--port-base N] [--namespace NAME]
    make demo [DB=postgres] [DEMO_AUTH=static] [DEMO_PORT_BASE=N] [DEMO_NAMESPACE=NAME]   (the same, from the env)

A port already taken, a namespace in use by another demo, an unreachable broker or database server: one line on
stderr and exit code 1, before anything is cleared or started.
"""
from __future__ import annotations

import argparse
import fcntl
import os
import re
import shutil
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import requests

from shared.auth import ROLES
from shared.config import PROJECT_ROOT, SERVICES
from shared.localtime import local_today, to_local
from tools.isolation import (
    AMQP_URL, PG_ADMIN_URL, BusNamespace, create_pg_database, drop_pg_database, pg_error, wait_until,
)
from tools import demo_mail
from tools.dev_oidc import Logins, Provider, Realm, start as start_provider
from tools.stack import BROKER_HINT, PortBusy, Stack, broker_error

API = {"Authorization": "Bearer demo-api-token"}  # AUTH_MODE=static (DEMO_AUTH=static): the development tokens
ADMIN = {"Authorization": "Bearer demo-admin-token"}
TRAINING, COMMUNE, FINANCE, LECTURER, INSPECTOR, OPERATOR = ROLES
AUTH_MODES = ("oidc", "static")


class Callers:
    """Who does each step, as in real life: the bearer headers of a role (a commune officer: of one commune) and a
    printable tag. In oidc mode each role is one of the realm file's sample users, logged in at the development
    provider (password grant); in static mode every role is API_TOKEN (training and finance officer) or ADMIN_TOKEN
    (operator), read from this module when asked, so a caller may point them at other tokens."""

    def __init__(self, logins: Logins | None = None):
        self.logins = logins
        self.mode = "oidc" if logins else "static"

    def __call__(self, role: str, unit: str | None = None) -> dict[str, str]:
        if self.logins is None:
            return ADMIN if role == OPERATOR else API
        return self.logins.headers(self.logins.user(role, unit).username)

    def who(self, role: str, unit: str | None = None) -> str:
        if self.logins is None:
            return f"[{role} · {'ADMIN_TOKEN' if role == OPERATOR else 'API_TOKEN'}]"
        return f"[{role} · {self.logins.user(role, unit).username}]"


def vnd(amount: int) -> str:
    return f"{amount:,}".replace(",", ".") + " ₫"


def local(ts: str | None) -> str:
    return to_local(datetime.fromisoformat(ts)).strftime("%H:%M:%S %d/%m/%Y") if ts else "—"


def call(method: str, url: str, expect: int = 200, **kwargs):
    r = requests.request(method, url, timeout=30, **kwargs)
    if r.status_code != expect:
        raise RuntimeError(f"{method} {url} → {r.status_code}: {r.text[:500]}")
    return r.json()


DEFAULT_NAMESPACE = "demo"
DEFAULT_PORT_BASE = 8101
BACKENDS = ("sqlite", "postgres")
PG_HINT = ("start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, "
           "or point PG_ADMIN_URL at a server where you may create databases")


def demo_bus(namespace: str = DEFAULT_NAMESPACE) -> BusNamespace:
    """The namespace's exchange and queues: `<namespace>.training.events`, `<namespace>.*`."""
    return BusNamespace(exchange=f"{namespace}.training.events", queue_prefix=f"{namespace}.")


DEMO_BUS = demo_bus()


def demo_dir(namespace: str = DEFAULT_NAMESPACE) -> Path:
    return PROJECT_ROOT / "var" / namespace


def demo_env(namespace: str = DEFAULT_NAMESPACE, port_base: int = DEFAULT_PORT_BASE,
             db_urls: dict[str, str] | None = None) -> dict[str, str]:
    """The eight processes' environment: the namespace's folder and bus, ports port_base … port_base + 3, and
    SQLite files in the folder unless `db_urls` (service → URL) says otherwise."""
    var = demo_dir(namespace)
    env = {"VAR_DIR": str(var), **demo_bus(namespace).env(), "API_TOKEN": "demo-api-token",
           "ADMIN_TOKEN": "demo-admin-token", "LOG_LEVEL": "WARNING", "WEB_WORKERS": "1"}
    for i, svc in enumerate(SERVICES):
        env[f"{svc.upper()}_PORT"] = str(port_base + i)
        env[f"{svc.upper()}_DATABASE_URL"] = (db_urls or {}).get(svc) or f"sqlite:///{var / (svc + '.db')}"
    return env


REALM_FILE = PROJECT_ROOT / "deploy" / "keycloak" / "thoibinh-realm.json"


def auth_line(mode: str, provider: Provider | None) -> str:
    if provider is None:
        return ("Xác thực: AUTH_MODE=static (chế độ phát triển, DEMO_AUTH=static): API_TOKEN và ADMIN_TOKEN dùng "
                "chung cho mọi bước")
    return (f"Xác thực: AUTH_MODE=oidc, nhà cung cấp OpenID Connect phát triển {provider.issuer} "
            f"(tools/dev_oidc, {REALM_FILE.relative_to(PROJECT_ROOT)}); mỗi bước ghi [vai trò · người dùng mẫu]")


def until(fetch, ready, timeout: float, what: str):
    """Poll fetch() until ready(result) holds; return the result."""
    return wait_until(lambda: (lambda r: r if ready(r) else None)(fetch()), timeout, what=what)


def run_cycle(stack: Stack, out: Path | None = None, mailbox=None, as_: Callers | None = None) -> None:
    """One cycle over HTTP against `stack` (anything with url(service)); files go to `out` (var/demo/out). With a
    `mailbox` (tools.demo_mail.Mailbox, the SMTP server needs sends to) the civil servants get e-mail contacts and
    the messages are counted at the end. `as_` gives each step the token of the role that does it (default: the
    static development tokens)."""
    as_ = as_ or Callers()
    needs, courses, evaluation, funding = (stack.url(s) for s in SERVICES)
    today = local_today()
    year = min(max(today.year, 2025), 2030)  # inside the 2025–2030 scheme
    out = out or demo_dir() / "out"
    out.mkdir(parents=True, exist_ok=True)

    print("1. Nhu cầu: đơn vị hành chính, sáp nhập 01/07/2025, 111 công chức và đợt khảo sát năng lực năm "
          f"{year} (dữ liệu tổng hợp)")
    seeded = call("POST", f"{needs}/admin/needs/seed", json={"survey_year": year}, headers=as_(OPERATOR))
    units_now = call("GET", f"{needs}/api/v1/units", params={"as_of": today.isoformat()})
    units_old = call("GET", f"{needs}/api/v1/units", params={"as_of": "2025-06-30"})
    print(f"   {as_.who(OPERATOR)} {len(units_old)} đơn vị cấp xã trước 01/07/2025 → {len(units_now)} xã hiện nay; "
          f"{seeded['civil_servants']} công chức được ghi nhận")
    framework = call("GET", f"{needs}/api/v1/frameworks")[0]
    framework = call("GET", f"{needs}/api/v1/frameworks/{framework['id']}")
    print(f"   Khung năng lực {framework['framework']['code']}: {len(framework['competencies'])} năng lực × 5 mức, "
          f"{len(framework['requirements'])} yêu cầu theo vị trí việc làm")
    if mailbox is not None:
        print(f"   {as_.who(TRAINING)} Liên hệ (thư điện tử, người quản lý trực tiếp) cho {demo_mail.give_contacts(needs, as_(TRAINING))} công chức "
              "(địa chỉ tổng hợp, Luật 91/2025/QH15)")
    campaign_id = seeded["survey"]["campaign_id"]
    progress = call("GET", f"{needs}/api/v1/campaigns/{campaign_id}/progress", headers=as_(TRAINING))
    print(f"   {as_.who(TRAINING)} Tiến độ khảo sát (tự đánh giá + cấp trên đánh giá): " + ", ".join(
        f"{names_of(units_now).get(u['commune_code'], u['commune_code'])} {u['complete']}/{u['expected']}"
        for u in progress["units"]))
    closed_campaign = call("POST", f"{needs}/api/v1/campaigns/{campaign_id}/close", headers=as_(TRAINING))
    print(f"   Đóng đợt khảo sát → {closed_campaign['needs']} nhu cầu: {closed_campaign['competency_gap']} do thiếu hụt "
          f"năng lực (yêu cầu − đánh giá), {closed_campaign['standard']} bắt buộc theo tiêu chuẩn vị trí")
    by_topic = call("GET", f"{needs}/api/v1/reports/needs", params={"group_by": "topic_code"})
    for row in sorted(by_topic, key=lambda r: -r["needs"])[:5]:
        print(f"     {row['topic_code']:<16} {row['needs']:>4} nhu cầu ({row['mandatory']} bắt buộc)")
    top = call("GET", f"{needs}/api/v1/needs", params={"page_size": 1}, headers=as_(TRAINING))["items"][0]
    print(f"   Nhu cầu ưu tiên nhất: {top['topic_code']}, điểm {top['priority_score']} = "
          + " + ".join(f"{r['label']} ({r['points']})" for r in top["reasons"]))

    print(f"2. Kế hoạch năm {year}: lập từ nhu cầu chuyên đề KN-CNTT, trình, phê duyệt → needs.plan_approved "
          f"{as_.who(TRAINING)}")
    plan = call("POST", f"{needs}/api/v1/plans", 201, headers=as_(TRAINING), json={
        "year": year, "title": f"Kế hoạch bồi dưỡng năm {year}", "topic_codes": ["KN-CNTT"],
        "targets": [{"commune_code": u["code"], "target_share": 0.3} for u in units_now]})
    plan_lines = [x["line"] for x in plan["lines"]]
    plan = plan["plan"]
    for line in plan_lines:
        print(f"     {line['topic_code']} · {names_of(units_now).get(line['unit_code'], line['unit_code']):<12} "
              f"{line['headcount']:>3} người, quý {line['quarter']}")
    call("POST", f"{needs}/api/v1/plans/{plan['id']}/submit", headers=as_(TRAINING))
    approved = call("POST", f"{needs}/api/v1/plans/{plan['id']}/approve", headers=as_(TRAINING),
                    json={"decision_no": f"QĐ 01/QĐ-UBND-{year}"})
    status = (approved.get("plan") or approved)["status"]
    print(f"   Kế hoạch {PLAN_STATUS_VI.get(status, status)} ({len(plan_lines)} dòng, "
          f"{sum(x['headcount'] for x in plan_lines)} lượt người)")
    call("POST", f"{funding}/admin/funding/seed", json={"fiscal_year": year}, headers=as_(OPERATOR))
    print(f"   {as_.who(OPERATOR)} dự toán mẫu năm {year} nạp vào funding")

    trainees = until(lambda: call("GET", f"{courses}/api/v1/trainees", headers=as_(TRAINING)), lambda t: len(t) >= 111, 60,
                     "courses to receive the 111 civil servants")
    drafts = until(lambda: call("GET", f"{courses}/api/v1/courses", params={"status": "draft"}),
                   lambda c: len([x for x in c if x.get("plan_line_id")]) >= len(plan_lines), 60,
                   "courses to propose one class per plan line")
    print(f"3. Lớp học: đã nhận {len(trainees)} công chức; {len(drafts)} lớp được đề xuất từ các dòng kế hoạch")
    line = max(plan_lines, key=lambda x: x["headcount"])
    course = next(c for c in drafts if c["plan_line_id"] == line["id"])
    commune = line["unit_code"]  # the class is for one commune: its officer enrolls and takes attendance
    candidates = call("GET", f"{courses}/api/v1/courses/{course['id']}/candidates", headers=as_(COMMUNE, commune))
    print(f"   {as_.who(COMMUNE, commune)} Dòng kế hoạch {names_of(units_now).get(line['unit_code'])} → lớp nháp {course['code']} "
          f"«{course['title']}», {len(candidates)} ứng viên xếp theo điểm ưu tiên "
          f"(cao nhất {candidates[0]['priority_score'] if candidates else '—'})")
    lect_a = call("POST", f"{courses}/api/v1/lecturers", 201, json={
        "name": "TS. Lê Minh Khoa", "tier": 3, "degree": "doctor", "pedagogy_certificate": True,
        "years_experience": 12, "topic_codes": ["KN-CNTT"]}, headers=as_(TRAINING))
    if as_.logins:  # an administrator links gv.mau's account to the record (lecturer_id attribute, 403 without)
        as_.logins.realm.set_user_attribute("gv.mau", "lecturer_id", lect_a["id"])
    lect_b = call("POST", f"{courses}/api/v1/lecturers", 201, json={
        "name": "ThS. Trần Thu Hà", "tier": 4, "degree": "master", "pedagogy_certificate": True,
        "years_experience": 6, "topic_codes": ["KN-CNTT"]}, headers=as_(TRAINING))
    if mailbox is not None:  # needs holds the lecturers' contacts (by courses' lecturer id) and sends their notices
        for n, lect in enumerate((lect_a, lect_b), 1):
            call("PUT", f"{needs}/api/v1/lecturer-contacts/{lect['id']}", headers=as_(TRAINING), json={
                "full_name": lect["name"], "email": f"giang-vien-{n}@thoibinh.demo", "preferred_channel": "email"})
        print(f"   {as_.who(TRAINING)} Liên hệ của 2 giảng viên trong danh bạ giảng viên của needs "
              "(thư mời giảng, thay đổi buổi dạy, kết quả đánh giá)")
    venue = call("POST", f"{courses}/api/v1/venues", 201, headers=as_(TRAINING), json={
        "name": "Hội trường UBND xã Thới Bình", "address": "Khóm 1, xã Thới Bình, tỉnh Cà Mau", "capacity": 60,
        "distances": [{"commune_code": c, "km": km} for c, km in (
            ("CM-THOIBINH", 0), ("CM-BIENBACH", 14), ("CM-TRIPHAI", 11), ("CM-TANLOC", 18), ("CM-HOTHIKY", 22))]})
    # The course has taken place already: it started on a Monday 14 weeks ago and lasted 2 days (4 buổi), so its
    # follow-up survey (3–6 months after the course, TT 10/2017) can be opened today.
    start = today - timedelta(days=today.weekday() + 7 * 14)
    call("PATCH", f"{courses}/api/v1/courses/{course['id']}", headers=as_(TRAINING),
         json={"venue_id": venue["id"], "title": "Ứng dụng công nghệ thông tin, chuyển đổi số trong công vụ"})
    sessions = [{"date": (start + timedelta(days=d)).isoformat(), "buoi": buoi, "periods": 4,
                 "lecturer_id": (lect_a if d == 0 else lect_b)["id"]}
                for d in range(2) for buoi in ("morning", "afternoon")]
    call("POST", f"{courses}/api/v1/courses/{course['id']}/sessions", 201, headers=as_(TRAINING), json={"sessions": sessions})
    conflicts = call("GET", f"{courses}/api/v1/courses/{course['id']}/conflicts", headers=as_(TRAINING))
    print(f"   {as_.who(TRAINING)} Xếp 4 buổi (2 ngày) tại {venue['name']}; kiểm tra xung đột: "
          + ("không có" if not conflicts else conflicts[0]["message"]))
    moved = 0
    while any(c["kind"] == "commune_share" for c in conflicts):
        # The commune must keep enough people at work: the lowest-priority candidates move to a later class.
        roster = call("GET", f"{courses}/api/v1/courses/{course['id']}/enrollments", headers=as_(COMMUNE, commune),
                      params={"status": "enrolled"})
        last = min(roster, key=lambda e: (e["priority_score"] or 0))
        call("POST", f"{courses}/api/v1/courses/{course['id']}/enrollments/{last['civil_servant_id']}/withdraw",
             headers=as_(COMMUNE, commune), json={"reason": "Chuyển sang lớp sau để xã đủ người tiếp dân"})
        moved += 1
        conflicts = call("GET", f"{courses}/api/v1/courses/{course['id']}/conflicts", headers=as_(TRAINING))
    if moved:
        print(f"   {as_.who(COMMUNE, commune)} Chuyển {moved} người có điểm ưu tiên thấp nhất sang lớp sau → không còn xung đột")
    call("POST", f"{courses}/api/v1/courses/{course['id']}/schedule", headers=as_(TRAINING))
    course = until(lambda: call("GET", f"{courses}/api/v1/courses/{course['id']}"),
                   lambda c: c["status"] in ("confirmed", "awaiting_funds"), 60, "funding to answer the schedule")
    if course["status"] != "confirmed":
        raise RuntimeError(f"course waits for funds: {course['status_reason']}")
    estimate = call("GET", f"{funding}/api/v1/courses/{course['id']}/estimate", headers=as_(FINANCE))
    print(f"4. Kinh phí {as_.who(FINANCE)}: dự toán {vnd(estimate['estimate_total'])} — "
          + ", ".join(f"{SOURCE_VI.get(k.split('/')[0], k)} {k.split('/')[1]} {vnd(v)}"
                      for k, v in sorted(estimate["by_source"].items())))
    print(f"   Đã giữ kinh phí trên {len(estimate['reserved_lines'])} dòng dự toán → lớp {STATUS_VI[course['status']]}")

    print("5. Học tập: điểm danh, kiểm tra đầu vào/đầu ra năng lực CM06, kết thúc lớp → courses.course_completed")
    roster = call("GET", f"{courses}/api/v1/courses/{course['id']}/enrollments", headers=as_(COMMUNE, commune),
                  params={"status": "enrolled"})
    chosen = [e["civil_servant_id"] for e in roster]
    records, scores = [], []
    for i, cs in enumerate(chosen):
        for j, s in enumerate(course["sessions"]):
            absent = (i == 0) or (i == 1 and j == 3)  # one never came, one missed the last buổi
            records.append({"session_id": s["id"], "civil_servant_id": cs, "present": not absent})
        if i:
            scores += [{"civil_servant_id": cs, "kind": "pre", "competency_code": "CM06", "score": 4.0 + i % 4},
                       {"civil_servant_id": cs, "kind": "post", "competency_code": "CM06",
                        "score": min(10.0, 7.0 + i % 4)}]
    call("POST", f"{courses}/api/v1/courses/{course['id']}/attendance", 201, headers=as_(COMMUNE, commune),
         json={"records": records})
    print(f"   {as_.who(COMMUNE, commune)} điểm danh {len(records)} lượt (học viên × buổi)")
    call("POST", f"{courses}/api/v1/courses/{course['id']}/results", 201, headers=as_(LECTURER), json={"scores": scores})
    print(f"   {as_.who(LECTURER)} ghi {len(scores)} điểm kiểm tra đầu vào/đầu ra")
    t0 = time.monotonic()
    call("POST", f"{courses}/api/v1/courses/{course['id']}/complete", headers=as_(TRAINING))
    certificates = call("GET", f"{courses}/api/v1/courses/{course['id']}/certificates", headers=as_(COMMUNE, commune))
    closed = until(lambda: call("GET", f"{courses}/api/v1/courses/{course['id']}"),
                   lambda c: c["status"] == "closed", 60, "the course to close")
    print(f"   {as_.who(TRAINING)} kết thúc lớp: {len(chosen)} học viên, {len(certificates)} chứng chỉ ({certificates[0]['certificate_no'] if certificates else '—'} …); "
          f"lớp đóng sau {time.monotonic() - t0:.2f} s: {closed['closing']['feedback_request_count']} phiếu lấy ý kiến, "
          f"quyết toán {vnd(closed['closing']['settlement_total'])}")

    print("6. Đánh giá: học viên trả lời phiếu (thang 1–10) qua trang web và API; nhắc người chưa trả lời")
    links = call("GET", f"{evaluation}/api/v1/courses/{course['id']}/feedback-requests", headers=as_(TRAINING))
    page = requests.post(f"{evaluation}/feedback/{links[0]['token']}", timeout=10, data={
        "q1": 9, "q2": 8, "q3": 9, "q4": 8, "q5": 9})
    print(f"   Trang /feedback/<mã> (HTML, không cần JavaScript): HTTP {page.status_code}"
          f"{' — «Phiếu đã được ghi nhận»' if 'ghi nhận' in page.text else ''}")
    patterns = [(8, 8, 9, 7, 8), (10, 9, 9, 9, 8), (7, 7, 8, 8, 6), (9, 9, 10, 8, 9), (8, 7, 9, 8, 7),
                (9, 8, 9, 9, 9)][:max(0, len(links) - 3)]
    patterns.append((8, None, 9, None, 8))  # leaves 2 of 5 unanswered: invalid (> 5 %, TT 10/2017)
    lecturer_ids = [lect_a["id"], lect_b["id"]]
    for req, p in zip(links[1:], patterns):  # the last trainee does not answer and gets a reminder
        scores = dict(zip(("content", "methods", "lecturer", "organisation", "applicability"), p))
        call("POST", f"{evaluation}/api/v1/feedback/{req['token']}", 201, json={
            "scores": scores, "comment": "Nội dung thiết thực, cần thêm bài tập thực hành.",
            "lecturers": {lid: {"lec_knowledge": 9, "lec_ethics": 9, "lec_responsibility": 9, "lec_methods": 8,
                                "lec_testing": 8} for lid in lecturer_ids}})
    again = requests.post(f"{evaluation}/api/v1/feedback/{links[0]['token']}", timeout=10, json={"scores": {"content": 1}})
    reminded = call("POST", f"{evaluation}/api/v1/courses/{course['id']}/reminders", headers=as_(TRAINING))
    print(f"   {as_.who(TRAINING)} {1 + len(patterns)}/{len(links)} phiếu đã gửi; gửi lại cùng đường dẫn bị từ chối (HTTP {again.status_code}); "
          f"đã tạo {reminded['count']} thông báo nhắc (evaluation.feedback_reminder_issued)")
    evaluated = call("POST", f"{evaluation}/api/v1/courses/{course['id']}/close-feedback", headers=as_(TRAINING))
    report = call("GET", f"{evaluation}/api/v1/reports/courses/{course['id']}")
    for fmt, path in (("svg", "charts/criteria"), ("png", "charts/gain")):
        chart = requests.get(f"{evaluation}/api/v1/reports/courses/{course['id']}/{path}", params={"format": fmt}, timeout=30)
        (out / f"{path.split('/')[-1]}.{fmt}").write_bytes(chart.content)
    print(f"   Đóng đợt lấy ý kiến → evaluation.course_evaluated: chỉ số chung {evaluated['index']} / 10, "
          f"xếp loại {evaluated['band_label']}, tỉ lệ phản hồi {evaluated['response_rate'] * 100:.0f} %")

    print("7. Khép vòng: nhu cầu được đáp ứng, điểm giảng viên, khen thưởng học viên xuất sắc")
    coverage = until(lambda: call("GET", f"{needs}/api/v1/reports/plan-coverage", params={"plan_id": plan["id"]}),
                     lambda c: sum(r.get("trained") or 0 for r in c) > 0, 60, "needs to mark trained people")
    for row in coverage:
        print(f"     {names_of(units_now).get(row['commune_code'], row['commune_code']):<12} kế hoạch {row['planned']:>3}, "
              f"đã học {row['trained']:>3}, mục tiêu {row['target']}")
    rated = until(lambda: call("GET", f"{courses}/api/v1/lecturers/{lect_b['id']}"),
                  lambda x: x.get("rating_count", 0) > 0 or x.get("ratings"), 60, "courses to record lecturer ratings")
    print(f"   Giảng viên {lect_b['name']}: điểm đánh giá trung bình {rated.get('average_rating')}")
    incentives = until(lambda: call("GET", f"{funding}/api/v1/incentives", params={"course_id": course["id"]},
                                    headers=as_(FINANCE)),
                       lambda x: True, 30, "funding incentives")
    print(f"   {as_.who(FINANCE)} Khen thưởng học viên xuất sắc: {len(incentives)} người, "
          f"{vnd(sum(x['amount'] for x in incentives))}")

    settlement = call("GET", f"{funding}/api/v1/settlements/{course['id']}", headers=as_(FINANCE))
    payees = call("GET", f"{funding}/api/v1/settlements/{course['id']}/payees", params={"format": "json"},
                  headers=as_(FINANCE))
    xlsx = requests.get(f"{funding}/api/v1/settlements/{course['id']}/payees", params={"format": "xlsx"},
                        headers=as_(FINANCE), timeout=30)
    (out / "danh-sach-ky-nhan.xlsx").write_bytes(xlsx.content)
    lines = call("GET", f"{funding}/api/v1/budget-lines", params={"fiscal_year": start.year})
    verify = call("GET", f"{funding}/admin/funding/verify", headers=as_(OPERATOR))
    names = {x["id"]: x["name"] for x in (lect_a, lect_b)} | names_of(units_now)
    followups = follow_up(evaluation, course["id"], as_)
    if mailbox is not None:
        rated_lecturers = len(report.get("lecturer_scores") or [])  # those with enough valid forms
        demo_mail.report(needs, as_(OPERATOR), mailbox, out, expect={
            **followups, "lecturer_notice": 2, **({"lecturer_rating": rated_lecturers} if rated_lecturers else {})})
    access_log(stack, as_)
    print_summary(closed, report, evaluated, settlement, payees, lines, verify, names, out)


def follow_up(evaluation: str, course_id: str, as_: Callers) -> dict[str, int]:
    """The training officer opens the course's follow-up survey (L3/L4) now; evaluation's job asks each trainee and
    their direct supervisor. Returns the links per respondent (what needs must have sent)."""
    call("POST", f"{evaluation}/api/v1/courses/{course_id}/followup", headers=as_(TRAINING))
    links = until(lambda: call("GET", f"{evaluation}/api/v1/courses/{course_id}/followup-requests",
                               headers=as_(TRAINING)), bool, 60, "evaluation to open the follow-up survey")
    by = {r: sum(1 for x in links if x["respondent"] == r) for r in sorted({x["respondent"] for x in links})}
    print(f"   {as_.who(TRAINING)} Khảo sát hiệu quả sau khóa học (3–6 tháng, TT 10/2017): "
          + ", ".join(f"{n} phiếu {RESPONDENT_VI.get(r, r)}" for r, n in by.items()))
    return {f"followup_{r}": n for r, n in by.items()}


def access_log(stack, as_: Callers) -> None:
    """The inspector reads each service's access log (who read or wrote whose record, in which role); in oidc mode
    the static token is refused."""
    print("9. Quyền truy cập (Luật 91/2025/QH15, Nghị định 356/2025/NĐ-CP): mỗi bước dùng mã truy cập của vai trò "
          f"thực hiện nó (AUTH_MODE={as_.mode})")
    if as_.mode == "static":
        print("   Chế độ phát triển (DEMO_AUTH=static): API_TOKEN là cán bộ đào tạo và tài chính, ADMIN_TOKEN là "
              "vận hành; không có vai trò thanh tra nên bỏ qua nhật ký truy cập")
        return
    for svc in SERVICES:
        entries = call("GET", f"{stack.url(svc)}/api/v1/access-log", params={"limit": 1000}, headers=as_(INSPECTOR))
        by_role: dict[str, int] = {}
        for e in entries:
            by_role[e["role"]] = by_role.get(e["role"], 0) + 1
        print(f"   {as_.who(INSPECTOR)} nhật ký truy cập dữ liệu cá nhân của {svc}: {len(entries)} lượt gần nhất — "
              + ", ".join(f"{role} {n}" for role, n in sorted(by_role.items())))
    refused = requests.get(f"{stack.url('needs')}/api/v1/civil-servants", headers=API, timeout=10)
    print(f"   Mã tĩnh API_TOKEN khi AUTH_MODE=oidc: HTTP {refused.status_code} (bị từ chối)")
    if refused.status_code != 401:
        raise RuntimeError(f"the static token was answered {refused.status_code} in oidc mode")


RESPONDENT_VI = {"trainee": "học viên", "supervisor": "người quản lý trực tiếp"}
SOURCE_VI = {"state_dtbd": "ngân sách ĐT-BD", "unit_regular": "kinh phí thường xuyên của xã cử đi học",
             "individual": "cá nhân", "sponsorship": "tài trợ", "programme": "chương trình, đề án"}
OBJECT_VI = {"programme": "Chương trình, tài liệu", "learners": "Người học", "lecturers": "Giảng viên",
             "facilities": "Cơ sở vật chất, phục vụ", "organisation": "Tổ chức lớp học",
             "effectiveness": "Hiệu quả sau khóa học"}
BAND_VI = {"poor": "kém", "weak": "yếu", "average": "trung bình", "good": "khá", "excellent": "xuất sắc"}
PLAN_STATUS_VI = {"draft": "dự thảo", "submitted": "đã trình", "approved": "đã được phê duyệt"}
STATUS_VI = {"draft": "bản nháp", "scheduled": "đã xếp lịch, chờ kinh phí", "awaiting_funds": "chờ kinh phí",
             "confirmed": "đã xác nhận", "in_progress": "đang học", "completed": "đã kết thúc, chờ đóng",
             "closed": "đã đóng", "cancelled": "đã hủy"}


def names_of(units: list[dict]) -> dict[str, str]:
    return {u["code"]: u["name"] for u in units}


def print_summary(course, report, evaluated, settlement, payees, lines, verify, names, out) -> None:
    bar = "─" * 78
    print(f"\n{bar}\nTÓM TẮT KHÓA HỌC {course['code']} — {course['title']}\n{bar}")
    print(f"Trạng thái lớp           : {STATUS_VI[course['status']]} ({course['status']}) "
          f"lúc {local(course['closing']['closed_at'])}")
    print(f"Phiếu lấy ý kiến         : {report['requests']} gửi, {report['responses']} trả lời, "
          f"{report['valid_responses']} hợp lệ (phiếu bỏ trống > 5 % chỉ tiêu bị loại, TT 10/2017)")
    for code, mean in (report.get("object_scores") or {}).items():
        print(f"   {OBJECT_VI.get(code, code):<36}: {mean}")
    for lec in report.get("lecturer_scores") or []:
        print(f"   Giảng viên {names.get(lec['lecturer_id'], lec['lecturer_id']):<25}: {lec['mean']} "
              f"({BAND_VI.get(lec['band'], lec['band'])})")
    print(f"Chỉ số chung             : {evaluated['index']} / 10 → xếp loại {evaluated['band_label']}")
    for gain in report.get("learning_gain") or []:
        print(f"Kết quả học tập {gain.get('competency_code') or '':<8} : trước {gain['pre_mean']} → sau {gain['post_mean']} "
              f"(tăng {gain['gain']})")
    print(f"Quyết toán               : {vnd(settlement['total'])} (dự toán {vnd(settlement['estimate_total'] or 0)}, "
          f"chênh lệch {vnd(settlement['variance'] or 0)}, hoàn trả phần giữ chưa chi {vnd(settlement['released'] or 0)})")
    for item, amount in settlement["by_item"].items():
        label = next((x["item_label"] for x in settlement["lines"] if x["item"] == item), item)
        print(f"   {label[:44]:<44}: {vnd(amount):>14}")
    print(f"Danh sách ký nhận        : {len(payees['payees'])} người nhận, tổng {vnd(payees['total'])} "
          f"→ {out / 'danh-sach-ky-nhan.xlsx'}")
    print("Số dư dự toán (tái lập từ sổ cái: " + ("khớp" if verify.get("consistent") else "KHÔNG khớp") + "):")
    for b in lines:
        if b["spent"] or b["reserved"]:
            print(f"   {b['fiscal_year']} {b['source_label'][:44]:<44} {names.get(b['owner_unit_code'], b['owner_unit_code']):<12} "
                  f"đã chi {vnd(b['spent']):>13}  còn {vnd(b['balance']):>16}")
    print(f"Biểu đồ                  : {out / 'criteria.svg'}, {out / 'gain.png'}")
    print(bar)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=(*BACKENDS, "postgresql"), default=os.environ.get("DB") or "sqlite",
                        help="database backend (default: $DB or sqlite)")
    parser.add_argument("--port-base", type=int, default=int(os.environ.get("DEMO_PORT_BASE") or DEFAULT_PORT_BASE),
                        help="web ports N … N+3 for needs, courses, evaluation, funding "
                             f"(default: $DEMO_PORT_BASE or {DEFAULT_PORT_BASE})")
    parser.add_argument("--auth", choices=AUTH_MODES, default=os.environ.get("DEMO_AUTH") or "oidc",
                        help="oidc: a development OpenID Connect provider (tools/dev_oidc) and per-role tokens; "
                             "static: the development tokens API_TOKEN/ADMIN_TOKEN (default: $DEMO_AUTH or oidc)")
    parser.add_argument("--namespace", default=os.environ.get("DEMO_NAMESPACE") or DEFAULT_NAMESPACE,
                        help="folder var/<NAME>, exchange <NAME>.training.events, queues <NAME>.* "
                             f"(default: $DEMO_NAMESPACE or {DEFAULT_NAMESPACE})")
    args = parser.parse_args(argv)
    if args.db == "postgresql":
        args.db = "postgres"
    if not re.fullmatch(r"[a-z][a-z0-9_-]{0,39}", args.namespace):
        parser.error(f"namespace {args.namespace!r}: lower-case letters, digits, '_' or '-', starting with a letter")
    if not 1024 <= args.port_base <= 65535 - len(SERVICES):
        parser.error(f"port base {args.port_base}: between 1024 and {65535 - len(SERVICES)}")
    return args


def lock_namespace(namespace: str):
    """Hold var/<namespace>.lock for this run; None when another demo holds it."""
    path = PROJECT_ROOT / "var" / f"{namespace}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def refuse(message: str) -> int:
    print(message, file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    err = broker_error(AMQP_URL)
    if err:
        return refuse(f"RabbitMQ is not reachable at {AMQP_URL} ({err}); {BROKER_HINT}.")
    if args.db == "postgres":
        err = pg_error()
        if err:
            return refuse(f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({err}); {PG_HINT}.")
    lock = lock_namespace(args.namespace)
    if lock is None:
        return refuse(f"demo: namespace {args.namespace!r} is in use by another demo (var/{args.namespace}.lock); "
                      "run this one with DEMO_NAMESPACE=<name> and DEMO_PORT_BASE=<port> (--namespace, --port-base)")
    try:
        probe = Stack(demo_env(args.namespace, args.port_base), None)
        try:
            probe.check_ports(hint="choose others with DEMO_PORT_BASE=<port> (make demo) or --port-base")
        except PortBusy as exc:
            return refuse(f"demo: {exc}")
        return run(args)
    finally:
        lock.close()


def run(args: argparse.Namespace) -> int:
    """The demo in its namespace: clear it, make the databases, start the stack, one cycle, stop, drop."""
    var = demo_dir(args.namespace)
    bus = demo_bus(args.namespace)
    shutil.rmtree(var, ignore_errors=True)
    bus.delete()  # every demo starts from empty queues (its own namespace only)
    urls: dict[str, str] = {}
    mailbox = provider = None
    t0 = time.monotonic()
    try:
        if args.db == "postgres":
            for svc in SERVICES:
                urls[svc] = create_pg_database(f"{args.namespace.replace('-', '_')}_{svc}")
        mailbox = demo_mail.Mailbox().__enter__()  # the SMTP server the needs worker sends to (stopped below)
        env = {**demo_env(args.namespace, args.port_base, urls), **mailbox.env()}
        callers = Callers()
        if args.auth == "oidc":  # the development provider on a free loopback port, the realm file's sample users
            realm = Realm.load(REALM_FILE)
            provider = start_provider(realm)
            env.update(provider.service_env())
            callers = Callers(Logins(provider.issuer, realm))
        stack = Stack(env, var / "logs")
        where = "PostgreSQL (cơ sở dữ liệu tạm, xóa khi kết thúc)" if urls else f"SQLite ({var})"
        print(f"Khởi tạo cơ sở dữ liệu {where} và khởi động 8 tiến trình (4 web gunicorn + 4 worker) "
              f"trên cổng {args.port_base}–{args.port_base + len(SERVICES) - 1}…")
        print(auth_line(args.auth, provider))
        stack.migrate()
        try:
            stack.start()
            stack.wait_ready()
            run_cycle(stack, var / "out", mailbox, callers)
        except PortBusy as exc:
            stack.stop()
            return refuse(f"demo: {exc}")
        except Exception as exc:  # noqa: BLE001 - report, stop everything, fail
            print(f"DEMO FAILED: {exc}\nLogs: {stack.log_dir}", file=sys.stderr)
            stack.stop()
            return 1
        codes = stack.stop()
    finally:
        if mailbox is not None:
            mailbox.__exit__(None, None, None)
        if provider is not None:
            provider.close()
        for url in urls.values():
            drop_pg_database(url)
    bad = {k: v for k, v in codes.items() if v != 0}
    print("Đã dừng tất cả tiến trình" + (f" (mã thoát khác 0: {bad})" if bad else " (mã thoát 0).")
          + f" Thời gian: {time.monotonic() - t0:.1f} s.")
    if not bad:
        bus.delete()  # leave no queues behind (a failed run keeps them, dead letters included, to look at)
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
