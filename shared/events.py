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

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from shared.db import utcnow
from shared.fastload import fast_load
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


class SessionRefV1(_EventSchema):
    session_id = fields.String(required=True)
    date = fields.Date(required=True)
    buoi = fields.String(required=True, validate=validate.OneOf(["morning", "afternoon"]))
    lecturer_id = fields.String(required=True)
    lecturer_tier = fields.Integer(required=True, validate=validate.Range(min=1))


class ParticipantResultV1(_EventSchema):
    civil_servant_id = fields.String(required=True)
    commune_code = fields.String(required=True)  # the sending unit, whose regular budget pays learner support
    sessions_attended = fields.Integer(required=True, validate=validate.Range(min=0))
    days_attended = fields.Integer(required=True, validate=validate.Range(min=0))
    completed = fields.Boolean(required=True)


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


class FeedbackRequestedV1(_EventSchema):
    course_id = fields.String(required=True)
    request_count = fields.Integer(required=True, validate=validate.Range(min=0))
    deadline = fields.AwareDateTime(required=True)


class CourseSettledV1(_EventSchema):
    course_id = fields.String(required=True)
    settlement_id = fields.String(required=True)
    lecturer_fees = fields.Integer(required=True)
    learner_support = fields.Integer(required=True)
    total_amount = fields.Integer(required=True)  # whole VND
    settled_at = fields.AwareDateTime(required=True)


CATALOGUE: dict[tuple[str, int], type[Schema]] = {
    ("needs.civil_servant_registered", 1): CivilServantRegisteredV1,
    ("courses.course_completed", 1): CourseCompletedV1,
    ("evaluation.feedback_requested", 1): FeedbackRequestedV1,
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


_ENVELOPE = EnvelopeSchema()


def new_event(event_type: str, payload: dict, *, producer: str, causation_id: str | None = None,
              correlation_id: str | None = None, version: int | None = None) -> tuple[Envelope, str]:
    """Build and validate an event; return it with its JSON body, ready for the outbox."""
    version = version or LATEST.get(event_type, 0)
    schema = payload_schema(event_type, version)
    try:
        wire_payload = schema.dump(payload)
    except (TypeError, ValueError, AttributeError) as exc:  # e.g. a date given as a string
        raise EventContractError(f"{event_type} v{version} payload cannot be serialised: {exc}") from None
    errors = schema.validate(wire_payload)
    if errors:
        raise EventContractError(f"{event_type} v{version} payload invalid", errors)
    env = Envelope(
        id=str(uuid.uuid4()), type=event_type, version=version, occurred_at=utcnow(), producer=producer,
        correlation_id=correlation_id or get_correlation_id() or str(uuid.uuid4()),
        causation_id=causation_id, payload=wire_payload,
    )
    body = json.dumps({**_ENVELOPE.dump(env), "payload": wire_payload}, ensure_ascii=False, separators=(",", ":"))
    return env, body


def decode(body: bytes | str) -> Envelope:
    """Parse and validate a message body; raise EventContractError for anything that can never be processed."""
    try:
        raw = json.loads(body)
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
