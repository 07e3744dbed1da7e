"""HTTP contract of the evaluation service."""
from marshmallow import Schema, fields, validate

_score = dict(load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1, max=10))


class ScoresSchema(Schema):
    """One score 1–10 per criterion; an unanswered criterion is null or left out."""

    content = fields.Integer(**_score)
    methods = fields.Integer(**_score)
    lecturer = fields.Integer(**_score)
    organisation = fields.Integer(**_score)
    applicability = fields.Integer(**_score)


class FeedbackSubmitSchema(Schema):
    scores = fields.Nested(ScoresSchema, required=True)
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class FeedbackAcceptedSchema(Schema):
    id = fields.String()
    valid = fields.Boolean()
    submitted_at = fields.AwareDateTime()


class CriterionSchema(Schema):
    code = fields.String()
    label = fields.String()


class FeedbackFormSchema(Schema):
    course_code = fields.String()
    course_title = fields.String()
    deadline = fields.AwareDateTime()
    state = fields.String(metadata={"description": "open | submitted | expired"})
    criteria = fields.List(fields.Nested(CriterionSchema))


class FeedbackRequestSchema(Schema):
    civil_servant_id = fields.String()
    token = fields.String()
    link = fields.String(metadata={"description": "the trainee's link (FEEDBACK_BASE_URL + path)"})
    deadline = fields.AwareDateTime()
    submitted_at = fields.AwareDateTime(allow_none=True)


class FeedbackSummarySchema(Schema):
    course_id = fields.String()
    course_code = fields.String()
    course_title = fields.String()
    feedback_deadline = fields.AwareDateTime()
    requests = fields.Integer()
    responses = fields.Integer()
    valid_responses = fields.Integer()
    response_rate = fields.Float()
    means = fields.Dict(keys=fields.String(), values=fields.Float(allow_none=True))
    index = fields.Float(allow_none=True)
    band = fields.String(allow_none=True)
    band_label = fields.String(allow_none=True)
    criteria_labels = fields.Dict(keys=fields.String(), values=fields.String())
