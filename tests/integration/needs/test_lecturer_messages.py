"""Lecturers' messages end to end over real SMTP (aiosmtpd), on SQLite and PostgreSQL (issue 13): courses publishes
courses.lecturer_notice_issued by lecturer id (assigned, session moved, cancelled), needs looks the lecturer up in
its own contact book and mails each notice exactly once — however often the event is redelivered — with the
calendar of the lecturer's own sessions; the rating summary after evaluation.course_evaluated goes once too."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from icalendar import Calendar

from services.needs import usecases as needs_uc
from services.needs.handlers import HANDLERS as NEEDS_HANDLERS
from services.needs.models import Delivery
from shared.db import transaction
from shared.events import decode
from shared.notify import NotifyConfig
from shared.notify.email import SmtpChannel
from tests.events import make_course_evaluated
from tests.notify.servers import SmtpSink
from tests.unit.apps import API_AUTH, build_app, deliver
from tests.unit.courses.factories import (MON, enroll, make_course, make_lecturer, make_trainees, ok, reserve,
                                          schedule, sessions_for)

NOTICE = "courses.lecturer_notice_issued"


@pytest.fixture
def apps(backend):
    courses = build_app("courses", backend.migrated("courses"), migrate=False)
    needs = build_app("needs", backend.migrated("needs"), migrate=False)
    client = courses.test_client()
    ok(client.post("/api/v1/rules/duty-shares", json={"commune_code": "*", "max_absent_percent": 100,
                                                      "note": "tests"}, headers=API_AUTH))
    yield client, needs
    for app in (courses, needs):
        app.extensions["service"].engine.dispose()


def relay(courses_client, needs_app, seen: set[str]) -> int:
    """Hand courses' lecturer notices to needs' handler (what the relay and the consumer do): the new ones, then
    every one again under its own id, as a redelivery would — the inbox would drop those, the claim must too."""
    src = courses_client.application.extensions["service"]
    t = src.outbox.table
    with src.engine.connect() as conn:
        bodies = list(conn.execute(sa.select(t.c.body).where(t.c.event_type == NOTICE).order_by(t.c.seq)).scalars())
    dst = needs_app.extensions["service"]
    new = 0
    for body in bodies:
        env = decode(body)
        new += env.id not in seen
        seen.add(env.id)
        with transaction(dst.session_factory) as s:
            NEEDS_HANDLERS[env.type](env, s, dst.settings)
    return new


def calendar(mail) -> Calendar:
    [part] = [p for p in mail.iter_attachments() if p.get_content_type() == "text/calendar"]
    return Calendar.from_ical(part.get_content())


def test_each_lecturer_gets_exactly_one_mail_per_notice(apps):
    courses, needs_app = apps
    sf = needs_app.extensions["service"].session_factory
    a, b, c = (make_lecturer(courses)["id"] for _ in range(3))
    with transaction(sf) as s:
        needs_uc.set_lecturer_contact(s, a, {"full_name": "TS. Nguyễn Văn An", "email": "gv.an@example.vn"})
        needs_uc.set_lecturer_contact(s, b, {"email": "gv.binh@example.vn", "phone": "0912345678",
                                             "preferred_channel": "email"})
        # c has no contact in needs: their message is recorded as skipped, nothing is sent
    sessions = (sessions_for(a, MON, 1) + sessions_for(b, MON + timedelta(days=1), 1)
                + sessions_for(c, MON + timedelta(days=2), 1))
    course = make_course(courses, sessions=sessions)
    enroll(courses, course["id"], make_trainees(courses, 2))
    reserve(courses, course["id"], schedule(courses, course["id"])["revision"])
    seen: set[str] = set()
    assert relay(courses, needs_app, seen) == 3

    with SmtpSink() as sink:
        channels = {"email": SmtpChannel(NotifyConfig(smtp_host="127.0.0.1", smtp_port=sink.port, attempts=1))}
        assert needs_uc.send_due(sf, channels) == 3
        [mail_a], [mail_b] = sink.to("gv.an@example.vn"), sink.to("gv.binh@example.vn")
        assert mail_a["Subject"] == f"Mời giảng dạy lớp {course['code']}"
        text = mail_a.get_body(("plain",)).get_content()
        assert "Kính gửi giảng viên TS. Nguyễn Văn An" in text and "02/03/2026" in text
        cal = calendar(mail_a)
        [ev] = cal.walk("VEVENT")
        assert str(cal["METHOD"]) == "REQUEST" and int(ev["SEQUENCE"]) == 0

        # a's session moves: only a hears of it; a redelivery of every notice sends nothing more
        moved = next(s for s in ok(courses.get(f"/api/v1/courses/{course['id']}"))["sessions"]
                     if s["lecturer"]["id"] == a)
        ok(courses.patch(f"/api/v1/courses/{course['id']}/sessions/{moved['id']}",
                         json={"date": (MON + timedelta(days=7)).isoformat()}, headers=API_AUTH))
        reserve(courses, course["id"], ok(courses.get(f"/api/v1/courses/{course['id']}"))["revision"])
        assert relay(courses, needs_app, seen) == 1
        needs_uc.send_due(sf, channels)
        assert (len(sink.to("gv.an@example.vn")), len(sink.to("gv.binh@example.vn"))) == (2, 1)
        assert sink.to("gv.an@example.vn")[1]["Subject"] == f"Thay đổi lịch giảng dạy lớp {course['code']}"

        # the course is cancelled: every lecturer told gets METHOD:CANCEL with their next SEQUENCE
        ok(courses.post(f"/api/v1/courses/{course['id']}/cancel", json={"reason": "Bão số 3"}, headers=API_AUTH))
        assert relay(courses, needs_app, seen) == 3
        needs_uc.send_due(sf, channels)
        cancel_a, cancel_b = sink.to("gv.an@example.vn")[2], sink.to("gv.binh@example.vn")[1]
        assert "Bão số 3" in cancel_b.get_body(("plain",)).get_content()
        for mail, seq in ((cancel_a, 2), (cancel_b, 1)):
            cal = calendar(mail)
            [ev] = cal.walk("VEVENT")
            assert str(cal["METHOD"]) == "CANCEL" and int(ev["SEQUENCE"]) == seq

        # the rating after evaluation: once, however often the event comes
        _, body, _ = make_course_evaluated(course_id=course["id"], lecturer_scores=[
            {"lecturer_id": a, "mean": 8.6, "band": "excellent", "responses": 12}])
        for _ in range(2):
            deliver(needs_app, body)
        needs_uc.send_due(sf, channels)
        assert needs_uc.send_due(sf, channels) == 0
        mails_a, mails_b = sink.to("gv.an@example.vn"), sink.to("gv.binh@example.vn")
        assert (len(mails_a), len(mails_b)) == (4, 2)
        rating = mails_a[3]
        assert rating["Subject"] == f"Kết quả lấy ý kiến học viên về giảng viên, lớp {course['code']}"
        assert "8,6/10 (mức Xuất sắc), từ 12 phiếu" in rating.get_body(("plain",)).get_content()
        assert len({m["Message-ID"] for m in mails_a + mails_b}) == 6
    with transaction(sf) as s:
        rows = list(s.scalars(sa.select(Delivery).where(Delivery.recipient_id == c)))
        assert {(d.recipient_kind, d.status) for d in rows} == {("lecturer", "skipped")} and len(rows) == 2
        status = needs_uc.course_deliveries(s, course["id"])
    assert status["by_purpose"] == {"lecturer_notice": {"sent": 5, "skipped": 2}, "lecturer_rating": {"sent": 1}}
