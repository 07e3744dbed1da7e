"""Public HTTP API of the evaluation service (/api/v1): each view parses, makes one use-case call and answers."""
from shared.web import Blueprint

from services.evaluation import formats, schemas, usecases
from shared import apidoc
from shared.charts import chart_response
from shared.rules_api import RuleRoute, register_rules_routes
from shared.web import UploadSchema, ctx, read_upload, requires, respond_as, unit_scope

blp = Blueprint("evaluation", __name__, url_prefix="", description="Phiếu lấy ý kiến học viên và tổng hợp đánh giá")


def _base() -> str:
    return ctx().settings.feedback_base_url


# --- feedback collection ---------------------------------------------------------------------------------------

@blp.route("/courses/<course_id>/feedback-requests")
@requires("training-officer")
@blp.response(200, schemas.FeedbackRequestSchema(many=True))
def list_requests(course_id):
    """List a course's feedback requests with their links (officers hand the links to trainees)."""
    with ctx().transaction() as session:
        return usecases.list_requests(session, course_id, _base())


@blp.route("/courses/<course_id>/feedback-summary")
@blp.response(200, schemas.FeedbackSummarySchema)
def summary(course_id):
    """Show a course's anonymous feedback summary: response rate, means, index, band, lecturers, learning gain."""
    with ctx().transaction() as session:
        return usecases.get_course_summary(session, course_id)


@blp.route("/courses/<course_id>/close-feedback", methods=["POST"])
@requires("training-officer")
@blp.response(200, schemas.FeedbackSummarySchema)
def close(course_id):
    """Close the feedback window early (officer): score the course and publish evaluation.course_evaluated."""
    with ctx().transaction() as session:
        return usecases.close_feedback_now(session, course_id)


@blp.route("/courses/<course_id>/reminders", methods=["POST"])
@requires("training-officer")
@blp.response(200, schemas.CountSchema)
def remind(course_id):
    """Remind every trainee who has not answered yet (one notification record and event each)."""
    with ctx().transaction() as session:
        return {"count": usecases.send_reminders(session, course_id, _base())}


@blp.route("/feedback/<token>")
@blp.response(200, schemas.FeedbackFormSchema)
def form(token):
    """Show the feedback form behind a token (JSON; trainees open the HTML page /feedback/<token>)."""
    with ctx().transaction() as session:
        return usecases.get_feedback_form(session, token)


@blp.route("/feedback/<token>", methods=["POST"])
@blp.arguments(schemas.FeedbackCreateSchema)
@blp.response(201, schemas.FeedbackAcceptedSchema)
def submit(data, token):
    """Submit feedback once; the unguessable token in the path is the trainee's credential."""
    with ctx().transaction() as session:
        return usecases.submit_feedback(session, token, data["scores"], data["comment"], answers=data["answers"],
                                        lecturer_answers=data["lecturers"], texts=data["texts"])


@blp.route("/notifications")
@requires("training-officer", "inspector")
@blp.arguments(schemas.NotificationQueryArgsSchema, location="query")
@blp.response(200, schemas.NotificationSchema(many=True))
def notifications(args):
    """List notification records (reminders, follow-up invitations): the inspectable record of each message."""
    with ctx().transaction() as session:
        return usecases.list_notifications(session, args["course_id"], args["kind"], args["limit"])


# --- L3/L4 follow-up -------------------------------------------------------------------------------------------

@blp.route("/courses/<course_id>/followup-requests")
@requires("training-officer")
@blp.response(200, schemas.FollowupRequestSchema(many=True))
def followup_requests(course_id):
    """List the follow-up survey links (trainee and direct supervisor per trainee)."""
    with ctx().transaction() as session:
        return usecases.list_followup_requests(session, course_id, _base())


@blp.route("/courses/<course_id>/followup", methods=["POST"])
@requires("training-officer")
@blp.response(200, schemas.FollowupScheduledSchema)
def followup_now(course_id):
    """Start the course's follow-up survey now instead of after the configured delay."""
    with ctx().transaction() as session:
        return usecases.schedule_followup_now(session, course_id)


