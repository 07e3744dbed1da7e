"""HTTP contract of the evaluation service."""
from marshmallow import Schema, fields, validate

from services.evaluation import domain
from shared.web import UploadSchema

_score = dict(load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1, max=10))
_code = dict(required=True, validate=validate.Length(min=1, max=40))


class ScoresSchema(Schema):
    """One score 1–10 per criterion; an unanswered criterion is null or left out."""

    content = fields.Integer(**_score)
    methods = fields.Integer(**_score)
    lecturer = fields.Integer(**_score)
    organisation = fields.Integer(**_score)
    applicability = fields.Integer(**_score)


_one_to_ten = fields.Integer(allow_none=True, strict=True, validate=validate.Range(min=1, max=10))


class FeedbackCreateSchema(Schema):
    scores = fields.Nested(ScoresSchema, load_default=dict, metadata={
        "description": "the five common dimensions (template KH-CHUNG)"})
    answers = fields.Dict(keys=fields.String(validate=validate.Length(max=40)), values=_one_to_ten,
                          load_default=dict, metadata={"description": "{indicator code: 1–10} for any template"})
    lecturers = fields.Dict(keys=fields.String(validate=validate.Length(max=36)),
                            values=fields.Dict(keys=fields.String(validate=validate.Length(max=40)),
                                               values=_one_to_ten),
                            load_default=dict, metadata={"description": "{lecturer_id: {indicator: 1–10}}"})
    texts = fields.Dict(keys=fields.String(validate=validate.Length(max=40)),
                        values=fields.String(validate=validate.Length(max=2000)), load_default=dict)
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class FeedbackAcceptedSchema(Schema):
    id = fields.String()
    valid = fields.Boolean()
    submitted_at = fields.AwareDateTime()


class CriterionSchema(Schema):
    code = fields.String()
    label = fields.String()


class FeedbackFormSchema(Schema):
    kind = fields.String(metadata={"description": "course | trainee | supervisor (follow-up)"})
    title = fields.String()
    course_code = fields.String()
    course_title = fields.String()
    deadline = fields.AwareDateTime()
    state = fields.String(metadata={"description": "open | submitted | expired"})
    criteria = fields.List(fields.Nested(CriterionSchema))
    sections = fields.List(fields.Dict())
    lecturers = fields.List(fields.Dict())


class FeedbackRequestSchema(Schema):
    civil_servant_id = fields.String()
    token = fields.String()
    link = fields.String(metadata={"description": "the trainee's link (FEEDBACK_BASE_URL + /feedback/<token>)"})
    deadline = fields.AwareDateTime()
    submitted_at = fields.AwareDateTime(allow_none=True)
    reminders = fields.Integer()


class FollowupRequestSchema(Schema):
    civil_servant_id = fields.String()
    respondent = fields.String()
    token = fields.String()
    link = fields.String()
    deadline = fields.AwareDateTime()
    submitted_at = fields.AwareDateTime(allow_none=True)


class LecturerScoreSchema(Schema):
    lecturer_id = fields.String()
    mean = fields.Float(allow_none=True)
    band = fields.String(allow_none=True)
    responses = fields.Integer()
    suppressed = fields.Boolean()


class GainSchema(Schema):
    competency_code = fields.String(allow_none=True)
    pre_mean = fields.Float(allow_none=True)
    post_mean = fields.Float(allow_none=True)
    gain = fields.Float(allow_none=True)
    paired = fields.Integer()


class FeedbackSummarySchema(Schema):
    course_id = fields.String()
    course_code = fields.String()
    course_title = fields.String()
    topic_code = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "open | closed"})
    closed_at = fields.AwareDateTime(allow_none=True)
    feedback_deadline = fields.AwareDateTime()
    requests = fields.Integer()
    responses = fields.Integer()
    valid_responses = fields.Integer()
    response_rate = fields.Float()
    suppressed = fields.Boolean(metadata={
        "description": "scores hidden: the answer window is still open, or fewer valid forms than the privacy "
                       "threshold; counts are always shown"})
    suppressed_reason = fields.String(allow_none=True, metadata={"description": "window_open | too_few_forms"})
    means = fields.Dict(keys=fields.String(), values=fields.Float(allow_none=True))
    criterion_means = fields.Dict(keys=fields.String(), values=fields.Float(allow_none=True))
    object_scores = fields.Dict(keys=fields.String(), values=fields.Float(allow_none=True))
    index = fields.Float(allow_none=True)
    band = fields.String(allow_none=True)
    band_label = fields.String(allow_none=True)
    criteria_labels = fields.Dict(keys=fields.String(), values=fields.String())
    object_labels = fields.Dict(keys=fields.String(), values=fields.String())
    lecturer_scores = fields.List(fields.Nested(LecturerScoreSchema))
    learning_gain = fields.List(fields.Nested(GainSchema))
    excellent_learner_count = fields.Integer()
    comments = fields.List(fields.String(), metadata={"description": "free texts, only with enough answers"})


class RuleCreateSchema(Schema):
    """A new version of a rule kind (POST /api/v1/rules/<kind>)."""
    valid_from = fields.Date(required=True)
    valid_to = fields.Date(load_default=None, allow_none=True)
    legal_basis = fields.String(required=True, validate=validate.Length(min=1, max=300))
    params = fields.Dict(required=True)
    is_sample = fields.Boolean(load_default=False)


