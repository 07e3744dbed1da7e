"""Public HTTP API of the courses service (/api/v1), the iCalendar and document downloads, and the QR check-in page."""
from __future__ import annotations

import html
import io

from flask import Blueprint as FlaskBlueprint, Response, request
from flask_smorest import Blueprint

from services.courses import domain, schemas, usecases
from shared import tabular
from shared.errors import DomainError
from shared.tabular import Column
from shared.web import ctx, download, status_of, token_required

blp = Blueprint("courses", __name__, url_prefix="", description="Lớp học, buổi học, ghi danh, điểm danh, kết thúc")


# --- reference data, lecturers, venues ----------------------------------------------------------------------------

@blp.route("/topics")
@blp.response(200, schemas.TopicSchema(many=True))
def list_topics():
    """List the topics ("chuyên đề") with their competencies and content areas."""
    with ctx().transaction() as session:
        return usecases.list_topics(session)


@blp.route("/topics", methods=["POST"])
@token_required
@blp.arguments(schemas.TopicCreateSchema)
@blp.response(201, schemas.TopicSchema)
def create_topic(data):
    """Add a topic ("chuyên đề") with its content area, competencies and fostering types."""
    with ctx().transaction() as session:
        return usecases.create_topic(session, data)


@blp.route("/lecturers", methods=["POST"])
@token_required
@blp.arguments(schemas.LecturerCreateSchema)
@blp.response(201, schemas.LecturerSchema)
def create_lecturer(data):
    """Register a lecturer with tier, qualifications and topics."""
    with ctx().transaction() as session:
        return usecases.create_lecturer(session, data)


@blp.route("/lecturers")
@blp.arguments(schemas.LecturerQueryArgsSchema, location="query")
@blp.response(200, schemas.LecturerSchema(many=True))
def list_lecturers(args):
    """List lecturers; with topic and date: those teaching it, available first, then by average rating."""
    with ctx().transaction() as session:
        return usecases.list_lecturers(session, args["topic"], args["date"], args["buoi"])


@blp.route("/lecturers/<lecturer_id>")
@blp.response(200, schemas.LecturerDetailSchema)
def get_lecturer(lecturer_id):
    """Show a lecturer, the standards check and their rating history."""
    with ctx().transaction() as session:
        return usecases.get_lecturer(session, lecturer_id)


@blp.route("/venues", methods=["POST"])
@token_required
@blp.arguments(schemas.VenueCreateSchema)
@blp.response(201, schemas.VenueSchema)
def create_venue(data):
    """Register a venue with capacity, address and distance from each commune."""
    with ctx().transaction() as session:
        return usecases.create_venue(session, data)


@blp.route("/venues/<venue_id>", methods=["PATCH"])
@token_required
@blp.arguments(schemas.VenueUpdateSchema)
@blp.response(200, schemas.VenueSchema)
def update_venue(data, venue_id):
    """Edit a venue (a new distance table makes its booked courses ask funding again)."""
    with ctx().transaction() as session:
        return usecases.update_venue(session, venue_id, data)


@blp.route("/venues")
@blp.arguments(schemas.VenueQueryArgsSchema, location="query")
@blp.response(200, schemas.VenueSchema(many=True))
def list_venues(args):
    """List venues."""
    with ctx().transaction() as session:
        return usecases.list_venues(session, args["min_capacity"])


@blp.route("/trainees")
@token_required
@blp.arguments(schemas.TraineeQueryArgsSchema, location="query")
@blp.response(200, schemas.TraineeSchema(many=True))
def list_trainees(args):
    """List the civil servants known to courses (synchronised from needs); per-person data: token required."""
    with ctx().transaction() as session:
        return usecases.list_trainees(session, args["commune_code"])


# --- courses ------------------------------------------------------------------------------------------------------

@blp.route("/courses", methods=["POST"])
@token_required
@blp.arguments(schemas.CourseCreateSchema)
@blp.response(201, schemas.CourseSchema)
def create_course(data):
    """Create a draft course (sessions optional); POST …/schedule books it and asks funding."""
    with ctx().transaction() as session:
        course = usecases.create_course(session, data)
        return usecases.get_course(session, course.id)


