"""The event envelope and catalogue: producers validate before the outbox, consumers validate and tolerate extras."""
import json
import uuid
from datetime import date, datetime, timezone

import pytest

from shared.events import CATALOGUE, LATEST, Envelope, EventContractError, decode, new_event
from shared.logs import reset_correlation_id, set_correlation_id
from tests.events import make_course_completed

ENVELOPE_FIELDS = {"id", "type", "version", "occurred_at", "producer", "correlation_id", "causation_id", "payload"}


def registered_payload(**overrides) -> dict:
    return {"civil_servant_id": str(uuid.uuid4()), "code": "TB-0001", "unit_code": "TB-X-TANLOC",
            "commune_code": "CM-TANLOC", "position_code": "VHXH", "female": True, "ethnic_minority": False,
            "hard_area": False, "child_under_36_months": True, **overrides}


def completed_payload(**overrides) -> dict:
    """A valid courses.course_completed payload (tests.events), then `overrides`, which may make it invalid."""
    _, _, payload = make_course_completed(
        course_id="c1", code="K1", title="Kỹ năng số", start=date(2025, 8, 4), days=2,
        completed_at=datetime(2025, 8, 5, 10, 0, tzinfo=timezone.utc), total_sessions=1,
        sessions=[{"session_id": "s1", "date": date(2025, 8, 4), "buoi": "morning", "lecturer_id": "L1",
                   "lecturer_tier": 2}],
        participants=[{"civil_servant_id": "P1", "commune_code": "CM-TANLOC", "sessions_attended": 1,
                       "days_attended": 1, "completed": True}])
    return {**payload, **overrides}


def make_body(event_type: str = "needs.civil_servant_registered", payload: dict | None = None,
              **envelope_overrides) -> bytes:
    """A valid wire body, with any envelope field replaced (or dropped when given as ...)."""
    _, body = new_event(event_type, payload or registered_payload(), producer="needs")
    raw = json.loads(body)
    for key, value in envelope_overrides.items():
        if value is ...:
            raw.pop(key)
        else:
            raw[key] = value
    return json.dumps(raw).encode()


# --- new_event -------------------------------------------------------------------------------------------------

def test_new_event_body_is_json_with_exactly_the_envelope_fields():
    env, body = new_event("needs.civil_servant_registered", registered_payload(), producer="needs")
    raw = json.loads(body)
    assert set(raw) == ENVELOPE_FIELDS
    assert raw["id"] == env.id and uuid.UUID(raw["id"])
    assert (raw["type"], raw["version"], raw["producer"]) == ("needs.civil_servant_registered", 1, "needs")
    assert raw["causation_id"] is None
    assert datetime.fromisoformat(raw["occurred_at"]).tzinfo is not None


def test_new_event_routing_key_is_the_event_type():
    env, _ = new_event("needs.civil_servant_registered", registered_payload(), producer="needs")
    assert env.routing_key == "needs.civil_servant_registered"


def test_new_event_serialises_dates_in_the_payload_as_iso_strings():
    _, body = new_event("courses.course_completed", completed_payload(), producer="courses")
    payload = json.loads(body)["payload"]
    assert payload["start_date"] == "2025-08-04"
    assert payload["sessions"][0]["date"] == "2025-08-04"
    assert payload["completed_at"].startswith("2025-08-05T10:00:00")


def test_new_event_rejects_a_payload_missing_a_required_field():
    payload = registered_payload()
    del payload["commune_code"]
    with pytest.raises(EventContractError) as exc:
        new_event("needs.civil_servant_registered", payload, producer="needs")
    assert "commune_code" in exc.value.errors


def test_new_event_rejects_an_invalid_nested_value():
    payload = completed_payload()
    payload["sessions"][0]["buoi"] = "evening"
    with pytest.raises(EventContractError):
        new_event("courses.course_completed", payload, producer="courses")


@pytest.mark.parametrize("field, value", [("start_date", "2025-08-04"), ("total_sessions", "one")])
def test_new_event_rejects_a_wrong_typed_value_as_a_contract_error(field, value):
    with pytest.raises(EventContractError):
        new_event("courses.course_completed", completed_payload(**{field: value}), producer="courses")


def test_new_event_rejects_an_unknown_event_type():
    with pytest.raises(EventContractError, match="unknown event"):
        new_event("needs.something_else", {}, producer="needs")


def test_new_event_takes_correlation_and_causation_ids_given():
    env, body = new_event("needs.civil_servant_registered", registered_payload(), producer="needs",
                          correlation_id="corr-1", causation_id="cause-1")
    raw = json.loads(body)
    assert (env.correlation_id, env.causation_id) == ("corr-1", "cause-1")
    assert (raw["correlation_id"], raw["causation_id"]) == ("corr-1", "cause-1")


