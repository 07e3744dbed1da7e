"""The event fast path gives exactly marshmallow's result or error, canonical input or not."""
import copy

import pytest
from marshmallow import ValidationError

from shared.events import EnvelopeSchema, payload_schema
from shared.fastload import fast_load

COMPLETED = {
    "course_id": "c1", "code": "K1", "title": "Kỹ năng số", "organizer_unit_code": "CM-THOIBINH",
    "start_date": "2025-08-04", "end_date": "2025-08-05", "completed_at": "2025-08-05T10:00:00+00:00",
    "total_sessions": 1,
    "sessions": [{"session_id": "s1", "date": "2025-08-04", "buoi": "morning", "lecturer_id": "L1",
                  "lecturer_tier": 2}],
    "participants": [{"civil_servant_id": "P1", "commune_code": "CM-TANLOC", "sessions_attended": 1,
                      "days_attended": 1, "completed": True}],
}
ENVELOPE = {"id": "e1", "type": "courses.course_completed", "version": 1, "occurred_at": "2025-08-05T10:00:00+00:00",
            "producer": "courses", "correlation_id": "c", "causation_id": None, "payload": {}}
DROP = object()


def variant(base: dict, path: tuple, value) -> dict:
    data = copy.deepcopy(base)
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is DROP:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


def outcome(load, data):
    try:
        return "ok", load(data)
    except ValidationError as exc:
        return "error", exc.messages


PAYLOAD_VARIANTS = [
    ((), None),  # canonical
    (("start_date",), "20250804"), (("start_date",), "2025-8-4"), (("start_date",), "2025-02-30"),
    (("start_date",), 20250804), (("start_date",), DROP),
    (("completed_at",), "2025-08-05T10:00:00Z"), (("completed_at",), "2025-08-05T10:00:00"),
    (("completed_at",), "2025-08-05"), (("completed_at",), None),
    (("total_sessions",), 0), (("total_sessions",), 1.0), (("total_sessions",), "1"), (("total_sessions",), True),
    (("code",), 5), (("code",), ""), (("code",), None),
    (("sessions", 0, "buoi"), "evening"), (("sessions", 0, "lecturer_tier"), 0),
    (("sessions", 0, "lecturer_tier"), "2"), (("sessions", 0, "extra"), {"x": 1}), (("sessions", 0), None),
    (("sessions",), "s1"), (("sessions",), []),
    (("participants", 0, "completed"), "true"), (("participants", 0, "completed"), "perhaps"),
    (("participants", 0, "days_attended"), -1), (("participants", 0, "civil_servant_id"), DROP),
    (("added_in_v2",), [1, 2]),
    # the inlined checks (issue 16): None where allowed and where not, a validator's bounds, a wrong type
    (("topic_code",), None), (("topic_code",), 7), (("total_sessions",), 1), (("sessions", 0, "lecturer_tier"), 1),
    (("sessions", 0, "periods"), None), (("sessions", 0, "periods"), 2.5), (("sessions", 0, "buoi"), None),
    (("participants", 0, "certified"), None), (("participants", 0, "certified"), 0),
    (("participants", 0, "certificate_no"), 5), (("participants", 0, "sessions_attended"), 0),
    (("participants", 0, "excused_sessions"), None), (("participants", 0, "need_ids"), ["n1", 2]),
    (("venue",), {"venue_id": "v", "name": "Hội trường", "distances": [{"commune_code": "X", "km": -1}]}),
    (("venue",), {"venue_id": "v", "name": "Hội trường", "distances": [{"commune_code": "X", "km": 0}]}),
    # lists and nested objects written inline (issue 16): items of the wrong kind, None where it is not allowed
    (("participants", 0, "tests"), [{"kind": "pre", "score": 5}, {"kind": "post", "score": 9.5}]),
    (("participants", 0, "tests"), [{"kind": "pre", "score": 11}]), (("participants", 0, "tests"), [None]),
    (("participants", 0, "tests"), None), (("participants", 0, "tests"), {"kind": "pre", "score": 5}),
    (("participants", 0, "tests"), ["pre"]), (("participants", 0, "need_ids"), [None]),
    (("participants", 0, "need_ids"), "n1"), (("participants", 0, "need_ids"), ("n1",)),
    (("participants", 0, "need_ids"), ["n1", "n2"]), (("participants",), [None]), (("participants",), None),
    (("venue",), None), (("venue",), []), (("venue",), "v"), (("venue",), {"venue_id": "v"}),
]


@pytest.mark.parametrize("path, value", PAYLOAD_VARIANTS, ids=[f"{'.'.join(map(str, p)) or 'canonical'}={v!r:.20}"
                                                               for p, v in PAYLOAD_VARIANTS])
def test_fast_payload_load_matches_marshmallow(path, value):
    schema = payload_schema("courses.course_completed", 1)
    data = variant(COMPLETED, path, value) if path else copy.deepcopy(COMPLETED)
    assert outcome(lambda d: fast_load(schema, d), data) == outcome(schema.load, data)


ENVELOPE_VARIANTS = [
    ("version", True), ("version", 1.0), ("version", "1"), ("id", "x" * 65), ("id", ""),
    ("occurred_at", "2025-08-05T10:00:00"), ("payload", []), ("payload", None), ("causation_id", 5),
    ("causation_id", DROP), ("producer", DROP), ("trace", "extra"),
    ("id", "x" * 64), ("traceparent", None), ("traceparent", "x" * 64), ("traceparent", "x" * 65), ("id", None),
]


@pytest.mark.parametrize("key, value", ENVELOPE_VARIANTS, ids=[f"{k}={v!r:.20}" for k, v in ENVELOPE_VARIANTS])
def test_fast_envelope_load_matches_marshmallow(key, value):
    schema = EnvelopeSchema()
    data = variant(ENVELOPE, (key,), value)
    assert outcome(lambda d: fast_load(schema, d), data) == outcome(schema.load, data)


@pytest.mark.parametrize("data", [[], "x", None, 5])
def test_fast_load_of_a_non_object_matches_marshmallow(data):
    schema = payload_schema("courses.course_completed", 1)
    assert outcome(lambda d: fast_load(schema, d), data) == outcome(schema.load, data)