@blp.route("/courses")
@blp.arguments(schemas.CourseQueryArgsSchema, location="query")
@blp.response(200, schemas.CourseSummarySchema(many=True))
def list_courses(args):
    """List courses, newest first (filter by status, topic_code)."""
    with ctx().transaction() as session:
        return usecases.list_courses(session, args["status"], args["topic_code"])


@blp.route("/courses/<course_id>")
@blp.response(200, schemas.CourseSchema)
def get_course(course_id):
    """Show a course, its sessions, funding state and where its closing stands."""
    with ctx().transaction() as session:
        return usecases.get_course(session, course_id)


@blp.route("/courses/<course_id>", methods=["PATCH"])
@token_required
@blp.arguments(schemas.CourseUpdateSchema)
@blp.response(200, schemas.CourseSchema)
def update_course(data, course_id):
    """Edit a course; a booked course is re-scheduled (conflicts re-checked, new revision to funding)."""
    with ctx().transaction() as session:
        usecases.update_course(session, course_id, data)
        return usecases.get_course(session, course_id)


@blp.route("/courses/<course_id>/sessions", methods=["POST"])
@token_required
@blp.arguments(schemas.SessionsAddSchema)
@blp.response(201, schemas.CourseSchema)
def add_sessions(data, course_id):
    """Add sessions to a course (re-checked and re-scheduled when the course is booked)."""
    with ctx().transaction() as session:
        usecases.add_sessions(session, course_id, data["sessions"])
        return usecases.get_course(session, course_id)


@blp.route("/courses/<course_id>/sessions/<session_id>", methods=["PATCH"])
@token_required
@blp.arguments(schemas.SessionUpdateSchema)
@blp.response(200, schemas.CourseSchema)
def update_session(data, course_id, session_id):
    """Change a session (date, buổi, times, lecturer, venue); conflicts are checked again."""
    with ctx().transaction() as session:
        usecases.update_session(session, course_id, session_id, data)
        return usecases.get_course(session, course_id)


@blp.route("/courses/<course_id>/sessions/<session_id>", methods=["DELETE"])
@token_required
@blp.response(200, schemas.CourseSchema)
def delete_session(course_id, session_id):
    """Remove a session without attendance."""
    with ctx().transaction() as session:
        usecases.delete_session(session, course_id, session_id)
        return usecases.get_course(session, course_id)


@blp.route("/courses/<course_id>/conflicts")
@token_required
@blp.response(200, schemas.ConflictSchema(many=True))
def course_conflicts(course_id):
    """Preview the conflicts scheduling this course would meet (each names the conflicting session)."""
    with ctx().transaction() as session:
        return usecases.course_conflicts(session, course_id)


@blp.route("/courses/<course_id>/schedule", methods=["POST"])
@token_required
@blp.response(200, schemas.CourseSchema)
def schedule_course(course_id):
    """Schedule a course: length cap, lecturer standards, conflicts; publishes courses.course_scheduled."""
    with ctx().transaction() as session:
        usecases.schedule_course(session, course_id)
        return usecases.get_course(session, course_id)


@blp.route("/courses/schedule", methods=["POST"])
@token_required
@blp.arguments(schemas.ScheduleManySchema)
@blp.response(200, schemas.CourseSummarySchema(many=True))
def schedule_courses(data):
    """Schedule several courses at once (e.g. a plan's proposals), checked against each other too; all or none."""
    with ctx().transaction() as session:
        return usecases.schedule_courses(session, data["course_ids"])


@blp.route("/courses/<course_id>/start", methods=["POST"])
@token_required
@blp.response(200, schemas.CourseSchema)
def start_course(course_id):
    """Mark a confirmed course as in progress."""
    with ctx().transaction() as session:
        usecases.start_course(session, course_id)
        return usecases.get_course(session, course_id)


