"""HTTP contract of the courses service."""
from datetime import date

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from shared.localtime import vn_time
from shared.web import UploadSchema
from services.courses.domain import (BUOI, CONFIRMATIONS, CONTENT_AREAS, DEGREES, FORMS, FOSTERING_TYPES,
                                     STATUSES)

HHMM = validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", error="Giờ phải có dạng HH:MM.")
HHMM_LENGTH = validate.Length(min=4, max=5)  # the time itself is parsed by the use case (422 naming the field)
RANK_VARIANTS = ("chuyen_vien", "chinh", "cao_cap")
# Dates outside this window are typing mistakes; the years 1 and 9999 overflow the UTC conversion of session times.
DAY = validate.Range(min=date(2000, 1, 1), max=date(2100, 12, 31), error="Ngày phải trong khoảng 2000–2100.")


# --- reference data ------------------------------------------------------------------------------------------------

class TopicSchema(Schema):
    code = fields.String()
    name = fields.String()
    content_area = fields.String()
    competency_codes = fields.List(fields.String())
    fostering_types = fields.List(fields.String())


class TopicCreateSchema(Schema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Z0-9][A-Z0-9-]{0,39}$",
                                                                  error="Mã chuyên đề: chữ in hoa, số, gạch nối."))
    name = fields.String(required=True, validate=validate.Length(min=1, max=300))
    content_area = fields.String(required=True, validate=validate.OneOf(CONTENT_AREAS))
    competency_codes = fields.List(fields.String(validate=validate.Length(min=1, max=20)), load_default=list,
                                   validate=validate.Length(max=20))
    fostering_types = fields.List(fields.String(validate=validate.OneOf(FOSTERING_TYPES)), required=True,
                                  validate=validate.Length(min=1, max=4),
                                  metadata={"description": "the first is the default of courses on this topic"})


class LengthCapCreateSchema(Schema):
    fostering_type = fields.String(required=True, validate=validate.OneOf(FOSTERING_TYPES))
    variant = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(RANK_VARIANTS))
    max_days = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1, max=400),
                              metadata={"description": "most training days (dates with at least one buổi)"})
    max_block_working_days = fields.Integer(load_default=None, allow_none=True, strict=True,
                                            validate=validate.Range(min=1, max=60))
    legal_basis = fields.String(required=True, validate=validate.Length(min=1, max=300))
    valid_from = fields.Date(required=True, validate=DAY)
    valid_to = fields.Date(load_default=None, allow_none=True, validate=DAY)


class LengthCapSchema(LengthCapCreateSchema):
    id = fields.String()
    is_sample = fields.Boolean()


class LecturerStandardCreateSchema(Schema):
    min_degree = fields.String(required=True, validate=validate.OneOf(DEGREES))
    require_pedagogy = fields.Boolean(load_default=True, metadata={"description": "nghiệp vụ sư phạm required"})
    min_years_experience = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0, max=50))
    legal_basis = fields.String(required=True, validate=validate.Length(min=1, max=300))
    valid_from = fields.Date(required=True, validate=DAY)
    valid_to = fields.Date(load_default=None, allow_none=True, validate=DAY)


class LecturerStandardSchema(LecturerStandardCreateSchema):
    id = fields.String()
    is_sample = fields.Boolean()


UNDATED = ("without valid_from the values correct the version in force now (its validity kept), or start one "
           "valid for every date")


