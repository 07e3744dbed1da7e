"""Public HTTP API of the courses service (/api/v1): each view parses, makes one use-case call and answers (JSON,
or the iCalendar and document files built by formats.py). QR check-in (the pages, the session and personal links and
QR codes, the self check-ins the officer confirms) is in web.py."""
from __future__ import annotations

from flask import Response

from services.courses import formats, schemas, usecases
from shared import apidoc
from shared.auth import lecturer_scope
from shared.rules_api import RuleRoute, register_rules_routes
from shared.web import Blueprint, ctx, download, read_upload, requires, unit_scope


def in_unit_of_work(use_case, *args, **kwargs):
    """Run one use case in the request's unit of work (committed when it returns, rolled back if it raises)."""
    with ctx().transaction() as session:
        return use_case(session, *args, **kwargs)


blp = Blueprint("courses", __name__, url_prefix="", description="Lớp học, buổi học, ghi danh, điểm danh, kết thúc")


@blp.route("/topics")
@blp.response(200, schemas.TopicSchema(many=True))
def list_topics():
    """List the topics ("chuyên đề") with their competencies and content areas."""
    return in_unit_of_work(usecases.list_topics)


@blp.route("/topics", methods=["POST"])
@requires("training-officer")
@blp.arguments(schemas.TopicCreateSchema)
@blp.response(201, schemas.TopicSchema)
def create_topic(data):
    """Add a topic ("chuyên đề") with its content area, competencies and fostering types."""
    return in_unit_of_work(usecases.create_topic, data)


@blp.route("/lecturers", methods=["POST"])
@requires("training-officer")
@blp.arguments(schemas.LecturerCreateSchema)
@blp.response(201, schemas.LecturerSchema)
def create_lecturer(data):
    """Register a lecturer with tier, qualifications and topics."""
    return in_unit_of_work(usecases.create_lecturer, data)


@blp.route("/lecturers")
@blp.arguments(schemas.LecturerQueryArgsSchema, location="query")
@blp.response(200, schemas.LecturerSchema(many=True))
def list_lecturers(args):
    """List lecturers; with topic and date: those teaching it, available first, then by average rating."""
    return in_unit_of_work(usecases.list_lecturers, args["topic"], args["date"], args["buoi"])


@blp.route("/lecturers/<lecturer_id>")
@blp.response(200, schemas.LecturerDetailSchema)
def get_lecturer(lecturer_id):
    """Show a lecturer, the standards check and their rating history."""
    return in_unit_of_work(usecases.get_lecturer, lecturer_id)


@blp.route("/venues", methods=["POST"])
@requires("training-officer")
@blp.arguments(schemas.VenueCreateSchema)
@blp.response(201, schemas.VenueSchema)
def create_venue(data):
    """Register a venue with capacity, address and distance from each commune."""
    return in_unit_of_work(usecases.create_venue, data)


@blp.route("/venues/<venue_id>", methods=["PATCH"])
@requires("training-officer")
@blp.arguments(schemas.VenueUpdateSchema)
@blp.response(200, schemas.VenueSchema)
def update_venue(data, venue_id):
    """Edit a venue (a new distance table makes its booked courses ask funding again)."""
    return in_unit_of_work(usecases.update_venue, venue_id, data)


@blp.route("/venues")
@blp.arguments(schemas.VenueQueryArgsSchema, location="query")
@blp.response(200, schemas.VenueSchema(many=True))
def list_venues(args):
    """List venues."""
    return in_unit_of_work(usecases.list_venues, args["min_capacity"])


@blp.route("/trainees")
@requires("training-officer", "commune-officer", "inspector")
@blp.arguments(schemas.TraineeQueryArgsSchema, location="query")
@blp.response(200, schemas.TraineeSchema(many=True))
def list_trainees(args):
    """List the civil servants known to courses (synchronised from needs); per-person data: token required."""
    return in_unit_of_work(usecases.list_trainees, args["commune_code"], within=unit_scope())