@blp.route("/courses/<course_id>/cancel", methods=["POST"])
@token_required
@blp.arguments(schemas.CancelSchema)
@blp.response(200, schemas.CourseSchema)
def cancel_course(data, course_id):
    """Cancel a course; publishes courses.course_cancelled so funding releases the reservation."""
    with ctx().transaction() as session:
        usecases.cancel_course(session, course_id, data["reason"])
        return usecases.get_course(session, course_id)


@blp.route("/courses/<course_id>/complete", methods=["POST"])
@token_required
@blp.response(200, schemas.CourseSchema)
def complete(course_id):
    """Complete a course: certificates per the rule; publishes courses.course_completed."""
    with ctx().transaction() as session:
        usecases.complete_course(session, course_id)
        return usecases.get_course(session, course_id)


@blp.route("/courses/<course_id>/candidates")
@token_required
@blp.response(200, schemas.CandidateSchema(many=True))
def list_candidates(course_id):
    """List the candidates named by the plan line, best priority first."""
    with ctx().transaction() as session:
        return usecases.list_candidates(session, course_id)


# --- enrollment, attendance, results --------------------------------------------------------------------------------

@blp.route("/courses/<course_id>/enrollments", methods=["POST"])
@token_required
@blp.arguments(schemas.EnrollmentCreateSchema)
@blp.response(201, schemas.EnrollResultSchema)
def enroll(data, course_id):
    """Enroll civil servants (beyond capacity they are waitlisted; a clash refuses the request)."""
    with ctx().transaction() as session:
        return usecases.enroll(session, course_id, data["civil_servant_ids"])


@blp.route("/courses/<course_id>/enrollments")
@token_required
@blp.arguments(schemas.EnrollmentQueryArgsSchema, location="query")
@blp.response(200, schemas.EnrollmentSchema(many=True))
def list_enrollments(args, course_id):
    """List a course's trainees with status, attendance and results so far (per-person data: token required)."""
    with ctx().transaction() as session:
        return usecases.list_enrollments(session, course_id, args["status"])


@blp.route("/courses/<course_id>/enrollments/<civil_servant_id>/withdraw", methods=["POST"])
@token_required
@blp.arguments(schemas.WithdrawSchema)
@blp.response(200, schemas.WithdrawResultSchema)
def withdraw(data, course_id, civil_servant_id):
    """Withdraw a trainee; the waitlist is promoted (clashing trainees skipped with the reason)."""
    with ctx().transaction() as session:
        return usecases.withdraw(session, course_id, civil_servant_id, data["reason"])


@blp.route("/courses/<course_id>/attendance", methods=["POST"])
@token_required
@blp.arguments(schemas.AttendanceCreateSchema)
@blp.response(201, schemas.CountSchema)
def record_attendance(data, course_id):
    """Record attendance per session and trainee (present, or absent with/without permission)."""
    with ctx().transaction() as session:
        return {"count": usecases.record_attendance(session, course_id, data["records"])}


@blp.route("/courses/<course_id>/attendance-sheet", methods=["POST"])
@token_required
@blp.response(201, schemas.CountSchema)
def upload_attendance_sheet(course_id):
    """Upload a filled-in attendance sheet (multipart field «file», CSV or XLSX as exported); all or nothing."""
    upload = request.files.get("file")
    with ctx().transaction() as session:
        data = upload.read() if upload else b""
        return {"count": usecases.import_attendance_sheet(session, course_id, data,
                                                          upload.filename if upload else "")}


@blp.route("/courses/<course_id>/results", methods=["POST"])
@token_required
@blp.arguments(schemas.ResultsCreateSchema)
@blp.response(201, schemas.CountSchema)
def record_results(data, course_id):
    """Record test scores 0–10 (pre, post, module; per competency)."""
    with ctx().transaction() as session:
        return {"count": usecases.record_results(session, course_id, data["scores"])}


@blp.route("/courses/<course_id>/certificates")
@token_required
@blp.response(200, schemas.CertificateSchema(many=True))
def list_certificates(course_id):
    """List the certificates issued for a course."""
    with ctx().transaction() as session:
        return usecases.list_certificates(session, course_id)


