"""The event envelope and the catalogue of every event type and version on the bus.

Wire contract (../shared/reliability.md): topic exchange `training.events`, routing key = event type,
JSON envelope {id, type, version, occurred_at, producer, correlation_id, causation_id, payload},
AMQP message_id = envelope id. Producers validate before writing the outbox; consumers validate on
receipt and tolerate unknown fields.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from shared.db import utcnow
from shared.fastload import Fallback, fast_dump, fast_load
from shared.logs import get_correlation_id


class EventContractError(Exception):
    """An event does not match its catalogue schema; it can never be processed as it is."""

    def __init__(self, message: str, errors: Any = None):
        super().__init__(message)
        self.errors = errors


class _EventSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # tolerant reader: later versions may add fields


# --- payload schemas: one per (type, version) ------------------------------------------------------------------

class CivilServantRegisteredV1(_EventSchema):
    """needs.civil_servant_registered v1: only what other services need, no names or birth data."""

    civil_servant_id = fields.String(required=True)
    code = fields.String(required=True)
    unit_code = fields.String(required=True)  # the unit the person is registered in (may be a former unit)
    commune_code = fields.String(required=True)  # today's commune after the 2025-07-01 merger
    position_code = fields.String(required=True)
    female = fields.Boolean(required=True)
    ethnic_minority = fields.Boolean(required=True)
    hard_area = fields.Boolean(required=True)
    child_under_36_months = fields.Boolean(required=True)


class CivilServantUpdatedV1(CivilServantRegisteredV1):
    """needs.civil_servant_updated v1: the full current state of the shareable fields after a change."""

    employment_status = fields.String(required=True, validate=validate.OneOf(["active", "on_leave", "left"]))
    changed_fields = fields.List(fields.String(), load_default=list)


class CivilServantLeftV1(_EventSchema):
    """needs.civil_servant_left v1: employment ended; funding opens repayment receivables (NĐ 171/2025)."""

    civil_servant_id = fields.String(required=True)
    code = fields.String(required=True)
    unit_code = fields.String(required=True)
    commune_code = fields.String(required=True)
    left_on = fields.Date(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(
        ["retired", "resigned", "transferred", "dismissed", "deceased", "other"]))


class UnitRefV1(_EventSchema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    unit_type = fields.String(required=True, validate=validate.OneOf(["xa", "phuong", "thi_tran", "tinh", "huyen"]))
    parent_code = fields.String(allow_none=True, load_default=None)
    valid_from = fields.Date(required=True)


class SuccessionV1(_EventSchema):
    predecessor_code = fields.String(required=True)
    successor_code = fields.String(required=True)


class UnitsReorganisedV1(_EventSchema):
    """needs.units_reorganised v1: units merged/split on a date; consumers remap commune codes from it."""

    reorganisation_id = fields.String(required=True)
    effective_date = fields.Date(required=True)
    decision_no = fields.String(required=True)
    new_units = fields.List(fields.Nested(UnitRefV1), required=True)
    successions = fields.List(fields.Nested(SuccessionV1), required=True)


class PlanCandidateV1(_EventSchema):
    civil_servant_id = fields.String(required=True)
    commune_code = fields.String(required=True)
    priority_score = fields.Float(required=True)
    need_ids = fields.List(fields.String(), load_default=list)


class PlanLineV1(_EventSchema):
    line_id = fields.String(required=True)
    topic_code = fields.String(required=True)  # shared topic code list, e.g. KN-CNTT (see DEVELOPERS.md)
    competency_codes = fields.List(fields.String(), load_default=list)
    unit_code = fields.String(required=True)  # today's commune
    position_code = fields.String(allow_none=True, load_default=None)
    headcount = fields.Integer(required=True, validate=validate.Range(min=0))
    quarter = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(min=1, max=4))
    candidates = fields.List(fields.Nested(PlanCandidateV1), required=True)


class PlanApprovedV1(_EventSchema):
    """needs.plan_approved v1: an approved yearly plan; courses proposes one class per line from it."""

    plan_id = fields.String(required=True)
    year = fields.Integer(required=True)
    scheme_code = fields.String(required=True)
    approved_at = fields.AwareDateTime(required=True)
    lines = fields.List(fields.Nested(PlanLineV1), required=True)


class SessionRefV1(_EventSchema):
    session_id = fields.String(required=True)
    date = fields.Date(required=True)
    buoi = fields.String(required=True, validate=validate.OneOf(["morning", "afternoon"]))
    lecturer_id = fields.String(required=True)
    lecturer_tier = fields.Integer(required=True, validate=validate.Range(min=1))
    periods = fields.Integer(allow_none=True, load_default=None)  # tiết
    venue_id = fields.String(allow_none=True, load_default=None)


class VenueDistanceV1(_EventSchema):
    commune_code = fields.String(required=True)
    km = fields.Integer(required=True, validate=validate.Range(min=0))  # whole km, one way


class VenueRefV1(_EventSchema):
    venue_id = fields.String(required=True)
    name = fields.String(required=True)
    province_code = fields.String(load_default="CM")
    distances = fields.List(fields.Nested(VenueDistanceV1), load_default=list)


class TestScoreV1(_EventSchema):
    kind = fields.String(required=True, validate=validate.OneOf(["pre", "post", "module"]))
    competency_code = fields.String(allow_none=True, load_default=None)
    score = fields.Float(required=True, validate=validate.Range(min=0, max=10))


class ParticipantResultV1(_EventSchema):
    civil_servant_id = fields.String(required=True)
    commune_code = fields.String(required=True)  # the sending unit, whose regular budget pays learner support
    sessions_attended = fields.Integer(required=True, validate=validate.Range(min=0))
    days_attended = fields.Integer(required=True, validate=validate.Range(min=0))
    completed = fields.Boolean(required=True)
    # Added fields (optional, so v1 producers and readers stay compatible):
    certified = fields.Boolean(allow_none=True, load_default=None)  # None = same as completed
    certificate_no = fields.String(allow_none=True, load_default=None)
    excused_sessions = fields.Integer(load_default=0)
    female = fields.Boolean(load_default=False)
    ethnic_minority = fields.Boolean(load_default=False)
    child_under_36_months = fields.Boolean(load_default=False)
    need_ids = fields.List(fields.String(), load_default=list)
    tests = fields.List(fields.Nested(TestScoreV1), load_default=list)


class CourseCompletedV1(_EventSchema):
    course_id = fields.String(required=True)
    code = fields.String(required=True)
    title = fields.String(required=True)
    organizer_unit_code = fields.String(required=True)
    start_date = fields.Date(required=True)
    end_date = fields.Date(required=True)
    completed_at = fields.AwareDateTime(required=True)
    total_sessions = fields.Integer(required=True, validate=validate.Range(min=1))
    sessions = fields.List(fields.Nested(SessionRefV1), required=True)
    participants = fields.List(fields.Nested(ParticipantResultV1), required=True)
    # Added fields (optional):
    topic_code = fields.String(allow_none=True, load_default=None)
    competency_codes = fields.List(fields.String(), load_default=list)
    fostering_type = fields.String(allow_none=True, load_default=None)
    form = fields.String(allow_none=True, load_default=None)
    venue = fields.Nested(VenueRefV1, allow_none=True, load_default=None)
    plan_line_id = fields.String(allow_none=True, load_default=None)


class PlannedTraineeV1(_EventSchema):
    civil_servant_id = fields.String(required=True)
    commune_code = fields.String(required=True)
    female = fields.Boolean(load_default=False)
    ethnic_minority = fields.Boolean(load_default=False)
    child_under_36_months = fields.Boolean(load_default=False)


class CourseScheduledV1(_EventSchema):
    """courses.course_scheduled v1: the cost drivers funding estimates and reserves from."""

    course_id = fields.String(required=True)
    revision = fields.Integer(required=True, validate=validate.Range(min=1))  # grows on each re-schedule
    code = fields.String(required=True)
    title = fields.String(required=True)
    topic_code = fields.String(allow_none=True, load_default=None)
    fostering_type = fields.String(allow_none=True, load_default=None)
    form = fields.String(required=True, validate=validate.OneOf(["in_person", "online", "blended", "field_trip"]))
    organizer_unit_code = fields.String(required=True)
    start_date = fields.Date(required=True)
    end_date = fields.Date(required=True)
    venue = fields.Nested(VenueRefV1, allow_none=True, load_default=None)
    sessions = fields.List(fields.Nested(SessionRefV1), required=True)
    planned_trainees = fields.List(fields.Nested(PlannedTraineeV1), required=True)


class CourseCancelledV1(_EventSchema):
    """courses.course_cancelled v1: funding releases the reservation."""

    course_id = fields.String(required=True)
    reason = fields.String(required=True)
    cancelled_at = fields.AwareDateTime(required=True)


class FeedbackRequestedV1(_EventSchema):
    course_id = fields.String(required=True)
    request_count = fields.Integer(required=True, validate=validate.Range(min=0))
    deadline = fields.AwareDateTime(required=True)


BANDS = ["poor", "weak", "average", "good", "excellent"]


class LecturerScoreV1(_EventSchema):
    lecturer_id = fields.String(required=True)
    mean = fields.Float(required=True)  # 1–10 scale, TT 10/2017
    band = fields.String(required=True, validate=validate.OneOf(BANDS))
    responses = fields.Integer(load_default=0)


class LearningGainV1(_EventSchema):
    competency_code = fields.String(allow_none=True, load_default=None)  # None = the course as a whole
    pre_mean = fields.Float(allow_none=True, load_default=None)
    post_mean = fields.Float(allow_none=True, load_default=None)
    gain = fields.Float(allow_none=True, load_default=None)


class LearnerRefV1(_EventSchema):
    civil_servant_id = fields.String(required=True)
    commune_code = fields.String(required=True)


class AssessedLevelV1(_EventSchema):
    civil_servant_id = fields.String(required=True)
    competency_code = fields.String(required=True)
    level = fields.Integer(required=True, validate=validate.Range(min=1, max=5))


class CourseEvaluatedV1(_EventSchema):
    """evaluation.course_evaluated v1: the course's L1/L2 results once the feedback window has closed."""

    course_id = fields.String(required=True)
    evaluated_at = fields.AwareDateTime(required=True)
    topic_code = fields.String(allow_none=True, load_default=None)
    request_count = fields.Integer(required=True)
    valid_responses = fields.Integer(required=True)
    response_rate = fields.Float(required=True)  # 0–1
    general_index = fields.Float(allow_none=True, required=True)  # None when no valid form came back
    band = fields.String(allow_none=True, required=True, validate=validate.OneOf(BANDS))
    object_scores = fields.Dict(keys=fields.String(), values=fields.Float(), load_default=dict)
    lecturer_scores = fields.List(fields.Nested(LecturerScoreV1), load_default=list)
    learning_gain = fields.List(fields.Nested(LearningGainV1), load_default=list)
    excellent_learners = fields.List(fields.Nested(LearnerRefV1), load_default=list)
    assessed_levels = fields.List(fields.Nested(AssessedLevelV1), load_default=list)