@blp.route("/courses/<course_id>/followup-summary")
@blp.response(200, schemas.FollowupSummarySchema)
def followup_summary(course_id):
    """L3/L4 of a course: follow-up answers by respondent and unit indicators before/after."""
    with ctx().transaction() as session:
        return usecases.get_followup_summary(session, course_id)


# --- L2 test scores --------------------------------------------------------------------------------------------

@blp.route("/courses/<course_id>/test-scores")
@requires("training-officer", "lecturer", "inspector")
@blp.response(200, schemas.TestScoreSchema(many=True))
def test_scores(course_id):
    """List a course's pre/post test scores per trainee (officers only)."""
    with ctx().transaction() as session:
        return usecases.list_test_scores(session, course_id)


@blp.route("/courses/<course_id>/test-scores", methods=["POST"])
@requires("training-officer", "lecturer")
@blp.arguments(schemas.TestScoresCreateSchema)
@blp.response(201, schemas.CountSchema)
def add_test_scores(data, course_id):
    """Enter pre/post test scores (0–10) for trainees of the course; a score given again replaces the old one."""
    with ctx().transaction() as session:
        return {"count": usecases.record_test_scores(session, course_id, data["scores"], "api")}


@blp.route("/courses/<course_id>/test-scores/import", methods=["POST"])
@requires("training-officer", "lecturer")
@blp.arguments(schemas.CourseUploadSchema, location="files")
@blp.response(201, schemas.CountSchema)
@blp.doc(description="multipart/form-data, field «file»: CSV or XLSX with columns " +
         ", ".join(c.header for c in formats.TEST_SCORE_COLUMNS))
def import_test_scores(files, course_id):
    """Import pre/post test scores from a CSV/XLSX file; a file with any bad line writes nothing."""
    with ctx().transaction() as session:  # read_upload once the course is known: 404 before 422 for the file
        return {"count": usecases.import_test_scores(session, course_id, lambda: read_upload(files))}


# --- L4 unit indicators ----------------------------------------------------------------------------------------

@blp.route("/unit-indicators")
@blp.arguments(schemas.IndicatorQueryArgsSchema, location="query")
@blp.response(200, schemas.ItemsSchema)
@blp.doc(**apidoc.answers("csv", "xlsx"))
def list_indicators(args):
    """List unit indicator values per commune and period (?format=csv|xlsx to download)."""
    with ctx().transaction() as session:
        rows = usecases.list_indicators(session, args["commune_code"], args["indicator_code"])
    return _rows(args["format"], rows, formats.INDICATOR_COLUMNS, formats.INDICATOR_SHEET)


@blp.route("/unit-indicators", methods=["POST"])
@requires("training-officer", "commune-officer")
@blp.arguments(schemas.IndicatorsCreateSchema)
@blp.response(201, schemas.CountSchema)
def add_indicators(data):
    """Enter unit indicator values (commune, indicator, period YYYY-MM or YYYY-Qn, value %); replaces the same."""
    with ctx().transaction() as session:
        return {"count": usecases.upsert_indicators(session, data["items"], "api", within=unit_scope())}


@blp.route("/unit-indicators/<indicator_id>", methods=["DELETE"])
@requires("training-officer", "commune-officer")
@blp.response(204)
def delete_indicator(indicator_id):
    """Delete one unit indicator value."""
    with ctx().transaction() as session:
        usecases.delete_indicator(session, indicator_id, unit_scope())


@blp.route("/unit-indicators/import", methods=["POST"])
@requires("training-officer", "commune-officer")
@blp.arguments(UploadSchema, location="files")
@blp.response(201, schemas.CountSchema)
@blp.doc(description="multipart/form-data, field «file»: CSV or XLSX with columns " +
         ", ".join(c.header for c in formats.INDICATOR_COLUMNS[:4]))