class RuleSchema(Schema):
    id = fields.String()
    kind = fields.String()
    code = fields.String()
    valid_from = fields.Date()
    valid_to = fields.Date(allow_none=True)
    legal_basis = fields.String()
    params = fields.Dict()
    is_sample = fields.Boolean()


class RuleInForceSchema(Schema):
    """A rule kind with the version in force today (null when none is)."""
    kind = fields.String()
    in_force = fields.Nested(RuleSchema, allow_none=True)


class QuestionSchema(Schema):
    code = fields.String(**_code)
    object_code = fields.String(required=True, validate=validate.OneOf(domain.OBJECTS))
    criterion_code = fields.String(**_code)
    label = fields.String(required=True, validate=validate.Length(min=1, max=300))
    kind = fields.String(required=True, validate=validate.OneOf(["score", "text"]))
    purpose = fields.String(required=True, validate=validate.OneOf(domain.PURPOSES))


class BankQueryArgsSchema(Schema):
    purpose = fields.String(load_default=None, validate=validate.OneOf(domain.PURPOSES))


class TemplateCreateSchema(Schema):
    code = fields.String(**_code)
    purpose = fields.String(required=True, validate=validate.OneOf(domain.PURPOSES))
    title = fields.String(required=True, validate=validate.Length(min=1, max=300))
    item_codes = fields.List(fields.String(validate=validate.Length(min=1, max=40)), required=True,
                             validate=validate.Length(min=1, max=100))


class TemplateSchema(Schema):
    id = fields.String()
    code = fields.String()
    version = fields.Integer()
    purpose = fields.String()
    title = fields.String()
    items = fields.List(fields.Dict())
    created_at = fields.AwareDateTime()


class TestScoreCreateSchema(Schema):
    civil_servant_id = fields.String(required=True, validate=validate.Length(min=1, max=36))
    kind = fields.String(required=True, validate=validate.OneOf(["pre", "post"]))
    competency_code = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=20))
    score = fields.Float(required=True, validate=validate.Range(min=0, max=10))


class TestScoresCreateSchema(Schema):
    scores = fields.List(fields.Nested(TestScoreCreateSchema), required=True, validate=validate.Length(min=1, max=5000))


class TestScoreSchema(Schema):
    civil_servant_id = fields.String()
    kind = fields.String()
    competency_code = fields.String(allow_none=True)
    score = fields.Float()
    source = fields.String()


class CountSchema(Schema):
    count = fields.Integer()


class IndicatorCreateSchema(Schema):
    commune_code = fields.String(**_code)
    indicator_code = fields.String(**_code)
    period = fields.String(required=True, validate=validate.Length(min=6, max=10),
                           metadata={"description": "YYYY-MM or YYYY-Qn"})
    value = fields.Float(required=True, validate=validate.Range(min=0, max=100))


class IndicatorsCreateSchema(Schema):
    items = fields.List(fields.Nested(IndicatorCreateSchema), required=True, validate=validate.Length(min=1, max=5000))


class IndicatorQueryArgsSchema(Schema):
    commune_code = fields.String(load_default=None)
    indicator_code = fields.String(load_default=None)
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv", "xlsx"]))


class ReportQueryArgsSchema(Schema):
    year = fields.Integer(load_default=None, validate=validate.Range(min=2000, max=2100))
    topic_code = fields.String(load_default=None)
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv", "xlsx"]))


class FormatQueryArgsSchema(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv", "xlsx"]))


class ChartQueryArgsSchema(Schema):
    year = fields.Integer(load_default=None, validate=validate.Range(min=2000, max=2100))
    format = fields.String(load_default="svg", validate=validate.OneOf(["svg", "png"]))


class NotificationQueryArgsSchema(Schema):
    course_id = fields.String(load_default=None)
    kind = fields.String(load_default=None)
    limit = fields.Integer(load_default=200, validate=validate.Range(min=1, max=2000))


class NotificationSchema(Schema):
    id = fields.String()
    course_id = fields.String()
    civil_servant_id = fields.String()
    kind = fields.String()
    channel = fields.String()
    link = fields.String()
    deadline = fields.AwareDateTime()
    message = fields.String()
    created_at = fields.AwareDateTime()


class RunJobsCreateSchema(Schema):
    """POST /admin/evaluation/jobs/run: how many due jobs to run now."""
    limit = fields.Integer(load_default=100, strict=True, validate=validate.Range(min=1, max=1000))


class RanSchema(Schema):
    ran = fields.Integer()


class ProgressSchema(Schema):
    course_id = fields.String()
    code = fields.String()
    deadline = fields.String()
    status = fields.String()
    requests = fields.Integer()
    answered = fields.Integer()


class ItemsSchema(Schema):
    """{"items": [...]}: the JSON shape of a list that can also be downloaded or shown to operators."""
    items = fields.List(fields.Dict())


class FollowupScheduledSchema(Schema):
    course_id = fields.String()
    rescheduled = fields.Integer(metadata={"description": "1 when the follow-up job is due now"})


class FollowupSummarySchema(Schema):
    course_id = fields.String()
    trainee = fields.Dict(metadata={"description": "requests, responses, valid_responses, response_rate, means, "
                                                   "index, band, suppressed"})
    supervisor = fields.Dict()
    unit_indicators = fields.List(fields.Dict())


class CourseUploadSchema(UploadSchema):
    """A CSV/XLSX upload to a course's path: the file is checked after the course exists (an unknown course is a
    404 whether or not a file came)."""

    file = fields.Raw(load_default=None, metadata={"type": "string", "format": "binary",
                                                   "description": ".csv (UTF-8) or .xlsx"})
