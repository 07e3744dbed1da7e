"""The producer's fast path (shared.fastload.fast_dump + fast_load in shared.events.wire_payload_of) writes exactly
the body marshmallow's dump and validate would, and refuses every payload they refuse — never an invalid event on
the bus."""
import copy
import json
import math
from datetime import date, datetime, timezone

import pytest
from marshmallow import ValidationError

import tests.events as factories
from shared.events import _ENVELOPE, EventContractError, decode, new_event, payload_schema
from shared.fastload import Fallback, fast_dump

FACTORIES = sorted(name for name in dir(factories) if name.startswith("make_"))


def _payload_of(factory: str) -> tuple[str, dict]:
    _, body, payload = getattr(factories, factory)()
    return json.loads(body)["type"], payload


def marshmallow_wire(event_type: str, payload: dict):
    """What the producer wrote before the fast path: schema.dump, then schema.validate."""
    schema = payload_schema(event_type, 1)
    try:
        wire = schema.dump(payload)
    except (TypeError, ValueError, AttributeError):
        return "unserialisable", None
    errors = schema.validate(wire)
    return ("invalid", errors) if errors else ("ok", wire)


def fast_wire(event_type: str, payload: dict):
    try:
        from shared.events import wire_payload_of
        return "ok", wire_payload_of(event_type, 1, payload)
    except EventContractError as exc:
        return ("unserialisable", None) if "cannot be serialised" in str(exc) else ("invalid", exc.errors)


@pytest.mark.parametrize("factory", FACTORIES)
def test_every_catalogue_payload_is_written_as_marshmallow_writes_it(factory):
    event_type, payload = _payload_of(factory)
    assert fast_wire(event_type, payload) == marshmallow_wire(event_type, payload)


def test_the_fast_dump_takes_the_common_payloads_itself():
    """The hot events are dumped by the compiled path (no Fallback) — else the fast path would buy nothing."""
    for factory in ("make_course_completed", "make_trainee_feedback_requested", "make_feedback_requested"):
        event_type, payload = _payload_of(factory)
        assert fast_dump(payload_schema(event_type, 1), payload) == payload_schema(event_type, 1).dump(payload)


def _completed() -> dict:
    return _payload_of("make_course_completed")[1]


BAD = [
    ("a required field missing", lambda p: p.pop("code")),
    ("a nested required field missing", lambda p: p["participants"][0].pop("civil_servant_id")),
    ("a validator fails (buổi)", lambda p: p["sessions"][0].update(buoi="evening")),
    ("a range fails", lambda p: p["participants"][0].update(days_attended=-1)),
    ("a date given as text", lambda p: p.update(start_date="2026-03-02")),
    ("a naive datetime", lambda p: p.update(completed_at=datetime(2026, 3, 3, 10, 0))),
    ("NaN", lambda p: p["participants"][0].update(tests=[{"kind": "pre", "score": math.nan}])),
    ("infinity", lambda p: p["participants"][0].update(tests=[{"kind": "pre", "score": math.inf}])),
    ("a list given as an object", lambda p: p.update(sessions={"x": 1})),
    ("text for an integer", lambda p: p.update(total_sessions="many")),
    ("None for a required value", lambda p: p.update(title=None)),
]


@pytest.mark.parametrize("what, spoil", BAD, ids=[b[0] for b in BAD])
def test_an_invalid_payload_is_refused_with_marshmallows_own_errors(what, spoil):
    payload = _completed()
    spoil(payload)
    expected = marshmallow_wire("courses.course_completed", payload)
    assert expected[0] != "ok", what  # the case is invalid for marshmallow itself
    assert fast_wire("courses.course_completed", payload) == expected
    with pytest.raises(EventContractError):
        new_event("courses.course_completed", payload, producer="courses")


NEAR_MISSES = [  # not the canonical types, but marshmallow takes them: the fast path must give the same body
    ("an int for a float", lambda p: p["participants"][0].update(tests=[{"kind": "pre", "score": 7}])),
    ("a tuple for a list", lambda p: p.update(competency_codes=("A", "B"))),
    ("True for a boolean given as 1", lambda p: p["participants"][0].update(completed=1)),
    ("unknown fields", lambda p: p.update(extra={"x": 1})),
    ("a datetime in another zone", lambda p: p.update(
        completed_at=datetime(2026, 3, 3, 17, 0, tzinfo=timezone.utc).astimezone())),
]


@pytest.mark.parametrize("what, change", NEAR_MISSES, ids=[n[0] for n in NEAR_MISSES])
def test_values_marshmallow_converts_are_written_as_it_writes_them(what, change):
    payload = _completed()
    change(payload)
    assert fast_wire("courses.course_completed", payload) == marshmallow_wire("courses.course_completed", payload)


def test_the_fast_dump_falls_back_on_a_value_it_does_not_know():
    payload = _completed()
    payload["start_date"] = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)  # a datetime for a date
    with pytest.raises(Fallback):
        fast_dump(payload_schema("courses.course_completed", 1), payload)


def test_the_envelope_is_written_as_envelope_schema_dumps_it():
    payload = _completed()
    for traceparent in (None, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"):
        env, body = new_event("courses.course_completed", copy.deepcopy(payload), producer="courses",
                              causation_id="cause-1", traceparent=traceparent)
        expected = {**_ENVELOPE.dump(env), "payload": env.payload}
        if traceparent is None:
            del expected["traceparent"]
        assert json.loads(body) == expected
        assert list(json.loads(body)) == list(expected)  # same field order
        assert decode(body).payload["start_date"] == payload["start_date"]


def test_the_fast_load_refuses_nan_as_marshmallow_does():
    from shared.fastload import fast_load
    schema = payload_schema("courses.course_completed", 1)
    wire = json.loads(new_event("courses.course_completed", _completed(), producer="courses")[1])["payload"]
    wire["participants"][0]["tests"] = [{"kind": "pre", "score": float("nan")}]
    with pytest.raises(ValidationError):
        fast_load(schema, wire)
    assert date.fromisoformat(wire["start_date"])
