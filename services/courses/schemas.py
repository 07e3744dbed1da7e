"""HTTP contract of the courses service."""
from marshmallow import Schema, fields, validate

from services.courses.domain import BUOI


class LecturerCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    tier = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=10),
                          metadata={"description": "fee tier per the provincial resolution; 1 is the highest"})


class LecturerSchema(LecturerCreateSchema):
    id = fields.String()


class SessionCreateSchema(Schema):
    date = fields.Date(required=True)
    buoi = fields.String(required=True, validate=validate.OneOf(BUOI), metadata={"description": "half-day"})
    periods = fields.Integer(load_default=4, strict=True, validate=validate.Range(min=1, max=6),
                             metadata={"description": "tiết"})
    lecturer_id = fields.String(required=True)


class SessionSchema(Schema):
    id = fields.String()
    date = fields.Date()
    buoi = fields.String()
    periods = fields.Integer()
    lecturer = fields.Nested(LecturerSchema)


class CourseCreateSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    title = fields.String(required=True, validate=validate.Length(min=1, max=300))
    organizer_unit_code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    sessions = fields.List(fields.Nested(SessionCreateSchema), required=True, validate=validate.Length(min=1, max=200))


class ClosingSchema(Schema):
    state = fields.String()
    feedback_requested_at = fields.AwareDateTime(allow_none=True)
    feedback_request_count = fields.Integer(allow_none=True)
    settled_at = fields.AwareDateTime(allow_none=True)
    settlement_total = fields.Integer(allow_none=True, metadata={"description": "whole VND"})
    closed_at = fields.AwareDateTime(allow_none=True)


class CourseSummarySchema(Schema):
    id = fields.String()
    code = fields.String()
    title = fields.String()
    organizer_unit_code = fields.String()
    status = fields.String()
    created_at = fields.AwareDateTime()
    completed_at = fields.AwareDateTime(allow_none=True)


class CourseSchema(CourseSummarySchema):
    sessions = fields.List(fields.Nested(SessionSchema))
    enrolled = fields.Integer()
    closing = fields.Nested(ClosingSchema, allow_none=True)


class CourseQueryArgsSchema(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf(["scheduled", "completed", "closed"]))


class EnrollmentCreateSchema(Schema):
    civil_servant_ids = fields.List(fields.String(validate=validate.Length(min=1, max=36)), required=True,
                                    validate=validate.Length(min=1, max=500))


class AttendanceRecordSchema(Schema):
    session_id = fields.String(required=True)
    civil_servant_id = fields.String(required=True)
    present = fields.Boolean(required=True)


class AttendanceCreateSchema(Schema):
    records = fields.List(fields.Nested(AttendanceRecordSchema), required=True,
                          validate=validate.Length(min=1, max=20_000))


class EnrollmentSchema(Schema):
    civil_servant_id = fields.String()
    code = fields.String()
    unit_code = fields.String()
    commune_code = fields.String()
    sessions_attended = fields.Integer()
    days_attended = fields.Integer()
    completed = fields.Boolean(metadata={"description": "full attendance so far"})


class CountSchema(Schema):
    count = fields.Integer()


class TraineeSchema(Schema):
    civil_servant_id = fields.String()
    code = fields.String()
    unit_code = fields.String()
    commune_code = fields.String()
    position_code = fields.String()


class TraineeQueryArgsSchema(Schema):
    commune_code = fields.String(load_default=None)
