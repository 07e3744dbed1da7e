"""Public HTTP API of the courses service (/api/v1)."""
from flask_smorest import Blueprint

from services.courses import schemas, usecases
from shared.web import ctx, token_required

blp = Blueprint("courses", __name__, url_prefix="", description="Lớp học, buổi học, ghi danh, điểm danh, kết thúc")


@blp.route("/lecturers", methods=["POST"])
@token_required
@blp.arguments(schemas.LecturerCreateSchema)
@blp.response(201, schemas.LecturerSchema)
def create_lecturer(data):
    """Register a lecturer."""
    with ctx().transaction() as session:
        return usecases.create_lecturer(session, data)


@blp.route("/lecturers")
@blp.response(200, schemas.LecturerSchema(many=True))
def list_lecturers():
    """List lecturers."""
    with ctx().transaction() as session:
        return usecases.list_lecturers(session)


@blp.route("/trainees")
@token_required
@blp.arguments(schemas.TraineeQueryArgsSchema, location="query")
@blp.response(200, schemas.TraineeSchema(many=True))
def list_trainees(args):
    """List the civil servants known to courses (synchronised from needs); per-person data: token required."""
    with ctx().transaction() as session:
        return usecases.list_trainees(session, args["commune_code"])


@blp.route("/courses", methods=["POST"])
@token_required
@blp.arguments(schemas.CourseCreateSchema)
@blp.response(201, schemas.CourseSchema)
def schedule_course(data):
    """Schedule a course with its sessions."""
    with ctx().transaction() as session:
        course = usecases.schedule_course(session, data)
        return usecases.get_course(session, course.id)


@blp.route("/courses")
@blp.arguments(schemas.CourseQueryArgsSchema, location="query")
@blp.response(200, schemas.CourseSummarySchema(many=True))
def list_courses(args):
    """List courses, newest first."""
    with ctx().transaction() as session:
        return usecases.list_courses(session, args["status"])


@blp.route("/courses/<course_id>")
@blp.response(200, schemas.CourseSchema)
def get_course(course_id):
    """Show a course, its sessions and where its closing stands."""
    with ctx().transaction() as session:
        return usecases.get_course(session, course_id)


@blp.route("/courses/<course_id>/enrollments", methods=["POST"])
@token_required
@blp.arguments(schemas.EnrollmentCreateSchema)
@blp.response(201, schemas.CountSchema)
def enroll(data, course_id):
    """Enroll civil servants in a course."""
    with ctx().transaction() as session:
        return {"count": usecases.enroll(session, course_id, data["civil_servant_ids"])}


@blp.route("/courses/<course_id>/enrollments")
@token_required
@blp.response(200, schemas.EnrollmentSchema(many=True))
def list_enrollments(course_id):
    """List a course's trainees with their attendance so far (per-person data: token required)."""
    with ctx().transaction() as session:
        return usecases.list_enrollments(session, course_id)


@blp.route("/courses/<course_id>/attendance", methods=["POST"])
@token_required
@blp.arguments(schemas.AttendanceCreateSchema)
@blp.response(201, schemas.CountSchema)
def record_attendance(data, course_id):
    """Record attendance per session and trainee."""
    with ctx().transaction() as session:
        return {"count": usecases.record_attendance(session, course_id, data["records"])}


@blp.route("/courses/<course_id>/complete", methods=["POST"])
@token_required
@blp.response(200, schemas.CourseSchema)
def complete(course_id):
    """Complete a course: publishes courses.course_completed (feedback and settlement follow)."""
    with ctx().transaction() as session:
        usecases.complete_course(session, course_id)
        return usecases.get_course(session, course_id)