def import_indicators(files):
    """Import unit indicator values from a CSV/XLSX file; a file with any bad line writes nothing."""
    data, name = read_upload(files)
    with ctx().transaction() as session:
        return {"count": usecases.import_indicators(session, data, name, within=unit_scope())}


@blp.route("/courses/<course_id>/unit-indicators")
@blp.arguments(schemas.FormatQueryArgsSchema, location="query")
@blp.response(200, schemas.ItemsSchema)
@blp.doc(**apidoc.answers("csv", "xlsx"))
def course_indicators(args, course_id):
    """Before/after comparison of unit indicators around a course, per commune of its trainees."""
    with ctx().transaction() as session:
        rows = usecases.indicator_comparison(session, course_id)
    return _rows(args["format"], rows, formats.COMPARISON_COLUMNS, formats.COMPARISON_SHEET)


def _rows(fmt: str, rows: list[dict], columns, sheet: dict):
    """JSON {"items": rows}, or the rows as CSV/XLSX (the sheet's heading on XLSX only)."""
    heading = {"heading": sheet["heading"]} if fmt == "xlsx" else {}
    return respond_as(fmt, rows, columns, sheet["filename"], json_body={"items": rows}, **heading)


# --- versioned rules, question bank, templates -----------------------------------------------------------------

register_rules_routes(
    blp, writer_role="training-officer",
    in_force=RuleRoute(
        usecases.list_rules_in_force, answer=schemas.RuleInForceSchema(many=True),
        doc="List every rule kind (scoring, feedback-window, followup, …) with the version in force today."),
    versions=RuleRoute(usecases.list_rule_versions, answer=schemas.RuleSchema(many=True),
                       doc="List every version of one rule kind, newest first."),
    add=RuleRoute(
        usecases.add_rule_version, reads=schemas.RuleCreateSchema, answer=schemas.RuleSchema, status=201,
        doc="Add a version of a rule kind from a date (an open-ended version that started earlier ends the day "
            "before)."))


@blp.route("/question-bank")
@blp.arguments(schemas.BankQueryArgsSchema, location="query")
@blp.response(200, schemas.QuestionSchema(many=True))
def bank(args):
    """List the question bank per evaluated object."""
    with ctx().transaction() as session:
        return usecases.list_bank(session, args["purpose"])


@blp.route("/question-bank", methods=["POST"])
@requires("training-officer")
@blp.arguments(schemas.QuestionSchema)
@blp.response(201, schemas.QuestionSchema)
def add_question(data):
    """Add a question to the bank."""
    with ctx().transaction() as session:
        return usecases.add_bank_item(session, data)


@blp.route("/form-templates")
@blp.response(200, schemas.TemplateSchema(many=True))
def templates():
    """List every form template version."""
    with ctx().transaction() as session:
        return usecases.list_templates(session)


@blp.route("/form-templates", methods=["POST"])
@requires("training-officer")
@blp.arguments(schemas.TemplateCreateSchema)
@blp.response(201, schemas.TemplateSchema)
def add_template(data):
    """Create the next version of a form template from question-bank items."""
    with ctx().transaction() as session:
        return usecases.create_template_version(session, data)


# --- reports and charts ----------------------------------------------------------------------------------------

@blp.route("/reports/courses/<course_id>")
@blp.arguments(schemas.FormatQueryArgsSchema, location="query")
@blp.response(200)
@blp.doc(**apidoc.answers("json", "csv", "xlsx"))
def report_course(args, course_id):
    """The full report of one course (L1–L4) as JSON, or ?format=csv|xlsx."""
    with ctx().transaction() as session:
        data = usecases.get_course_report(session, course_id)
    heading = {"heading": f"Báo cáo đánh giá khóa học {data['course_code']}"} if args["format"] == "xlsx" else {}
    return respond_as(args["format"], data["lines"], formats.LINE_COLUMNS, f"bao-cao-{data['course_code']}",
                      json_body=data, **heading)