class DutyShareSchema(Schema):
    id = fields.String(dump_only=True)
    commune_code = fields.String(required=True, validate=validate.Length(min=1, max=40),
                                 metadata={"description": "a commune code, or * for the default"})
    max_absent_percent = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=100))
    note = fields.String(load_default="", validate=validate.Length(max=300),
                         metadata={"description": "legal basis or the client's decision behind the value"})
    valid_from = fields.Date(load_default=None, allow_none=True, validate=DAY, metadata={"description": UNDATED})
    valid_to = fields.Date(load_default=None, allow_none=True, validate=DAY)
    is_sample = fields.Boolean(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class BuoiTimeSchema(Schema):
    id = fields.String(dump_only=True)
    buoi = fields.String(required=True, validate=validate.OneOf(BUOI))
    start_local = fields.String(required=True, validate=HHMM)
    end_local = fields.String(required=True, validate=HHMM)
    note = fields.String(load_default="", validate=validate.Length(max=300),
                         metadata={"description": "legal basis or the client's decision behind the times"})
    valid_from = fields.Date(load_default=None, allow_none=True, validate=DAY, metadata={"description": UNDATED})
    valid_to = fields.Date(load_default=None, allow_none=True, validate=DAY)
    is_sample = fields.Boolean(dump_only=True)


COURSE_RULE_KEYS = ("pass_score", "periods_per_buoi")


class CourseRuleCreateSchema(Schema):
    key = fields.String(required=True, validate=validate.OneOf(COURSE_RULE_KEYS),
                        metadata={"description": "pass_score (every certifying test ≥ it, 0–10) or periods_per_buoi "
                                                 "(default tiết per buổi)"})
    value = fields.Float(required=True, allow_nan=False, validate=validate.Range(min=0, max=10))
    legal_basis = fields.String(required=True, validate=validate.Length(min=1, max=300))
    valid_from = fields.Date(required=True, validate=DAY)
    valid_to = fields.Date(load_default=None, allow_none=True, validate=DAY)


class CourseRuleSchema(CourseRuleCreateSchema):
    id = fields.String()
    is_sample = fields.Boolean()


# --- lecturers and venues -----------------------------------------------------------------------------------------


class RuleInForceSchema(Schema):
    kind = fields.String(metadata={"description": "length-caps, lecturer-standards, duty-shares, buoi-times, "
                                                  "course-rules"})
    key = fields.Dict(metadata={"description": "which rule of the kind (e.g. fostering_type and variant)"})
    value = fields.Dict(metadata={"description": "the values of the version in force today"})
    legal_basis = fields.String()
    valid_from = fields.Date()
    valid_to = fields.Date(allow_none=True)
    is_sample = fields.Boolean()



class RuleVersionSchema(Schema):
    """A version of any kind of rule: its key, its values (those of its kind), legal basis and validity."""

    id = fields.String()
    fostering_type, variant = fields.String(), fields.String(allow_none=True)
    max_days = fields.Integer(allow_none=True)
    max_block_working_days = fields.Integer(allow_none=True)
    min_degree, require_pedagogy, min_years_experience = fields.String(), fields.Boolean(), fields.Integer()
    commune_code, max_absent_percent = fields.String(), fields.Integer()
    buoi, start_local, end_local = fields.String(), fields.String(), fields.String()
    key, value = fields.String(), fields.Float()
    legal_basis, note = fields.String(), fields.String()
    valid_from, valid_to = fields.Date(), fields.Date(allow_none=True)
    is_sample = fields.Boolean()
    updated_at = fields.AwareDateTime()



class AttendanceSheetUploadSchema(UploadSchema):
    """The filled-in sheet (multipart «file»); a missing file is refused by read_upload, in the 422 shape naming
    `file` that every refused upload of this service has."""

    file = fields.Raw(load_default=None, metadata={"type": "string", "format": "binary",
                                                   "description": ".csv (UTF-8) or .xlsx"})


class LecturerCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    tier = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=10),
                          metadata={"description": "fee tier per the provincial resolution; 1 is the highest"})
    degree = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(DEGREES))
    pedagogy_certificate = fields.Boolean(load_default=False, metadata={"description": "nghiệp vụ sư phạm"})
    years_experience = fields.Integer(load_default=None, allow_none=True, strict=True,
                                      validate=validate.Range(min=0, max=70))
    organisation = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    qualifications = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))
    topic_codes = fields.List(fields.String(validate=validate.Length(min=1, max=40)), load_default=list,
                              validate=validate.Length(max=30), metadata={"description": "topics taught; empty = any"})


