"""`make demo`: a Thới Bình training cycle end to end over HTTP, against real RabbitMQ and local SQLite files.

Seeds the district, drafts a course, enrolls trainees from several communes, schedules it (funding reserves the
budget and the course is confirmed), records attendance,
completes the course, waits for the feedback requests and the settlement, submits feedback, prints a
summary, stops every process, exits 0. Runs in its own corner (var/demo, demo.* exchange and queues,
ports 8101–8104) so that it never disturbs a `make up` running beside it.
"""
from __future__ import annotations

import shutil
import sys
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import requests

from shared.config import PROJECT_ROOT, SERVICES
from tools.isolation import AMQP_URL, BusNamespace, wait_until
from tools.stack import BROKER_HINT, Stack, broker_error

VN = ZoneInfo("Asia/Ho_Chi_Minh")
API = {"Authorization": "Bearer demo-api-token"}
ADMIN = {"Authorization": "Bearer demo-admin-token"}


def vnd(amount: int) -> str:
    return f"{amount:,}".replace(",", ".") + " ₫"


def local(ts: str | None) -> str:
    return datetime.fromisoformat(ts).astimezone(VN).strftime("%H:%M:%S %d/%m/%Y") if ts else "—"


def call(method: str, url: str, expect: int = 200, **kwargs):
    r = requests.request(method, url, timeout=30, **kwargs)
    if r.status_code != expect:
        raise RuntimeError(f"{method} {url} → {r.status_code}: {r.text[:500]}")
    return r.json()


DEMO_BUS = BusNamespace(exchange="demo.training.events", queue_prefix="demo.")


def demo_env() -> dict[str, str]:
    var = PROJECT_ROOT / "var" / "demo"
    env = {"VAR_DIR": str(var), **DEMO_BUS.env(), "API_TOKEN": "demo-api-token", "ADMIN_TOKEN": "demo-admin-token", "LOG_LEVEL": "WARNING",
           "WEB_WORKERS": "1"}
    for i, svc in enumerate(SERVICES):
        env[f"{svc.upper()}_PORT"] = str(8101 + i)
        env[f"{svc.upper()}_DATABASE_URL"] = f"sqlite:///{var / (svc + '.db')}"
    return env