register_rules_routes(
    blp, writer_role="training-officer",
    in_force=RuleRoute(
        usecases.list_rules_in_force, answer=schemas.RuleInForceSchema(many=True),
        doc="List every rule of the service with the version in force today and its legal basis."),
    kinds=usecases.RULE_KINDS,
    versions=RuleRoute(
        usecases.list_rule_versions, answer=schemas.RuleVersionSchema(many=True),
        doc="List every version of one kind of rule (length-caps, lecturer-standards, duty-shares, buoi-times,\n"
            "course-rules) with its legal basis and validity."),
    routes={
        "POST length-caps": RuleRoute(
            usecases.add_length_cap, reads=schemas.LengthCapCreateSchema, answer=schemas.LengthCapSchema,
            status=201, doc="Add a version of a length cap (an open-ended earlier version ends the day before; "
                            "other overlaps: 409)."),
        "POST lecturer-standards": RuleRoute(
            usecases.add_lecturer_standard, reads=schemas.LecturerStandardCreateSchema,
            answer=schemas.LecturerStandardSchema, status=201,
            doc="Add a version of the lecturer standard (an open-ended earlier version ends the day before)."),
        "POST duty-shares": RuleRoute(
            usecases.set_duty_share, reads=schemas.DutyShareSchema, answer=schemas.DutyShareSchema,
            doc="Load a version of a commune's (or the default '*') share of staff away on one day (undated: "
                "corrected)."),
        "POST buoi-times": RuleRoute(
            usecases.set_buoi_time, reads=schemas.BuoiTimeSchema, answer=schemas.BuoiTimeSchema,
            doc="Load a version of a buổi's local times (sessions created afterwards on dates it covers use them)."),
        "POST course-rules": RuleRoute(
            usecases.add_course_rule, reads=schemas.CourseRuleCreateSchema, answer=schemas.CourseRuleSchema,
            status=201, doc="Add a version of a course rule (an open-ended earlier version ends the day before; "
                            "other overlaps: 409)."),
    })


@blp.route("/courses", methods=["POST"])
@requires("training-officer")
@blp.arguments(schemas.CourseCreateSchema)
@blp.response(201, schemas.CourseSchema)
def create_course(data):
    """Create a draft course (sessions optional); POST …/schedule books it and asks funding."""
    return in_unit_of_work(usecases.create_course, data)


@blp.route("/courses")
@blp.arguments(schemas.CourseQueryArgsSchema, location="query")
@blp.response(200, schemas.CourseSummarySchema(many=True))
def list_courses(args):
    """List courses, newest first (filter by status, topic_code)."""
    return in_unit_of_work(usecases.list_courses, args["status"], args["topic_code"])


@blp.route("/courses/<course_id>")
@blp.response(200, schemas.CourseSchema)
def get_course(course_id):
    """Show a course, its sessions, funding state and where its closing stands."""
    return in_unit_of_work(usecases.get_course, course_id)


@blp.route("/courses/<course_id>", methods=["PATCH"])
@requires("training-officer")
@blp.arguments(schemas.CourseUpdateSchema)
@blp.response(200, schemas.CourseSchema)
def update_course(data, course_id):
    """Edit a course; a booked course is re-scheduled (conflicts re-checked, new revision to funding)."""
    return in_unit_of_work(usecases.update_course, course_id, data)


@blp.route("/courses/<course_id>/sessions", methods=["POST"])
@requires("training-officer")
@blp.arguments(schemas.SessionsCreateSchema)
@blp.response(201, schemas.CourseSchema)
def add_sessions(data, course_id):
    """Add sessions to a course (re-checked and re-scheduled when the course is booked)."""
    return in_unit_of_work(usecases.add_sessions, course_id, data["sessions"])


@blp.route("/courses/<course_id>/sessions/<session_id>", methods=["PATCH"])
@requires("training-officer")
@blp.arguments(schemas.SessionUpdateSchema)
@blp.response(200, schemas.CourseSchema)
def update_session(data, course_id, session_id):
    """Change a session (date, buổi, times, lecturer, venue); conflicts are checked again."""
    return in_unit_of_work(usecases.update_session, course_id, session_id, data)


@blp.route("/courses/<course_id>/sessions/<session_id>", methods=["DELETE"])
@requires("training-officer")
@blp.response(200, schemas.CourseSchema)
def delete_session(course_id, session_id):
    """Remove a session without attendance."""
    return in_unit_of_work(usecases.delete_session, course_id, session_id)