class FeedbackReminderIssuedV1(_EventSchema):
    """evaluation.feedback_reminder_issued v1: a reminder to one non-respondent; needs (which holds the contacts)
    delivers it, once per notification."""

    course_id = fields.String(required=True)
    notification_id = fields.String(required=True)
    civil_servant_id = fields.String(required=True)
    link = fields.String(required=True)
    deadline = fields.AwareDateTime(required=True)
    # Added fields (optional): what the message names
    course_code = fields.String(allow_none=True, load_default=None)
    course_title = fields.String(allow_none=True, load_default=None)


# Per-recipient notices (issue 13): a producer says WHAT to tell WHOM by civil-servant id, never contact details;
# needs, the owner of the contacts, delivers each exactly once per (purpose, recipient, object).

class TraineeFeedbackRequestedV1(_EventSchema):
    """evaluation.trainee_feedback_requested v1: one trainee is asked for feedback on a course, with the link to
    the form (it carries the trainee's own token) and the deadline."""

    course_id = fields.String(required=True)
    course_code = fields.String(required=True)
    course_title = fields.String(required=True)
    civil_servant_id = fields.String(required=True)
    link = fields.String(required=True)
    deadline = fields.AwareDateTime(required=True)


class FeedbackRecipientV2(_EventSchema):
    civil_servant_id = fields.String(required=True)
    link = fields.String(required=True)  # carries the trainee's own token: a credential, never logged


