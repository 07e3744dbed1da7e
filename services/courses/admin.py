"""Operator endpoints of the courses service: completed courses still waiting to close."""
from __future__ import annotations

import sqlalchemy as sa
from flask_smorest import Blueprint

from services.courses import domain
from services.courses.models import Course
from shared.db import utcnow
from shared.web import check_bearer, ctx

blp = Blueprint("courses_admin", __name__, url_prefix="/admin/courses", description="Courses operator endpoints")


@blp.before_request
def _auth():
    check_bearer(ctx().settings.admin_token)


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