@blp.route("/courses/<course_id>/sessions/<session_id>/checkin")
@token_required
@blp.response(200, schemas.CheckinLinkSchema)
def checkin_link(course_id, session_id):
    """Return a session's QR check-in link (unguessable token) and its QR image URL."""
    with ctx().transaction() as session:
        token = usecases.session_checkin_link(session, course_id, session_id)
    url = f"{request.host_url}checkin/{token}"
    return {"session_id": session_id, "url": url,
            "qr_svg": f"{request.host_url}api/v1/courses/{course_id}/sessions/{session_id}/qr"}


@blp.route("/courses/<course_id>/sessions/<session_id>/qr")
@token_required
@blp.arguments(schemas.QrArgsSchema, location="query")
@blp.response(200)
def checkin_qr(args, course_id, session_id):
    """Return the QR code of a session's check-in link, as SVG (default) or PNG."""
    import segno  # imported here: only printing needs it

    with ctx().transaction() as session:
        token = usecases.session_checkin_link(session, course_id, session_id)
    qr = segno.make(f"{request.host_url}checkin/{token}", error="m")
    out = io.BytesIO()
    if args["format"] == "png":
        qr.save(out, kind="png", scale=8, border=2)
        return Response(out.getvalue(), mimetype="image/png")
    qr.save(out, kind="svg", scale=8, border=2)
    return Response(out.getvalue(), mimetype="image/svg+xml")


# --- calendar -----------------------------------------------------------------------------------------------------

def _calendar(kind: str, ref: str, args: dict, name: str):
    with ctx().transaction() as session:
        rows = usecases.calendar(session, kind, ref, args["start"], args["end"])
    if args["format"] == "ics":
        return Response(_ics(rows, name), mimetype="text/calendar",
                        headers={"Content-Disposition": f'inline; filename="{kind}-{ref}.ics"'})
    return rows


def _ics(rows: list[dict], name: str) -> bytes:
    """Render calendar entries as iCalendar (times in UTC; clients show them in local time)."""
    from icalendar import Calendar, Event

    cal = Calendar()
    cal.add("prodid", "-//Thoi Binh DTBD//courses//VI")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", "Asia/Ho_Chi_Minh")
    for r in rows:
        if not r["starts_at"]:
            continue
        ev = Event()
        ev.add("uid", f"{r['session_id']}@courses")
        ev.add("summary", f"{r['course_code']} – {r['title']}")
        ev.add("dtstart", r["starts_at"])
        ev.add("dtend", r["ends_at"])
        ev.add("dtstamp", r["starts_at"])
        where = ", ".join(x for x in (r["venue_name"], r["venue_address"]) if x) or "Trực tuyến"
        ev.add("location", where)
        ev.add("description", f"Buổi {domain.BUOI_VI[r['buoi']]}, {r['periods']} tiết; giảng viên "
                              f"{r['lecturer_name']}; trạng thái lớp: {domain.STATUS_VI[r['status']]}")
        ev.add("status", "CONFIRMED" if r["status"] in ("confirmed", "in_progress", "completed", "closed")
               else "TENTATIVE")
        cal.add_component(ev)
    return cal.to_ical()


@blp.route("/calendar/communes/<commune_code>")
@blp.arguments(schemas.CalendarArgsSchema, location="query")
@blp.response(200, schemas.CalendarEntrySchema(many=True))
def commune_calendar(args, commune_code):
    """Sessions the commune's staff attend (format=json or ics for subscription)."""
    return _calendar("commune", commune_code, args, f"Lịch học – {commune_code}")


@blp.route("/calendar/lecturers/<lecturer_id>")
@blp.arguments(schemas.CalendarArgsSchema, location="query")
@blp.response(200, schemas.CalendarEntrySchema(many=True))
def lecturer_calendar(args, lecturer_id):
    """A lecturer's sessions (format=json or ics)."""
    return _calendar("lecturer", lecturer_id, args, "Lịch giảng")


@blp.route("/calendar/venues/<venue_id>")
@blp.arguments(schemas.CalendarArgsSchema, location="query")
@blp.response(200, schemas.CalendarEntrySchema(many=True))
def venue_calendar(args, venue_id):
    """A venue's bookings (format=json or ics)."""
    return _calendar("venue", venue_id, args, "Lịch sử dụng địa điểm")