class TraineeFeedbackRequestedV2(_EventSchema):
    """evaluation.trainee_feedback_requested v2: the trainees of one course are asked for feedback, each with the
    link to their own form, and the deadline. One message per course instead of one per trainee (v1): the
    publishes per completed course fall from 1 + trainees to 2 (issue 16); needs still claims one delivery per
    (purpose, trainee, course), so the messages each trainee gets do not change. Consumers read both versions."""

    course_id = fields.String(required=True)
    course_code = fields.String(required=True)
    course_title = fields.String(required=True)
    deadline = fields.AwareDateTime(required=True)
    recipients = fields.List(fields.Nested(FeedbackRecipientV2), required=True)


class FollowupRequestedV1(_EventSchema):
    """evaluation.followup_requested v1: the L3/L4 follow-up survey months after a course, to the trainee or to the
    trainee's direct supervisor (`respondent`); `civil_servant_id` is always the trainee the survey is about —
    needs resolves the supervisor from its registry."""

    course_id = fields.String(required=True)
    course_code = fields.String(required=True)
    course_title = fields.String(required=True)
    civil_servant_id = fields.String(required=True)
    respondent = fields.String(required=True, validate=validate.OneOf(["trainee", "supervisor"]))
    link = fields.String(required=True)
    deadline = fields.AwareDateTime(required=True)


