"""Operator endpoints of the courses service: unclosed courses (the versioned rules are at /api/v1/rules)."""
from __future__ import annotations

from services.courses import usecases
from shared import apidoc
from shared.admin import OPERATOR_DOC, operator_blueprint
from shared.web import ctx

blp = operator_blueprint("courses_admin", __name__, "/admin/courses", "Courses operator endpoints")


@blp.route("/unclosed")
@blp.doc(**OPERATOR_DOC)
@apidoc.response(blp, "json", description="JSON object")
def unclosed():
    """List completed courses not closed yet, oldest first, with what they still wait for."""
    with ctx().transaction() as session:
        return usecases.list_unclosed_courses(session)


@blp.route("/seed", methods=["POST"])
@blp.doc(**OPERATOR_DOC)
@apidoc.response(blp, "json", description="JSON object")
def seed():
    """Insert the reference and sample rows that are missing (topics, MẪU rule versions); idempotent."""
    with ctx().transaction() as session:
        return {"added": usecases.seed_reference_data(session)}
