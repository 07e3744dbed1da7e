"""Operator endpoints of the courses service: completed courses still waiting to close."""
from __future__ import annotations

import sqlalchemy as sa

from services.courses import domain
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