NOTICE_KINDS = ["invitation", "session_moved", "venue_changed", "promoted", "cancelled"]


class NoticeSessionV1(_EventSchema):
    date = fields.Date(required=True)
    buoi = fields.String(required=True, validate=validate.OneOf(["morning", "afternoon"]))


class _CalendarNoticeV1(_EventSchema):
    """What a course notice tells (courses.course_notice_issued and courses.lecturer_notice_issued v1): the calendar's
    SEQUENCE, the course's dates and venue, the sessions concerned, a reason, and the iCalendar file built by courses."""

    sequence = fields.Integer(required=True, validate=validate.Range(min=0))
    start_date = fields.Date(allow_none=True, load_default=None)
    end_date = fields.Date(allow_none=True, load_default=None)
    venue_name = fields.String(allow_none=True, load_default=None)
    sessions = fields.List(fields.Nested(NoticeSessionV1), load_default=list)
    reason = fields.String(allow_none=True, load_default=None)
    ics = fields.String(allow_none=True, load_default=None)


class CourseNoticeIssuedV1(_CalendarNoticeV1):
    """courses.course_notice_issued v1: tell these trainees about their course: an invitation, a session moved, the
    venue changed, a place freed for them (promoted from the waitlist) or the course cancelled. `sequence` grows
    with every change of the course (the calendar's SEQUENCE); `ics` is the course's iCalendar file for this
    notice (METHOD:REQUEST, or METHOD:CANCEL on cancellation), built by courses."""

    notice_id = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(NOTICE_KINDS))
    course_id = fields.String(required=True)
    code = fields.String(required=True)
    title = fields.String(required=True)
    civil_servant_ids = fields.List(fields.String(), required=True)


LECTURER_NOTICE_KINDS = ["assigned", "session_moved", "venue_changed", "cancelled"]


class LecturerNoticeIssuedV1(_CalendarNoticeV1):
    """courses.lecturer_notice_issued v1: tell one lecturer (by courses' lecturer id; needs holds the contact and
    sends) about a course they teach: assigned, a session moved, the venue changed, the course cancelled.
    `sessions` and `ics` are the lecturer's own sessions; `sequence` is the lecturer's calendar SEQUENCE."""

    notice_id = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(LECTURER_NOTICE_KINDS))
    course_id = fields.String(required=True)
    code = fields.String(required=True)
    title = fields.String(required=True)
    lecturer_id = fields.String(required=True)


class ReservedLineV1(_EventSchema):
    budget_line_id = fields.String(required=True)
    source = fields.String(required=True)
    owner_unit_code = fields.String(required=True)
    amount = fields.Integer(required=True)  # whole VND


