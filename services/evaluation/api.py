"""Public HTTP API of the evaluation service (/api/v1)."""
from flask_smorest import Blueprint

from services.evaluation import schemas, usecases
from shared.web import ctx, token_required

blp = Blueprint("evaluation", __name__, url_prefix="", description="Phiếu lấy ý kiến học viên và tổng hợp đánh giá")


@blp.route("/courses/<course_id>/feedback-requests")
@token_required
@blp.response(200, schemas.FeedbackRequestSchema(many=True))
def list_requests(course_id):
    """List a course's feedback requests with their tokens (officers hand the links to trainees)."""
    base = ctx().settings.feedback_base_url.rstrip("/")
    with ctx().transaction() as session:
        return [{**r, "link": f"{base}/api/v1/feedback/{r['token']}"}
                for r in usecases.list_requests(session, course_id)]


@blp.route("/courses/<course_id>/feedback-summary")
@blp.response(200, schemas.FeedbackSummarySchema)
def summary(course_id):
    """Show a course's anonymous feedback summary: response rate, means per criterion, index and band."""
    with ctx().transaction() as session:
        return usecases.course_summary(session, course_id)


@blp.route("/feedback/<token>")
@blp.response(200, schemas.FeedbackFormSchema)
def form(token):
    """Show the feedback form behind a token."""
    with ctx().transaction() as session:
        return usecases.feedback_form(session, token)


@blp.route("/feedback/<token>", methods=["POST"])
@blp.arguments(schemas.FeedbackSubmitSchema)
@blp.response(201, schemas.FeedbackAcceptedSchema)
def submit(data, token):
    """Submit feedback once; the unguessable token in the path is the trainee's credential."""
    with ctx().transaction() as session:
        return usecases.submit_feedback(session, token, data["scores"], data["comment"])