def _report(kind: str, args):
    with ctx().transaction() as session:
        rows = usecases.report(session, kind, args["year"], args["topic_code"])
    return _rows(args["format"], rows, formats.report_columns(kind), formats.REPORT_SHEETS[kind])


@blp.route("/reports/courses")
@blp.arguments(schemas.ReportQueryArgsSchema, location="query")
@blp.response(200, schemas.ItemsSchema)
@blp.doc(**apidoc.answers("csv", "xlsx"))
def report_courses(args):
    """Evaluated courses of a year (and topic): index, band, response rate, gain."""
    return _report("courses", args)


@blp.route("/reports/topics")
@blp.arguments(schemas.ReportQueryArgsSchema, location="query")
@blp.response(200, schemas.ItemsSchema)
@blp.doc(**apidoc.answers("csv", "xlsx"))
def report_topics(args):
    """Per topic (chuyên đề): index, band, response rate, gain."""
    return _report("topics", args)


@blp.route("/reports/years")
@blp.arguments(schemas.ReportQueryArgsSchema, location="query")
@blp.response(200, schemas.ItemsSchema)
@blp.doc(**apidoc.answers("csv", "xlsx"))
def report_years(args):
    """Per year: index, band, response rate, gain."""
    return _report("years", args)


@blp.route("/reports/lecturers")
@blp.arguments(schemas.ReportQueryArgsSchema, location="query")
@blp.response(200, schemas.ItemsSchema)
@blp.doc(**apidoc.answers("csv", "xlsx"))
def report_lecturers(args):
    """Per lecturer: mean and band over the year's forms (hidden under the privacy threshold)."""
    return _report("lecturers", args)


@blp.route("/reports/communes")
@blp.arguments(schemas.ReportQueryArgsSchema, location="query")
@blp.response(200, schemas.ItemsSchema)
@blp.doc(**apidoc.answers("csv", "xlsx"))
def report_communes(args):
    """Per sending commune: response rate, satisfaction (hidden under the privacy threshold), gain, excellence."""
    return _report("communes", args)


@blp.route("/reports/courses/<course_id>/charts/criteria")
@blp.arguments(schemas.ChartQueryArgsSchema, location="query")
@blp.response(200)
@blp.doc(**apidoc.answers("svg", "png"))
def chart_criteria(args, course_id):
    """Chart: satisfaction by criterion (and by object) of one course, SVG or PNG."""
    with ctx().transaction() as session:
        summary_ = usecases.get_course_summary(session, course_id)
    return chart_response(formats.chart_criteria(summary_, args["format"]), args["format"])


@blp.route("/reports/courses/<course_id>/charts/gain")
@blp.arguments(schemas.ChartQueryArgsSchema, location="query")
@blp.response(200)
@blp.doc(**apidoc.answers("svg", "png"))
def chart_gain(args, course_id):
    """Chart: pre-test vs post-test means per competency of one course, SVG or PNG."""
    with ctx().transaction() as session:
        summary_ = usecases.get_course_summary(session, course_id)
    return chart_response(formats.chart_gain(summary_, args["format"]), args["format"])


@blp.route("/reports/charts/response-rates")
@blp.arguments(schemas.ChartQueryArgsSchema, location="query")
@blp.response(200)
@blp.doc(**apidoc.answers("svg", "png"))
def chart_response_rates(args):
    """Chart: response rate per course of a year, SVG or PNG."""
    with ctx().transaction() as session:
        rows = usecases.report_courses(session, args["year"])
    return chart_response(formats.chart_response_rates(rows, args["year"], args["format"]), args["format"])


@blp.route("/reports/charts/topics")
@blp.arguments(schemas.ChartQueryArgsSchema, location="query")
@blp.response(200)
@blp.doc(**apidoc.answers("svg", "png"))
def chart_topics(args):
    """Chart: general index and learning gain per topic of a year, SVG or PNG."""
    with ctx().transaction() as session:
        rows = usecases.report_topics(session, args["year"])
    return chart_response(formats.chart_topics(rows, args["year"], args["format"]), args["format"])