class RatingSchema(Schema):
    course_id = fields.String()
    mean = fields.Float()
    band = fields.String()
    responses = fields.Integer()
    evaluated_at = fields.AwareDateTime()


class LecturerSchema(LecturerCreateSchema):
    id = fields.String()
    average_rating = fields.Float(allow_none=True, metadata={"description": "mean of evaluated courses, 1–10"})
    rating_count = fields.Integer()
    meets_standard = fields.Boolean()
    standard_problems = fields.List(fields.String())
    available = fields.Boolean(allow_none=True, metadata={"description": "free on the date asked (if any)"})


class LecturerDetailSchema(LecturerSchema):
    ratings = fields.List(fields.Nested(RatingSchema))


class LecturerRefSchema(Schema):
    id = fields.String()
    name = fields.String()
    tier = fields.Integer()


class LecturerQueryArgsSchema(Schema):
    topic = fields.String(load_default=None, validate=validate.Length(max=40))
    date = fields.Date(load_default=None, validate=DAY)
    buoi = fields.String(load_default=None, validate=validate.OneOf(BUOI))


class DistanceSchema(Schema):
    commune_code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    km = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=2000),
                        metadata={"description": "one way, whole km"})


class VenueCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    address = fields.String(required=True, validate=validate.Length(min=1, max=300))
    capacity = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=5000))
    province_code = fields.String(load_default="CM", validate=validate.Length(min=1, max=20))
    facilities = fields.List(fields.String(validate=validate.Length(min=1, max=100)), load_default=list,
                             validate=validate.Length(max=30))
    distances = fields.List(fields.Nested(DistanceSchema), load_default=list, validate=validate.Length(max=200))


class VenueUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    address = fields.String(validate=validate.Length(min=1, max=300))
    capacity = fields.Integer(strict=True, validate=validate.Range(min=1, max=5000))
    facilities = fields.List(fields.String(validate=validate.Length(min=1, max=100)), validate=validate.Length(max=30))
    distances = fields.List(fields.Nested(DistanceSchema), validate=validate.Length(max=200),
                            metadata={"description": "replaces the whole distance table"})


class VenueSchema(VenueCreateSchema):
    id = fields.String()


class VenueQueryArgsSchema(Schema):
    min_capacity = fields.Integer(load_default=None, validate=validate.Range(min=1, max=5000))


# --- courses ------------------------------------------------------------------------------------------------------

class SessionCreateSchema(Schema):
    date = fields.Date(required=True, validate=DAY)
    buoi = fields.String(required=True, validate=validate.OneOf(BUOI), metadata={"description": "half-day"})
    periods = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1, max=6),
                             metadata={"description": "tiết; by default the periods_per_buoi rule in force that day"})
    lecturer_id = fields.String(required=True, validate=validate.Length(min=1, max=36))
    venue_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=36),
                             metadata={"description": "defaults to the course's venue"})
    start_time = fields.String(load_default=None, allow_none=True, validate=HHMM_LENGTH,
                               metadata={"description": "local HH:MM; defaults to the buổi's start"})
    end_time = fields.String(load_default=None, allow_none=True, validate=HHMM_LENGTH,
                             metadata={"description": "local HH:MM; a session never spans midnight"})


class SessionUpdateSchema(Schema):
    date = fields.Date(validate=DAY)
    buoi = fields.String(validate=validate.OneOf(BUOI))
    periods = fields.Integer(strict=True, validate=validate.Range(min=1, max=6))
    lecturer_id = fields.String(validate=validate.Length(min=1, max=36))
    venue_id = fields.String(allow_none=True, validate=validate.Length(min=1, max=36))
    start_time = fields.String(allow_none=True, validate=HHMM_LENGTH)
    end_time = fields.String(allow_none=True, validate=HHMM_LENGTH)