@blp.route("/courses/<course_id>/conflicts")
@requires("training-officer", "inspector")
@blp.response(200, schemas.ConflictSchema(many=True))
def course_conflicts(course_id):
    """Preview the conflicts scheduling this course would meet (each names the conflicting session)."""
    return in_unit_of_work(usecases.course_conflicts, course_id)


@blp.route("/courses/<course_id>/schedule", methods=["POST"])
@requires("training-officer")
@blp.response(200, schemas.CourseSchema)
def schedule_course(course_id):
    """Schedule a course: length cap, lecturer standards, conflicts; publishes courses.course_scheduled."""
    return in_unit_of_work(usecases.schedule_course, course_id)


@blp.route("/courses/schedule", methods=["POST"])
@requires("training-officer")
@blp.arguments(schemas.ScheduleCreateSchema)
@blp.response(200, schemas.CourseSummarySchema(many=True))
def schedule_courses(data):
    """Schedule several courses at once (e.g. a plan's proposals), checked against each other too; all or none."""
    return in_unit_of_work(usecases.schedule_courses, data["course_ids"])


@blp.route("/courses/<course_id>/start", methods=["POST"])
@requires("training-officer")
@blp.response(200, schemas.CourseSchema)
def start_course(course_id):
    """Mark a confirmed course as in progress."""
    return in_unit_of_work(usecases.start_course, course_id)


@blp.route("/courses/<course_id>/cancel", methods=["POST"])
@requires("training-officer")
@blp.arguments(schemas.CancellationCreateSchema)
@blp.response(200, schemas.CourseSchema)
def cancel_course(data, course_id):
    """Cancel a course; publishes courses.course_cancelled so funding releases the reservation."""
    return in_unit_of_work(usecases.cancel_course, course_id, data["reason"])


@blp.route("/courses/<course_id>/complete", methods=["POST"])
@requires("training-officer")
@blp.response(200, schemas.CourseSchema)
def complete(course_id):
    """Complete a course: certificates per the rule; publishes courses.course_completed."""
    return in_unit_of_work(usecases.complete_course, course_id)


@blp.route("/courses/<course_id>/candidates")
@requires("training-officer", "commune-officer")
@blp.response(200, schemas.CandidateSchema(many=True))
def list_candidates(course_id):
    """List the candidates named by the plan line, best priority first."""
    return in_unit_of_work(usecases.list_candidates, course_id, within=unit_scope())


@blp.route("/courses/<course_id>/enrollments", methods=["POST"])
@requires("training-officer", "commune-officer")
@blp.arguments(schemas.EnrollmentCreateSchema)
@blp.response(201, schemas.EnrollResultSchema)
def enroll(data, course_id):
    """Enroll civil servants (beyond capacity they are waitlisted; a clash refuses the request)."""
    return in_unit_of_work(usecases.enroll, course_id, data["civil_servant_ids"], within=unit_scope())


@blp.route("/courses/<course_id>/enrollments")
@requires("training-officer", "commune-officer", "inspector", "lecturer")
@blp.arguments(schemas.EnrollmentQueryArgsSchema, location="query")
@blp.response(200, schemas.EnrollmentSchema(many=True))
def list_enrollments(args, course_id):
    """List a course's trainees with status, attendance and results so far (per-person data: token required; a
    lecturer: a course where they teach a session)."""
    return in_unit_of_work(usecases.list_enrollments, course_id, args["status"], within=unit_scope(),
                           lecturer=lecturer_scope())


@blp.route("/courses/<course_id>/enrollments/<civil_servant_id>/withdraw", methods=["POST"])
@requires("training-officer", "commune-officer")
@blp.arguments(schemas.WithdrawalCreateSchema)
@blp.response(200, schemas.WithdrawResultSchema)
def withdraw(data, course_id, civil_servant_id):
    """Withdraw a trainee; the waitlist is promoted (clashing trainees skipped with the reason)."""
    return in_unit_of_work(usecases.withdraw, course_id, civil_servant_id, data["reason"], within=unit_scope())