def test_new_event_inherits_the_correlation_id_of_the_current_context():
    token = set_correlation_id("request-42")
    try:
        env, _ = new_event("needs.civil_servant_registered", registered_payload(), producer="needs")
    finally:
        reset_correlation_id(token)
    assert env.correlation_id == "request-42"


def test_new_event_invents_a_correlation_id_outside_any_context():
    env, _ = new_event("needs.civil_servant_registered", registered_payload(), producer="needs")
    assert uuid.UUID(env.correlation_id)


def test_every_catalogued_type_has_a_latest_version():
    assert set(LATEST) == {t for t, _ in CATALOGUE}
    assert all(LATEST[t] >= 1 for t in LATEST)


# --- decode ----------------------------------------------------------------------------------------------------

def test_decode_round_trips_an_event():
    env, body = new_event("courses.course_completed", completed_payload(), producer="courses",
                          causation_id="cause-1", correlation_id="corr-1")
    got = decode(body.encode())
    assert isinstance(got, Envelope)
    assert (got.id, got.type, got.version, got.producer, got.correlation_id, got.causation_id) == \
        (env.id, env.type, env.version, env.producer, "corr-1", "cause-1")
    assert got.occurred_at == env.occurred_at
    assert got.payload["start_date"] == date(2025, 8, 4)
    assert got.payload["sessions"][0]["lecturer_tier"] == 2
    assert got.payload["participants"][0]["days_attended"] == 1


def test_decode_accepts_text_as_well_as_bytes():
    _, body = new_event("needs.civil_servant_registered", registered_payload(), producer="needs")
    assert decode(body) == decode(body.encode("utf-8"))


@pytest.mark.parametrize("body", [b"\xff\xfe\x00garbage", b"not json at all", b"", b"{\"id\": "],
                         ids=["not-utf8", "not-json", "empty", "truncated"])
def test_decode_rejects_undecodable_bytes(body):
    with pytest.raises(EventContractError, match="undecodable"):
        decode(body)


@pytest.mark.parametrize("body", [b"[]", b"[1, 2]", b"\"text\"", b"42", b"null", b"true"])
def test_decode_rejects_json_that_is_not_an_object(body):
    with pytest.raises(EventContractError, match="not a JSON object"):
        decode(body)


def test_decode_rejects_an_unknown_type():
    with pytest.raises(EventContractError, match="unknown event"):
        decode(make_body(type="needs.unheard_of"))


def test_decode_rejects_an_unknown_version():
    with pytest.raises(EventContractError, match="unknown event"):
        decode(make_body(version=99))


def test_decode_rejects_a_version_given_as_text():
    with pytest.raises(EventContractError):
        decode(make_body(version="1"))


def test_decode_rejects_a_payload_missing_a_field():
    payload = registered_payload()
    body = json.loads(make_body(payload=payload))
    del body["payload"]["female"]
    with pytest.raises(EventContractError) as exc:
        decode(json.dumps(body))
    assert "female" in exc.value.errors


def test_decode_rejects_a_payload_with_a_wrong_type():
    body = json.loads(make_body())
    body["payload"]["female"] = "perhaps"
    with pytest.raises(EventContractError):
        decode(json.dumps(body))


@pytest.mark.parametrize("field", ["id", "type", "version", "occurred_at", "producer", "correlation_id", "payload"])
def test_decode_rejects_an_envelope_missing_a_required_field(field):
    with pytest.raises(EventContractError):
        decode(make_body(**{field: ...}))


@pytest.mark.parametrize("payload", [[1, 2], "text", None])
def test_decode_rejects_a_payload_that_is_not_an_object(payload):
    body = json.loads(make_body())
    body["payload"] = payload
    with pytest.raises(EventContractError):
        decode(json.dumps(body))


def test_decode_rejects_a_naive_occurred_at():
    with pytest.raises(EventContractError):
        decode(make_body(occurred_at="2025-08-05T10:00:00"))


def test_decode_tolerates_unknown_fields_in_envelope_and_payload():
    body = json.loads(make_body())
    body["trace_parent"] = "00-abc"
    body["payload"]["added_in_v2"] = {"anything": [1, 2]}
    env = decode(json.dumps(body))
    assert env.type == "needs.civil_servant_registered"
    assert "added_in_v2" not in env.payload
    assert env.payload["commune_code"] == "CM-TANLOC"


def test_decode_accepts_a_missing_causation_id():
    assert decode(make_body(causation_id=...)).causation_id is None