class SessionsCreateSchema(Schema):
    sessions = fields.List(fields.Nested(SessionCreateSchema), required=True, validate=validate.Length(min=1, max=200))


def _local(value):
    return vn_time(value) if value else None


class SessionSchema(Schema):
    id = fields.String()
    date = fields.Date()
    buoi = fields.String()
    periods = fields.Integer()
    lecturer = fields.Nested(LecturerRefSchema)
    venue_id = fields.String(allow_none=True)
    starts_at = fields.AwareDateTime(allow_none=True)
    ends_at = fields.AwareDateTime(allow_none=True)
    local_time = fields.Function(lambda s: f"{_local(s.starts_at)}–{_local(s.ends_at)}" if s.starts_at else None,
                                 metadata={"description": "Asia/Ho_Chi_Minh"})


class CourseFieldsSchema(Schema):
    topic_code = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=40))
    fostering_type = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(FOSTERING_TYPES))
    fostering_variant = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(RANK_VARIANTS),
                                      metadata={"description": "rank level (rank courses): length cap 4/6/8 weeks"})
    form = fields.String(load_default="in_person", validate=validate.OneOf(FORMS))
    venue_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=36))
    capacity = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1, max=2000))
    excused_max_percent = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0, max=100),
                                         metadata={"description": "excused absences still counted as full attendance"})


class CourseCreateSchema(CourseFieldsSchema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    title = fields.String(required=True, validate=validate.Length(min=1, max=300))
    organizer_unit_code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    sessions = fields.List(fields.Nested(SessionCreateSchema), load_default=list, validate=validate.Length(max=200))


class CourseUpdateSchema(Schema):
    title = fields.String(validate=validate.Length(min=1, max=300))
    organizer_unit_code = fields.String(validate=validate.Length(min=1, max=40))
    topic_code = fields.String(allow_none=True, validate=validate.Length(min=1, max=40))
    fostering_type = fields.String(allow_none=True, validate=validate.OneOf(FOSTERING_TYPES))
    fostering_variant = fields.String(allow_none=True, validate=validate.OneOf(RANK_VARIANTS))
    form = fields.String(validate=validate.OneOf(FORMS))
    venue_id = fields.String(allow_none=True, validate=validate.Length(min=1, max=36))
    capacity = fields.Integer(allow_none=True, strict=True, validate=validate.Range(min=1, max=2000))
    excused_max_percent = fields.Integer(strict=True, validate=validate.Range(min=0, max=100))


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
    status = fields.String(metadata={"description": " → ".join(STATUSES)})
    status_reason = fields.String(allow_none=True, metadata={"description": "e.g. why funds are awaited"})
    topic_code = fields.String(allow_none=True)
    fostering_type = fields.String(allow_none=True)
    form = fields.String()
    revision = fields.Integer()
    plan_line_id = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    completed_at = fields.AwareDateTime(allow_none=True)


class CourseSchema(CourseSummarySchema):
    fostering_variant = fields.String(allow_none=True)
    venue = fields.Nested(VenueSchema, allow_none=True)
    capacity = fields.Integer(allow_none=True)
    excused_max_percent = fields.Integer()
    plan_id = fields.String(allow_none=True)
    scheduled_at = fields.AwareDateTime(allow_none=True)
    confirmed_at = fields.AwareDateTime(allow_none=True)
    cancelled_at = fields.AwareDateTime(allow_none=True)
    reservation_id = fields.String(allow_none=True)
    estimate_total = fields.Integer(allow_none=True, metadata={"description": "whole VND, from funding"})
    sessions = fields.List(fields.Nested(SessionSchema))
    enrolled = fields.Integer()
    waitlisted = fields.Integer()
    withdrawn = fields.Integer()
    closing = fields.Nested(ClosingSchema, allow_none=True)


class CourseQueryArgsSchema(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    topic_code = fields.String(load_default=None, validate=validate.Length(max=40))


class ScheduleCreateSchema(Schema):
    course_ids = fields.List(fields.String(validate=validate.Length(min=1, max=36)), required=True,
                             validate=validate.Length(min=1, max=1000))


class CancellationCreateSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class ConflictSchema(Schema):
    kind = fields.String(metadata={"description": "trainee | lecturer | venue | commune_share"})
    message = fields.String()
    session_id = fields.String(allow_none=True)
    other_session_id = fields.String(allow_none=True)
    ref = fields.String(allow_none=True)


class CandidateSchema(Schema):
    civil_servant_id = fields.String()
    commune_code = fields.String()
    priority_score = fields.Float()
    need_ids = fields.List(fields.String())
    rank = fields.Integer()


# --- enrollment, attendance, results --------------------------------------------------------------------------------

class EnrollmentCreateSchema(Schema):
    civil_servant_ids = fields.List(fields.String(validate=validate.Length(min=1, max=36)), required=True,
                                    validate=validate.Length(min=1, max=500))


class EnrollResultSchema(Schema):
    count = fields.Integer(metadata={"description": "trainees added (enrolled + waitlisted)"})
    enrolled = fields.Integer()
    waitlisted = fields.Integer()


class WithdrawalCreateSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class PromotionSchema(Schema):
    civil_servant_id = fields.String()
    promoted = fields.Boolean()
    reason = fields.String()


class WithdrawResultSchema(Schema):
    withdrawn = fields.String()
    promotions = fields.List(fields.Nested(PromotionSchema))


class AttendanceRecordSchema(Schema):
    session_id = fields.String(required=True, validate=validate.Length(min=1, max=36))
    civil_servant_id = fields.String(required=True, validate=validate.Length(min=1, max=36))
    present = fields.Boolean(required=True)
    excused = fields.Boolean(load_default=False, metadata={"description": "absent with permission"})


class AttendanceCreateSchema(Schema):
    records = fields.List(fields.Nested(AttendanceRecordSchema), required=True,
                          validate=validate.Length(min=1, max=20_000))


class ScoreSchema(Schema):
    civil_servant_id = fields.String(required=True, validate=validate.Length(min=1, max=36))
    kind = fields.String(required=True, validate=validate.OneOf(["pre", "post", "module"]))
    competency_code = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=40))
    score = fields.Float(required=True, validate=validate.Range(min=0, max=10), metadata={"description": "0–10"})