class BudgetReservedV1(_EventSchema):
    """funding.budget_reserved v1: the estimate is covered; courses confirms the course."""

    course_id = fields.String(required=True)
    revision = fields.Integer(required=True)
    reservation_id = fields.String(required=True)
    estimate_total = fields.Integer(required=True)
    lines = fields.List(fields.Nested(ReservedLineV1), required=True)


class ShortLineV1(_EventSchema):
    budget_line_id = fields.String(allow_none=True, load_default=None)  # None: no line exists for that need
    source = fields.String(required=True)
    owner_unit_code = fields.String(required=True)
    required = fields.Integer(required=True)
    available = fields.Integer(required=True)


class ReservationRejectedV1(_EventSchema):
    """funding.reservation_rejected v1: not enough money; the reason names the short line(s)."""

    course_id = fields.String(required=True)
    revision = fields.Integer(required=True)
    reason = fields.String(required=True)  # Vietnamese, shown to officers
    estimate_total = fields.Integer(required=True)
    short_lines = fields.List(fields.Nested(ShortLineV1), required=True)


class CourseSettledV1(_EventSchema):
    course_id = fields.String(required=True)
    settlement_id = fields.String(required=True)
    lecturer_fees = fields.Integer(required=True)
    learner_support = fields.Integer(required=True)
    total_amount = fields.Integer(required=True)  # whole VND
    settled_at = fields.AwareDateTime(required=True)
    # Added fields (optional):
    estimate_total = fields.Integer(allow_none=True, load_default=None)
    variance = fields.Integer(allow_none=True, load_default=None)  # actual − estimate
    released = fields.Integer(allow_none=True, load_default=None)  # reserved and not spent, given back


CATALOGUE: dict[tuple[str, int], type[Schema]] = {
    ("needs.civil_servant_registered", 1): CivilServantRegisteredV1,
    ("needs.civil_servant_updated", 1): CivilServantUpdatedV1,
    ("needs.civil_servant_left", 1): CivilServantLeftV1,
    ("needs.units_reorganised", 1): UnitsReorganisedV1,
    ("needs.plan_approved", 1): PlanApprovedV1,
    ("courses.course_scheduled", 1): CourseScheduledV1,
    ("courses.course_cancelled", 1): CourseCancelledV1,
    ("courses.course_completed", 1): CourseCompletedV1,
    ("evaluation.feedback_requested", 1): FeedbackRequestedV1,
    ("evaluation.feedback_reminder_issued", 1): FeedbackReminderIssuedV1,
    ("evaluation.trainee_feedback_requested", 1): TraineeFeedbackRequestedV1,
    ("evaluation.trainee_feedback_requested", 2): TraineeFeedbackRequestedV2,
    ("evaluation.followup_requested", 1): FollowupRequestedV1,
    ("courses.course_notice_issued", 1): CourseNoticeIssuedV1,
    ("courses.lecturer_notice_issued", 1): LecturerNoticeIssuedV1,
    ("evaluation.course_evaluated", 1): CourseEvaluatedV1,
    ("funding.budget_reserved", 1): BudgetReservedV1,
    ("funding.reservation_rejected", 1): ReservationRejectedV1,
    ("funding.course_settled", 1): CourseSettledV1,
}
LATEST = {etype: max(v for t, v in CATALOGUE if t == etype) for etype, _ in CATALOGUE}
_SCHEMAS: dict[tuple[str, int], Schema] = {}


def payload_schema(event_type: str, version: int) -> Schema:
    """Return the (cached) payload schema of one event type and version; unknown ones are a contract error."""
    key = (event_type, version)
    schema = _SCHEMAS.get(key)
    if schema is None:
        try:
            schema = _SCHEMAS[key] = CATALOGUE[key]()
        except KeyError:
            raise EventContractError(f"unknown event {event_type} v{version}") from None
    return schema


@dataclass(frozen=True)
class Envelope:
    id: str
    type: str
    version: int
    occurred_at: datetime
    producer: str
    correlation_id: str
    causation_id: str | None
    payload: dict
    traceparent: str | None = None  # W3C trace context of the span that wrote it (shared/tracing.py); optional

    @property
    def routing_key(self) -> str:
        return self.type