def run_cycle(stack: Stack) -> None:
    needs, courses, evaluation, funding = (stack.url(s) for s in SERVICES)
    today = datetime.now(VN).date()

    print("1. Nhu cầu: nạp đơn vị hành chính, sáp nhập 01/07/2025 và 111 công chức (dữ liệu tổng hợp)")
    seeded = call("POST", f"{needs}/admin/needs/seed", json={}, headers=ADMIN)
    units_now = call("GET", f"{needs}/api/v1/units", params={"as_of": today.isoformat()})
    units_old = call("GET", f"{needs}/api/v1/units", params={"as_of": "2025-06-30"})
    print(f"   {len(units_old)} đơn vị cấp xã trước 01/07/2025 → {len(units_now)} xã hiện nay; "
          f"{seeded['civil_servants']} công chức được ghi nhận")
    call("POST", f"{funding}/admin/funding/seed", json={"fiscal_year": today.year}, headers=ADMIN)

    trainees = wait_until(lambda: (lambda t: t if len(t) >= 111 else None)(
        call("GET", f"{courses}/api/v1/trainees", headers=API)), 60, what="courses to receive the 111 civil servants")
    print(f"   Dịch vụ lớp học đã nhận {len(trainees)} công chức qua sự kiện needs.civil_servant_registered")

    print("2. Lớp học: mở lớp chuyên đề, xếp 6 buổi (3 ngày), ghi danh học viên từ 5 xã, xếp lịch → giữ kinh phí")
    lect_a = call("POST", f"{courses}/api/v1/lecturers", 201, json={
        "name": "TS. Lê Minh Khoa", "tier": 3, "degree": "doctor", "pedagogy_certificate": True,
        "years_experience": 12, "topic_codes": ["KN-VANBAN"]}, headers=API)
    lect_b = call("POST", f"{courses}/api/v1/lecturers", 201, json={
        "name": "ThS. Trần Thu Hà", "tier": 4, "degree": "master", "pedagogy_certificate": True,
        "years_experience": 6, "topic_codes": ["KN-VANBAN", "KN-CNTT"]}, headers=API)
    venue = call("POST", f"{courses}/api/v1/venues", 201, headers=API, json={
        "name": "Hội trường UBND xã Thới Bình", "address": "Khóm 1, xã Thới Bình, tỉnh Cà Mau", "capacity": 60,
        "distances": [{"commune_code": c, "km": km} for c, km in (
            ("CM-THOIBINH", 0), ("CM-BIENBACH", 14), ("CM-TRIPHAI", 11), ("CM-TANLOC", 18), ("CM-HOTHIKY", 22))]})
    start = today - timedelta(days=today.weekday() + 7)  # Monday of last week: the course has taken place
    sessions = []
    for d in range(3):
        for buoi in ("morning", "afternoon"):
            sessions.append({"date": (start + timedelta(days=d)).isoformat(), "buoi": buoi,
                             "lecturer_id": (lect_a if d < 2 else lect_b)["id"]})
    course = call("POST", f"{courses}/api/v1/courses", 201, headers=API, json={
        "code": f"TB-{today.year}-VB01", "title": "Kỹ năng soạn thảo văn bản hành chính",
        "organizer_unit_code": "CM-THOIBINH", "topic_code": "KN-VANBAN", "venue_id": venue["id"],
        "sessions": sessions})
    by_commune: dict[str, list[str]] = {}
    for t in trainees:
        by_commune.setdefault(t["commune_code"], []).append(t["civil_servant_id"])
    # at most 5 per commune and never more than 30 % of its staff on one day (the commune must still serve citizens)
    chosen = [cs for commune in sorted(by_commune)
              for cs in by_commune[commune][:min(5, len(by_commune[commune]) * 30 // 100)]]
    call("POST", f"{courses}/api/v1/courses/{course['id']}/enrollments", 201, headers=API,
         json={"civil_servant_ids": chosen})
    print(f"   Lớp {course['code']} «{course['title']}»: {len(course['sessions'])} buổi, "
          f"{len(chosen)} học viên từ {len(by_commune)} xã (bản nháp)")
    call("POST", f"{courses}/api/v1/courses/{course['id']}/schedule", headers=API)
    confirmed = wait_until(lambda: (lambda c: c if c["status"] in ("confirmed", "awaiting_funds") else None)(
        call("GET", f"{courses}/api/v1/courses/{course['id']}")), 60, what="funding to answer the schedule")
    if confirmed["status"] != "confirmed":
        raise RuntimeError(f"course waits for funds: {confirmed['status_reason']}")
    print(f"   Xếp lịch không xung đột → courses.course_scheduled; kinh phí dự toán "
          f"{vnd(confirmed['estimate_total'] or 0)} đã được giữ → lớp được xác nhận ({confirmed['status']})")

    print("3. Điểm danh: đa số đủ buổi, vài người vắng một buổi hoặc một ngày, một người vắng cả khóa")
    records = []
    for i, cs in enumerate(chosen):
        for j, s in enumerate(course["sessions"]):
            absent = (i == 0) or (i in (1, 2) and j == 5) or (i == 3 and s["date"] == course["sessions"][0]["date"])
            records.append({"session_id": s["id"], "civil_servant_id": cs, "present": not absent})
    call("POST", f"{courses}/api/v1/courses/{course['id']}/attendance", 201, headers=API, json={"records": records})

    print("4. Kết thúc lớp → sự kiện courses.course_completed → lấy ý kiến học viên + quyết toán kinh phí")
    t0 = time.monotonic()
    call("POST", f"{courses}/api/v1/courses/{course['id']}/complete", headers=API)
    closed = wait_until(lambda: (lambda c: c if c["status"] == "closed" else None)(
        call("GET", f"{courses}/api/v1/courses/{course['id']}")), 60, what="the course to close")
    print(f"   Lớp đóng sau {time.monotonic() - t0:.2f} s: đã gửi {closed['closing']['feedback_request_count']} "
          f"phiếu lấy ý kiến lúc {local(closed['closing']['feedback_requested_at'])}, "
          f"quyết toán {vnd(closed['closing']['settlement_total'])} lúc {local(closed['closing']['settled_at'])}")

    print("5. Học viên gửi phiếu đánh giá (thang 1–10)")
    requests_ = call("GET", f"{evaluation}/api/v1/courses/{course['id']}/feedback-requests", headers=API)
    patterns = [(9, 8, 9, 8, 9), (8, 8, 9, 7, 8), (10, 9, 9, 9, 8), (7, 7, 8, 8, 6), (9, 9, 10, 8, 9),
                (8, 7, 9, 8, 7), (6, 7, 8, 7, 6), (9, 8, 9, 9, 9), (8, 9, 9, 8, 8), (9, 9, 9, 9, 10),
                (7, 8, 8, 8, 7), (8, None, 9, None, 8)]  # the last leaves 2 of 5 unanswered: invalid (> 5 %)
    for req, p in zip(requests_, patterns):
        scores = dict(zip(("content", "methods", "lecturer", "organisation", "applicability"), p))
        call("POST", f"{evaluation}/api/v1/feedback/{req['token']}", 201,
             json={"scores": scores, "comment": "Nội dung thiết thực, cần thêm bài tập thực hành."})
    again = requests.post(f"{evaluation}/api/v1/feedback/{requests_[0]['token']}", timeout=10,
                          json={"scores": {"content": 1}})
    print(f"   {len(patterns)} phiếu đã gửi; gửi lại cùng đường dẫn bị từ chối (HTTP {again.status_code})")

    summary = call("GET", f"{evaluation}/api/v1/courses/{course['id']}/feedback-summary")
    settlement = call("GET", f"{funding}/api/v1/settlements/{course['id']}")
    lines = call("GET", f"{funding}/api/v1/budget-lines", params={"fiscal_year": start.year})
    names = {x["id"]: x["name"] for x in (lect_a, lect_b)} | {u["code"]: u["name"] for u in units_now}
    print_summary(course, closed, summary, settlement, lines, names)


STATUS_VI = {"draft": "bản nháp", "scheduled": "đã xếp lịch, chờ kinh phí", "awaiting_funds": "chờ kinh phí",
             "confirmed": "đã xác nhận", "in_progress": "đang học", "completed": "đã kết thúc, chờ đóng",
             "closed": "đã đóng", "cancelled": "đã hủy"}


def print_summary(course, closed, summary, settlement, lines, names) -> None:
    bar = "─" * 78
    print(f"\n{bar}\nTÓM TẮT KHÓA HỌC {course['code']} — {course['title']}\n{bar}")
    print(f"Trạng thái lớp           : {STATUS_VI[closed['status']]} ({closed['status']}) "
          f"lúc {local(closed['closing']['closed_at'])}")
    print(f"Phiếu lấy ý kiến         : {summary['requests']} gửi, {summary['responses']} trả lời "
          f"({summary['response_rate'] * 100:.0f} %), {summary['valid_responses']} hợp lệ")
    for code, label in summary["criteria_labels"].items():
        mean = summary["means"].get(code)
        print(f"   {label:<36}: {mean if mean is not None else '—'}")
    print(f"Chỉ số chung             : {summary['index']} / 10 → xếp loại {summary['band_label']}")
    print(f"Quyết toán               : {vnd(settlement['total'])} (thù lao giảng viên {vnd(settlement['lecturer_fees'])}, "
          f"hỗ trợ học viên {vnd(settlement['learner_support'])})")
    fees = [x for x in settlement["lines"] if x["item"] == "lecturer_fee"]
    for x in fees:
        print(f"   {names.get(x['payee_ref'], x['payee_ref']):<26}: {x['quantity']} buổi × {vnd(x['unit_amount'])}"
              f" = {vnd(x['amount'])}")
    support = [x for x in settlement["lines"] if x["item"] == "learner_support"]
    print(f"   Hỗ trợ {len(support)} học viên theo số ngày thực học ({sum(x['quantity'] for x in support)} ngày), "
          f"chi từ kinh phí thường xuyên của xã cử đi học")
    print("Số dư dự toán (từ sổ cái):")
    for b in lines:
        print(f"   {b['fiscal_year']} {b['source_label'][:44]:<44} {names.get(b['owner_unit_code'], b['owner_unit_code']):<15} "
              f"đã chi {vnd(b['spent']):>14}  còn {vnd(b['balance']):>16}")
    print(bar)


def main() -> int:
    url = AMQP_URL
    err = broker_error(url)
    if err:
        print(f"RabbitMQ is not reachable at {url} ({err}); {BROKER_HINT}.", file=sys.stderr)
        return 1
    env = demo_env()
    shutil.rmtree(env["VAR_DIR"], ignore_errors=True)
    DEMO_BUS.delete()  # every demo starts from empty queues
    stack = Stack(env, PROJECT_ROOT / "var" / "demo" / "logs")
    print("Khởi tạo cơ sở dữ liệu và khởi động 8 tiến trình (4 web gunicorn + 4 worker)…")
    stack.migrate()
    stack.start()
    try:
        stack.wait_ready()
        run_cycle(stack)
    except Exception as exc:  # noqa: BLE001 - report, stop everything, fail
        print(f"DEMO FAILED: {exc}\nLogs: {stack.log_dir}", file=sys.stderr)
        stack.stop()
        return 1
    codes = stack.stop()
    bad = {k: v for k, v in codes.items() if v != 0}
    print("Đã dừng tất cả tiến trình" + (f" (mã thoát khác 0: {bad})" if bad else " (mã thoát 0)."))
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