class ResultsCreateSchema(Schema):
    scores = fields.List(fields.Nested(ScoreSchema), required=True, validate=validate.Length(min=1, max=20_000))


class TestScoreSchema(Schema):
    kind = fields.String()
    competency_code = fields.String(allow_none=True)
    score = fields.Float()


class EnrollmentSchema(Schema):
    civil_servant_id = fields.String()
    code = fields.String()
    unit_code = fields.String()
    commune_code = fields.String()
    status = fields.String(metadata={"description": "enrolled | waitlisted | withdrawn"})
    status_reason = fields.String(allow_none=True)
    priority_score = fields.Float(allow_none=True)
    need_ids = fields.List(fields.String())
    sessions_attended = fields.Integer()
    days_attended = fields.Integer()
    excused_sessions = fields.Integer()
    completed = fields.Boolean(metadata={"description": "attendance rule met so far"})
    certified = fields.Boolean(metadata={"description": "attendance and every test ≥ 5/10"})
    outcome_reasons = fields.List(fields.String())
    certificate_no = fields.String(allow_none=True)
    tests = fields.List(fields.Nested(TestScoreSchema))


class EnrollmentQueryArgsSchema(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf(["enrolled", "waitlisted", "withdrawn"]))


class CertificateSchema(Schema):
    civil_servant_id = fields.String()
    code = fields.String()
    commune_code = fields.String()
    certificate_no = fields.String()
    course_code = fields.String()
    course_title = fields.String()


class CountSchema(Schema):
    count = fields.Integer()