class EnvelopeSchema(_EventSchema):
    id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    type = fields.String(required=True)
    version = fields.Integer(required=True, strict=True)
    occurred_at = fields.AwareDateTime(required=True)
    producer = fields.String(required=True)
    correlation_id = fields.String(required=True)
    causation_id = fields.String(allow_none=True, load_default=None)
    payload = fields.Dict(required=True)
    # Added (optional, so older readers and writers stay compatible): the producer's W3C trace context.
    traceparent = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=64))


_ENVELOPE = EnvelopeSchema()


def new_event(event_type: str, payload: dict, *, producer: str, causation_id: str | None = None,
              correlation_id: str | None = None, version: int | None = None,
              traceparent: str | None = None) -> tuple[Envelope, str]:
    """Build and validate an event; return it with its JSON body, ready for the outbox."""
    version = version or LATEST.get(event_type, 0)
    wire_payload = wire_payload_of(event_type, version, payload)
    env = Envelope(
        id=str(uuid.uuid4()), type=event_type, version=version, occurred_at=utcnow(), producer=producer,
        correlation_id=correlation_id or get_correlation_id() or str(uuid.uuid4()),
        causation_id=causation_id, payload=wire_payload, traceparent=traceparent,
    )
    # What EnvelopeSchema dumps, written out: every field is already of its wire type (tests hold them equal).
    wire = {"id": env.id, "type": event_type, "version": version, "occurred_at": env.occurred_at.isoformat(),
            "producer": producer, "correlation_id": env.correlation_id, "causation_id": causation_id,
            "payload": wire_payload}
    if traceparent is not None:  # absent rather than null: bodies without traces stay as they were
        wire["traceparent"] = traceparent
    return env, _json_text(wire)


def _json_text(wire: dict) -> str:
    """Compact UTF-8 JSON, as json.dumps(ensure_ascii=False, separators=(",", ":")) writes it, by orjson (a
    fifth of the time: issue 16); what orjson does not write (an integer beyond 64 bits) goes through json."""
    try:
        return orjson.dumps(wire).decode()
    except orjson.JSONEncodeError:
        return json.dumps(wire, ensure_ascii=False, separators=(",", ":"))


def wire_payload_of(event_type: str, version: int, payload: dict) -> dict:
    """The payload as it goes on the wire (schema.dump), validated against its schema (as a consumer loads it).

    The common case — a dict of plain values, as the services build them — is dumped and checked by the
    compiled fast paths of shared.fastload; anything they do not recognise (another type, NaN, a missing or
    invalid value) goes through marshmallow's own dump and validate, which produce the errors. Either way an
    invalid payload is refused: the fast load only passes what marshmallow's load would pass.
    """
    schema = payload_schema(event_type, version)
    try:
        wire = fast_dump(schema, payload)
    except Fallback:
        pass
    else:
        try:
            fast_load(schema, wire)  # falls back to schema.load, whose ValidationError names the fields
        except ValidationError as exc:
            raise EventContractError(f"{event_type} v{version} payload invalid", exc.messages) from None
        return wire
    try:
        wire = schema.dump(payload)
    except (TypeError, ValueError, AttributeError) as exc:  # e.g. a date given as a string
        raise EventContractError(f"{event_type} v{version} payload cannot be serialised: {exc}") from None
    errors = schema.validate(wire)
    if errors:
        raise EventContractError(f"{event_type} v{version} payload invalid", errors)
    return wire


def decode(body: bytes | str) -> Envelope:
    """Parse and validate a message body; raise EventContractError for anything that can never be processed."""
    try:
        raw = orjson.loads(body)  # strict JSON: no NaN or Infinity, no lone surrogates (refused like bad bytes)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EventContractError(f"undecodable body: {exc.__class__.__name__}") from None
    if not isinstance(raw, dict):
        raise EventContractError("envelope is not a JSON object")
    try:
        data = fast_load(_ENVELOPE, raw)
        payload = fast_load(payload_schema(data["type"], data["version"]), data["payload"])
    except ValidationError as exc:
        raise EventContractError("envelope or payload invalid", exc.messages) from None
    data["payload"] = payload
    return Envelope(**data)