@blp.route("/courses/<course_id>/attendance", methods=["POST"])
@requires("training-officer", "commune-officer", "lecturer")
@blp.arguments(schemas.AttendanceCreateSchema)
@blp.response(201, schemas.CountSchema)
def record_attendance(data, course_id):
    """Record attendance per session and trainee (present, or absent with/without permission); a lecturer: only
    for the sessions they teach (403 naming the record's session_id otherwise)."""
    return {"count": in_unit_of_work(usecases.record_attendance, course_id, data["records"], within=unit_scope(),
                                     lecturer=lecturer_scope())}


@blp.route("/courses/<course_id>/attendance-sheet", methods=["POST"])
@requires("training-officer", "commune-officer", "lecturer")
@blp.arguments(schemas.AttendanceSheetUploadSchema, location="files")
@blp.response(201, schemas.CountSchema)
def upload_attendance_sheet(files, course_id):
    """Upload a filled-in attendance sheet (multipart field «file», CSV or XLSX as exported); all or nothing. A
    lecturer: marks of their own sessions (other sessions' columns only as recorded)."""
    data, filename = read_upload(files, required=False)  # an unknown course is a 404 before a missing file
    return {"count": in_unit_of_work(usecases.import_attendance_sheet, course_id, data, filename, within=unit_scope(),
                                     lecturer=lecturer_scope())}


@blp.route("/courses/<course_id>/results", methods=["POST"])
@requires("training-officer", "lecturer")
@blp.arguments(schemas.ResultsCreateSchema)
@blp.response(201, schemas.CountSchema)
def record_results(data, course_id):
    """Record test scores 0–10 (pre, post, module; per competency); a lecturer: a course where they teach."""
    return {"count": in_unit_of_work(usecases.record_results, course_id, data["scores"], lecturer=lecturer_scope())}


@blp.route("/courses/<course_id>/certificates")
@requires("training-officer", "commune-officer", "inspector")
@blp.response(200, schemas.CertificateSchema(many=True))
def list_certificates(course_id):
    """List the certificates issued for a course."""
    return in_unit_of_work(usecases.list_certificates, course_id, within=unit_scope())


CALENDARS = {"communes": ("commune", "Lịch học – {ref}"), "lecturers": ("lecturer", "Lịch giảng"),
             "venues": ("venue", "Lịch sử dụng địa điểm")}


@blp.route("/calendar/<any(communes, lecturers, venues):of>/<ref>")
@blp.arguments(schemas.CalendarQueryArgsSchema, location="query")
@blp.response(200, schemas.CalendarEntrySchema(many=True))
@blp.doc(**apidoc.answers("ics"))
def calendar(args, of, ref):
    """Sessions a commune's staff attend, a lecturer's sessions or a venue's bookings (format=json or ics)."""
    kind, name = CALENDARS[of]
    rows = in_unit_of_work(usecases.list_calendar, kind, ref, args["start"], args["end"])
    if args["format"] != "ics":
        return rows
    return Response(formats.ics(rows, name.format(ref=ref)), mimetype="text/calendar",
                    headers={"Content-Disposition": f'inline; filename="{kind}-{ref}.ics"'})


@blp.route("/courses/<course_id>/class-list")
@requires("training-officer", "commune-officer", "inspector", "lecturer")
@blp.arguments(schemas.DocumentQueryArgsSchema, location="query")
@blp.response(200)
@blp.doc(**apidoc.answers("csv", "xlsx"))
def class_list(args, course_id):
    """Download the class list with a signature column (format=xlsx or csv)."""
    with ctx().transaction() as session:
        course, rows = usecases.list_document_rows(session, course_id, unit_scope(), lecturer_scope())
        columns, layout = formats.class_list(course, rows)
        return download(rows, columns, args["format"], f"danh-sach-{course.code}", **layout)


@blp.route("/courses/<course_id>/attendance-sheet")
@requires("training-officer", "commune-officer", "inspector", "lecturer")
@blp.arguments(schemas.DocumentQueryArgsSchema, location="query")
@blp.response(200)
@blp.doc(**apidoc.answers("csv", "xlsx"))
def attendance_sheet(args, course_id):
    """Download the attendance sheet: one column per session (x present, P excused, v absent; blank to fill in)."""
    with ctx().transaction() as session:
        course, rows = usecases.list_document_rows(session, course_id, unit_scope(), lecturer_scope())
        columns, layout = formats.attendance_sheet(course)
        return download(rows, columns, args["format"], f"diem-danh-{course.code}", **layout)