class CheckinLinkSchema(Schema):
    session_id = fields.String()
    url = fields.String()
    qr_svg = fields.String(metadata={"description": "URL of the QR image (SVG); add ?format=png for PNG"})


class QrQueryArgsSchema(Schema):
    format = fields.String(load_default="svg", validate=validate.OneOf(["svg", "png"]))


class PersonalCheckinLinkSchema(Schema):
    civil_servant_id = fields.String()
    code = fields.String()
    url = fields.String(metadata={"description": "the trainee's own check-in link (works in each session's window)"})
    qr_svg = fields.String(metadata={"description": "URL of its QR image (SVG); add ?format=png for PNG"})



class SelfCheckinQueryArgsSchema(Schema):
    confirmation = fields.String(load_default=None, validate=validate.OneOf(CONFIRMATIONS))


class SelfCheckinSchema(Schema):
    civil_servant_id = fields.String()
    code = fields.String()
    confirmation = fields.String(metadata={"description": "pending | confirmed | rejected (only confirmed counts)"})
    checked_in_at = fields.DateTime()
    reviewed_at = fields.DateTime(allow_none=True)


class SelfCheckinListSchema(Schema):
    session_id = fields.String()
    pending = fields.Integer(metadata={"description": "self check-ins of the session still to confirm or reject"})
    items = fields.List(fields.Nested(SelfCheckinSchema))


class SelfCheckinDecisionCreateSchema(Schema):
    decision = fields.String(required=True, validate=validate.OneOf(["confirm", "reject"]))


class SelfCheckinReviewCreateSchema(SelfCheckinDecisionCreateSchema):
    civil_servant_ids = fields.List(fields.String(validate=validate.Length(min=1, max=36)), load_default=None,
                                    validate=validate.Length(min=1, max=500),
                                    metadata={"description": "the trainees to decide on; omitted: every pending one"})


class SelfCheckinReviewSchema(Schema):
    decision = fields.String()
    count = fields.Integer(metadata={"description": "self check-ins decided by this request"})
    pending = fields.Integer(metadata={"description": "self check-ins of the session still pending"})


class SelfCheckinResultSchema(Schema):
    course_code = fields.String()
    course_title = fields.String()
    session_id = fields.String()
    date = fields.Date()
    buoi = fields.String()
    confirmation = fields.String(metadata={"description": "pending until the officer confirms it"})


# --- trainees, calendar, documents ----------------------------------------------------------------------------------

class TraineeSchema(Schema):
    civil_servant_id = fields.String()
    code = fields.String()
    unit_code = fields.String()
    commune_code = fields.String()
    position_code = fields.String()
    employment_status = fields.String()


class TraineeQueryArgsSchema(Schema):
    commune_code = fields.String(load_default=None)


class CalendarQueryArgsSchema(Schema):
    start = fields.Date(load_default=None, data_key="from", validate=DAY)
    end = fields.Date(load_default=None, data_key="to", validate=DAY)
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "ics"]))

    @validates_schema
    def _order(self, data, **_):
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            raise ValidationError("Ngày kết thúc («to») trước ngày bắt đầu («from»).", field_name="to")


class CalendarEntrySchema(Schema):
    session_id = fields.String()
    course_id = fields.String()
    course_code = fields.String()
    title = fields.String()
    status = fields.String()
    date = fields.Date()
    buoi = fields.String()
    periods = fields.Integer()
    starts_at = fields.AwareDateTime(allow_none=True)
    ends_at = fields.AwareDateTime(allow_none=True)
    lecturer_id = fields.String()
    lecturer_name = fields.String()
    venue_id = fields.String(allow_none=True)
    venue_name = fields.String(allow_none=True)
    venue_address = fields.String(allow_none=True)
    form = fields.String()
    trainees_from_commune = fields.Integer(allow_none=True)


class DocumentQueryArgsSchema(Schema):
    format = fields.String(load_default="xlsx", validate=validate.OneOf(["csv", "xlsx"]))