# --- printable documents --------------------------------------------------------------------------------------------

BASE_COLUMNS = [Column("no", "STT", width=6), Column("code", "Mã công chức", width=16),
                Column("unit_code", "Đơn vị", width=18), Column("commune_code", "Xã", width=16),
                Column("position_code", "Vị trí việc làm", width=16)]


@blp.route("/courses/<course_id>/class-list")
@token_required
@blp.arguments(schemas.DocumentArgsSchema, location="query")
@blp.response(200)
def class_list(args, course_id):
    """Download the class list with a signature column (format=xlsx or csv)."""
    with ctx().transaction() as session:
        course, rows = usecases.documents_rows(session, course_id)
        columns = BASE_COLUMNS + [Column("signature", "Ký tên", width=22)]
        heading = f"DANH SÁCH HỌC VIÊN LỚP {course.code} – {course.title}"
        return download(rows, columns, args["format"], f"danh-sach-{course.code}", heading=heading,
                                title="Danh sách", footer=[f"Tổng số: {len(rows)} học viên", "Người lập biểu"])


@blp.route("/courses/<course_id>/attendance-sheet")
@token_required
@blp.arguments(schemas.DocumentArgsSchema, location="query")
@blp.response(200)
def attendance_sheet(args, course_id):
    """Download the attendance sheet: one column per session (x present, P excused, v absent; blank to fill in)."""
    with ctx().transaction() as session:
        course, rows = usecases.documents_rows(session, course_id)
        columns = BASE_COLUMNS + [Column(f"s_{s.id}", f"{s.date:%d/%m} {domain.BUOI_VI[s.buoi]}", width=11)
                                  for s in course.sessions]
        heading = f"BẢNG ĐIỂM DANH LỚP {course.code} – {course.title}"
        return download(rows, columns, args["format"], f"diem-danh-{course.code}", heading=heading,
                                title="Điểm danh", footer=["Ký hiệu: x có mặt, P vắng có phép, v vắng không phép",
                                                           "Giảng viên / cán bộ quản lý lớp ký xác nhận"])


# --- QR check-in page (plain HTML form, no JavaScript; the token in the path is the capability) ----------------------

pages = FlaskBlueprint("courses_checkin", __name__)

_PAGE = """<!doctype html><html lang="vi"><head><meta charset="utf-8"><meta name="viewport"
content="width=device-width, initial-scale=1"><title>Điểm danh</title></head><body style="font-family:sans-serif;
max-width:28em;margin:2em auto"><h1>Điểm danh</h1>{body}</body></html>"""


def _page(body: str, status: int = 200) -> Response:
    return Response(_PAGE.format(body=body), status=status, mimetype="text/html")


@pages.route("/checkin/<token>", methods=["GET", "POST"])
def checkin(token):
    """Show the check-in form of a session (GET) or record the trainee's presence (POST)."""
    e = html.escape
    try:
        with ctx().transaction() as session:
            info = usecases.checkin_page(session, token)
            head = (f"<p>Lớp <b>{e(info['course_code'])}</b> – {e(info['course_title'])}<br>Buổi {info['buoi_vi']} "
                    f"ngày {domain.vn_date(info['date'])}</p>")
            if request.method == "GET":
                hidden = request.args.get("t", "")
                form = (f'<form method="post"><label>Mã công chức<br><input name="code" autocomplete="off" '
                        f'{"" if hidden else "required"}></label><input type="hidden" name="t" value="{e(hidden)}">'
                        f'<p><button type="submit">Điểm danh</button></p></form>')
                return _page(head + form)
            done = usecases.check_in(session, token, request.form.get("code") or None, request.form.get("t") or None)
            return _page(head + f"<p><b>Đã ghi nhận có mặt</b> buổi {done['buoi_vi']} ngày "
                                f"{domain.vn_date(done['date'])}. Cảm ơn!</p>", 201)
    except DomainError as err:
        return _page(f"<p><b>Không điểm danh được:</b> {e(err.message)}</p>", status_of(err))
