"""Operator endpoints of the courses service: unclosed courses and the versioned rules (length caps, lecturer
standards, on-duty share per commune, buổi times, pass score and tiết per buổi)."""
from __future__ import annotations

import sqlalchemy as sa

from services.courses import domain, schemas, usecases
from services.courses.models import Course
from shared.db import utcnow
from shared.admin import operator_blueprint
from shared.web import ctx

blp = operator_blueprint("courses_admin", __name__, "/admin/courses", "Courses operator endpoints")


@blp.route("/unclosed")
@blp.doc(security=[{"bearerAuth": []}])
def unclosed():
    """List completed courses not closed yet, oldest first, with what they still wait for."""
    now = utcnow()
    with ctx().transaction() as session:
        rows = session.scalars(sa.select(Course).where(Course.status == "completed")
                               .order_by(Course.completed_at)).all()
        return {"count": len(rows), "items": [{
            "course_id": c.id, "code": c.code,
            "waiting": domain.closing_state(c.feedback_requested_at is not None, c.settled_at is not None),
            "completed_seconds_ago": round((now - c.completed_at).total_seconds(), 1),
        } for c in rows]}


@blp.route("/length-rules")
@blp.doc(security=[{"bearerAuth": []}])
@blp.response(200, schemas.LengthRuleSchema(many=True))
def list_length_rules():
    """List every version of the length caps per fostering type."""
    with ctx().transaction() as session:
        return usecases.list_length_rules(session)


@blp.route("/length-rules", methods=["POST"])
@blp.doc(security=[{"bearerAuth": []}])
@blp.arguments(schemas.LengthRuleCreateSchema)
@blp.response(201, schemas.LengthRuleSchema)
def add_length_rule(data):
    """Add a version of a length cap (legal basis, valid from/to; it supersedes an open-ended earlier version)."""
    with ctx().transaction() as session:
        return usecases.add_length_rule(session, data)


@blp.route("/lecturer-standards")
@blp.doc(security=[{"bearerAuth": []}])
@blp.response(200, schemas.LecturerStandardSchema(many=True))
def list_lecturer_standards():
    """List every version of the lecturer standard (degree, pedagogy, experience) with its legal basis."""
    with ctx().transaction() as session:
        return usecases.list_lecturer_standards(session)


@blp.route("/lecturer-standards", methods=["POST"])
@blp.doc(security=[{"bearerAuth": []}])
@blp.arguments(schemas.LecturerStandardCreateSchema)
@blp.response(201, schemas.LecturerStandardSchema)
def add_lecturer_standard(data):
    """Add a version of the lecturer standard (legal basis, valid from/to; supersedes an open-ended earlier one)."""
    with ctx().transaction() as session:
        return usecases.add_lecturer_standard(session, data)


@blp.route("/duty-rules")
@blp.doc(security=[{"bearerAuth": []}])
@blp.response(200, schemas.DutyRuleSchema(many=True))
def list_duty_rules():
    """List every version of the most each commune may send away on one day ('*' is the default)."""
    with ctx().transaction() as session:
        return usecases.list_duty_rules(session)


@blp.route("/duty-rules", methods=["POST"])
@blp.doc(security=[{"bearerAuth": []}])
@blp.arguments(schemas.DutyRuleSchema)
@blp.response(200, schemas.DutyRuleSchema)
def set_duty_rule(data):
    """Load a version of a commune's (or the default '*') maximum share of staff away on one day."""
    with ctx().transaction() as session:
        return usecases.set_duty_rule(session, data)


@blp.route("/buoi-times")
@blp.doc(security=[{"bearerAuth": []}])
@blp.response(200, schemas.BuoiTimeSchema(many=True))
def list_buoi_times():
    """List every version of the local start and end of each buổi."""
    with ctx().transaction() as session:
        return usecases.list_buoi_times(session)


@blp.route("/buoi-times", methods=["POST"])
@blp.doc(security=[{"bearerAuth": []}])
@blp.arguments(schemas.BuoiTimeSchema)
@blp.response(200, schemas.BuoiTimeSchema)
def set_buoi_time(data):
    """Load a version of a buổi's local times (sessions created afterwards on dates it covers use them)."""
    with ctx().transaction() as session:
        return usecases.set_buoi_time(session, data)


@blp.route("/course-rules")
@blp.doc(security=[{"bearerAuth": []}])
@blp.response(200, schemas.CourseRuleSchema(many=True))
def list_course_rules():
    """List every version of the course rules: the certificate pass score and the default tiết per buổi."""
    with ctx().transaction() as session:
        return usecases.list_course_rules(session)


@blp.route("/course-rules", methods=["POST"])
@blp.doc(security=[{"bearerAuth": []}])
@blp.arguments(schemas.CourseRuleCreateSchema)
@blp.response(201, schemas.CourseRuleSchema)
def add_course_rule(data):
    """Add a version of a course rule (legal basis, valid from/to; it supersedes an open-ended earlier version)."""
    with ctx().transaction() as session:
        return usecases.add_course_rule(session, data)
