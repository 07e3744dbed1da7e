"""Bad input on every write endpoint returns a 4xx JSON error naming the field, never a 500.

The write endpoints are read from each service's /openapi.json at collection time, and the bad values are derived
from each request body's schema there, so a new POST endpoint (or a new field) is covered without editing this file.
Every error body has the one shape of shared/web.py: {code, status, message, errors?}.
Write endpoints only write to their outbox table, so none of this needs the broker; /health/ready, /admin/queues
and /admin/dead-letters* (which do) are never called.
"""
from __future__ import annotations

import copy
import functools
import re
import uuid
from datetime import date

import pytest
import sqlalchemy as sa

from shared.events import decode, new_event
from tests.events import make_course_completed
from tests.unit.apps import ADMIN_AUTH, API_AUTH, API_TOKEN, SERVICES, build_app, deliver

# The feedback submission and the self check-in are authenticated by the unguessable token in their path (a
# capability link handed to one trainee: secrets.token_urlsafe), not by the service API token, which trainees never
# hold.
PATH_TOKEN_ROUTES = {("evaluation", "/api/v1/feedback/{token}"), ("courses", "/api/v1/checkin/{token}")}
# Operator routes that talk to the broker: never called by unit tests.
BROKER_ROUTES = re.compile(r"^/admin/(dead-letters|queues)")


# --- the contract, read from /openapi.json ----------------------------------------------------------------------

@functools.cache
def openapi(service: str) -> dict:
    """Return a service's OpenAPI document, served by its real app (building the spec touches no database)."""
    app = build_app(service, "sqlite://", migrate=False)
    resp = app.test_client().get("/openapi.json")
    assert resp.status_code == 200, resp.data
    return resp.get_json()


def resolve(spec: dict, schema: dict) -> dict:
    while True:
        if "$ref" in schema:
            schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        elif "allOf" in schema:
            schema = {**schema["allOf"][0], **{k: v for k, v in schema.items() if k != "allOf"}}
        else:
            return schema


def body_schema(service: str, path: str) -> dict | None:
    op = openapi(service)["paths"][path]["post"]
    schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    return resolve(openapi(service), schema) if schema else None


def write_routes(prefix: str = "/api/v1/") -> list[tuple[str, str]]:
    return [(svc, path) for svc in SERVICES for path, ops in openapi(svc)["paths"].items()
            if path.startswith(prefix) and "post" in ops]


def example(spec: dict, schema: dict):
    """Return a value the schema accepts (every property filled), so one field at a time can be spoiled."""
    s = resolve(spec, schema)
    if "enum" in s:
        return s["enum"][0]
    if "anyOf" in s:  # e.g. needs' nested contact: an object or null — null is the value every such field takes
        alternatives = [resolve(spec, alt) for alt in s["anyOf"]]
        return None if any(alt.get("nullable") for alt in alternatives) else example(spec, alternatives[0])
    kind = s.get("type")
    if kind == "object":
        return {name: example(spec, prop) for name, prop in s.get("properties", {}).items()}
    if kind == "array":
        return [example(spec, s["items"]) for _ in range(max(1, s.get("minItems", 1)))]
    if kind in ("integer", "number"):
        return s.get("minimum", 1)
    if kind == "boolean":
        return True
    if kind == "string":
        fmt = s.get("format")
        if fmt == "date":
            return "2025-08-04"
        if fmt == "date-time":
            return "2025-08-04T08:00:00+07:00"
        return "x" * max(1, s.get("minLength", 1))
    raise AssertionError(f"no example for schema {s}")


def bad_values(spec: dict, schema: dict) -> list[tuple[str, object]]:
    """Return (label, value) pairs the schema must refuse: wrong JSON types and values outside its limits."""
    s = resolve(spec, schema)
    if "anyOf" in s:  # an object or null (needs' contact): null is accepted, anything but an object is not
        alternatives = [resolve(spec, alt) for alt in s["anyOf"]]
        out = [] if any(alt.get("nullable") for alt in alternatives) else [("null", None)]
        if all(alt.get("type") == "object" for alt in alternatives):
            out += [("string", "not-an-object"), ("list", [1]), ("number", 3)]
        return out
    out: list[tuple[str, object]] = [] if s.get("nullable") else [("null", None)]
    kind = s.get("type")
    if kind == "integer":
        out += [("numeric string", "7"), ("word", "seven"), ("fraction", 1.5), ("boolean", True), ("list", [1]),
                ("object", {"n": 1})]
        if "minimum" in s:
            out.append(("below minimum", s["minimum"] - 1))
        if "maximum" in s:
            out.append(("above maximum", s["maximum"] + 1))
    elif kind == "string":
        out += [("number", 12345), ("boolean", True), ("list", ["x"]), ("object", {"x": 1})]
        if "enum" in s:
            out.append(("not one of the options", "__not_an_option__"))
        if s.get("format") == "date":
            out += [("not a date", "not-a-date"), ("impossible date", "2025-02-30"), ("date-time", "2025-08-04T08:00")]
        if "maxLength" in s:
            out.append(("too long", "x" * (s["maxLength"] + 1)))
        if s.get("minLength", 0) >= 1:
            out.append(("empty", ""))
    elif kind == "boolean":
        out += [("word", "maybe"), ("number", 7), ("list", [True]), ("object", {"b": True})]
    elif kind == "array":
        out += [("string", "not-a-list"), ("object", {"a": 1}), ("number", 3)]
        if s.get("minItems", 0) >= 1:
            out.append(("empty list", []))
    elif kind == "object":
        out += [("string", "not-an-object"), ("list", [1]), ("number", 3)]
    return out


def field_paths(spec: dict, schema: dict, prefix: tuple = ()) -> list[tuple[tuple, dict]]:
    """Every field of a body, nested objects and the first item of lists included, with its schema."""
    s = resolve(spec, schema)
    out = []
    for name, prop in s.get("properties", {}).items():
        path, sub = prefix + (name,), resolve(spec, prop)
        out.append((path, prop))
        if sub.get("type") == "object":
            out += field_paths(spec, sub, path)
        elif sub.get("type") == "array":
            out.append((path + (0,), sub["items"]))
            if resolve(spec, sub["items"]).get("type") == "object":
                out += field_paths(spec, sub["items"], path + (0,))
    return out


def field_cases() -> list[tuple[str, str, tuple]]:
    cases = []
    for svc, path in write_routes():
        schema = body_schema(svc, path)
        if schema:
            cases += [(svc, path, field) for field, _ in field_paths(openapi(svc), schema)]
    return cases


def pytest_generate_tests(metafunc):
    """Parametrize over the routes and fields found in the OpenAPI documents."""
    routes = write_routes()
    groups = {
        "route": routes,
        "authed_route": [r for r in routes if r not in PATH_TOKEN_ROUTES],
        "path_token_route": sorted(PATH_TOKEN_ROUTES),
        "body_route": [r for r in routes if body_schema(*r)],
        "bodiless_route": [r for r in routes if not body_schema(*r)],
        "id_route": [r for r in routes if "{" in r[1] and body_schema(*r)],
        "admin_route": [r for r in write_routes("/admin/") if not BROKER_ROUTES.match(r[1])],
        "field_case": field_cases(),
    }
    for name, values in groups.items():
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, values, ids=[_case_id(*v) for v in values])


def _case_id(service: str, path: str, field: tuple = ()) -> str:
    return ":".join([service, path] + ([".".join(map(str, field))] if field else []))


# --- helpers ---------------------------------------------------------------------------------------------------

def concrete(path: str) -> str:
    """Fill every path parameter with a random uuid (nothing exists under it)."""
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)


def valid_body(service: str, path: str):
    schema = body_schema(service, path)
    return example(openapi(service), schema) if schema else None


def replaced(body, path: tuple, value):
    body = copy.deepcopy(body)
    node = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return body


def assert_error_shape(resp, status: int | None = None) -> dict:
    """Assert the one error shape {code, status, message, errors?} (and the status code when given)."""
    if status is not None:
        assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True))
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.get_data(as_text=True))
    assert resp.is_json, resp.get_data(as_text=True)
    body = resp.get_json()
    assert isinstance(body, dict)
    assert {"code", "status", "message"} <= set(body) <= {"code", "status", "message", "errors"}, body
    assert body["code"] == resp.status_code
    assert isinstance(body["status"], str) and body["status"]
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body.get("errors", {}), dict)
    return body


def json_errors(body: dict) -> dict:
    return body.get("errors", {}).get("json", {})


def names(body: dict, path: tuple) -> bool:
    """Whether the error body names the field at `path` (nested as marshmallow reports it)."""
    node = json_errors(body)
    for key in path:
        if not isinstance(node, dict) or str(key) not in node:
            return False
        node = node[str(key)]
    return True


def auth_for(service: str, path: str) -> dict:
    return {} if (service, path) in PATH_TOKEN_ROUTES else API_AUTH


# --- the documents ---------------------------------------------------------------------------------------------

KNOWN_WRITE_ROUTES = {
    ("needs", "/api/v1/civil-servants"),
    ("courses", "/api/v1/lecturers"), ("courses", "/api/v1/courses"),
    ("courses", "/api/v1/courses/{course_id}/enrollments"), ("courses", "/api/v1/courses/{course_id}/attendance"),
    ("courses", "/api/v1/courses/{course_id}/complete"),
    ("evaluation", "/api/v1/feedback/{token}"),
    ("funding", "/api/v1/budget-lines"), ("funding", "/api/v1/rules/cost-norms"),
}


def test_openapi_lists_every_known_write_endpoint():
    assert KNOWN_WRITE_ROUTES <= set(write_routes())
    assert PATH_TOKEN_ROUTES <= set(write_routes()), "a stale exemption from the API token"


@pytest.mark.parametrize("service", SERVICES)
def test_openapi_json_is_served_and_lists_the_api(service, shared_client):
    resp = shared_client(service).get("/openapi.json")
    assert resp.status_code == 200
    spec = resp.get_json()
    assert spec["openapi"].startswith("3.")
    assert any(p.startswith("/api/v1/") for p in spec["paths"])
    assert "/health/live" in spec["paths"]
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert spec["components"]["securitySchemes"]["oidc"]["type"] == "openIdConnect"
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method in ("get", "post"):
                assert op.get("summary"), f"{method.upper()} {path} has no one-line docstring"


@pytest.mark.parametrize("service", SERVICES)
def test_docs_page_is_html(service, shared_client):
    resp = shared_client(service).get("/docs")
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    assert b"swagger" in resp.data.lower()


@pytest.mark.parametrize("service", SERVICES)
def test_unknown_url_and_wrong_method_answer_json_errors(service, shared_client):
    client = shared_client(service)
    assert_error_shape(client.get("/api/v1/no-such-thing"), 404)
    post_path = next(p for s, p in write_routes() if s == service)
    assert_error_shape(client.put(concrete(post_path), json={}, headers=API_AUTH), 405)


# --- authentication --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {API_TOKEN}"},
    {"Authorization": API_TOKEN}, {"Authorization": "Bearer "},
], ids=["none", "wrong-token", "basic-scheme", "no-scheme", "empty-token"])
def test_write_endpoint_without_the_api_token_is_401(authed_route, headers, shared_client):
    service, path = authed_route
    op = openapi(service)["paths"][path]["post"]
    roles = op.get("x-roles")
    assert roles and op.get("security") == [{"oidc": roles}], "write endpoints must declare their roles (oidc)"
    resp = shared_client(service).post(concrete(path), json=valid_body(service, path), headers=headers)
    body = assert_error_shape(resp, 401)
    assert body["status"] == "Unauthorized"


def test_write_endpoint_with_the_admin_token_is_403(authed_route, shared_client):
    """The operator (ADMIN_TOKEN in static mode) is authenticated, but no API write declares the operator role."""
    service, path = authed_route
    resp = shared_client(service).post(concrete(path), json=valid_body(service, path), headers=ADMIN_AUTH)
    assert assert_error_shape(resp, 403)["status"] == "Forbidden"


def test_token_is_checked_before_the_body_so_bad_input_does_not_leak_validation(shared_client):
    resp = shared_client("needs").post("/api/v1/civil-servants", json={})
    assert_error_shape(resp, 401)


def test_path_token_route_needs_no_api_token(path_token_route, shared_client):
    service, path = path_token_route
    assert "security" not in openapi(service)["paths"][path]["post"]
    resp = shared_client(service).post(concrete(path), json=valid_body(service, path))
    body = assert_error_shape(resp, 404)  # an unknown path token, not a missing header
    assert names(body, ("token",))


@pytest.mark.parametrize("headers,status", [({}, 401), (API_AUTH, 403)], ids=["none", "api-token"])
def test_admin_write_endpoint_needs_the_admin_token(admin_route, headers, status, shared_client):
    service, path = admin_route
    resp = shared_client(service).post(path, json={}, headers=headers)
    assert_error_shape(resp, status)


# --- malformed bodies ------------------------------------------------------------------------------------------

def test_empty_object_is_422_naming_the_required_fields(body_route, shared_client):
    service, path = body_route
    required = body_schema(service, path).get("required", [])
    resp = shared_client(service).post(concrete(path), json={}, headers=auth_for(service, path))
    if not required:
        assert resp.status_code < 500
        return
    body = assert_error_shape(resp, 422)
    assert set(required) <= set(json_errors(body)), body
    for field in required:
        assert f"json.{field}" in body["message"]


@pytest.mark.parametrize("text", ["{nope", "{\"a\": 1,}", "", "\"unterminated"], ids=["brace", "trailing-comma",
                                                                                        "empty", "open-string"])
def test_invalid_json_text_is_400(body_route, text, shared_client):
    service, path = body_route
    resp = shared_client(service).post(concrete(path), data=text, content_type="application/json",
                                       headers=auth_for(service, path))
    if text == "":
        # An empty body is no JSON at all: webargs reads it as "nothing sent", so required fields are missing.
        assert_error_shape(resp)
        return
    body = assert_error_shape(resp, 400)
    assert "json" in body["errors"]


def test_undecodable_bytes_are_400(body_route, shared_client):
    service, path = body_route
    resp = shared_client(service).post(concrete(path), data=b"\xff\xfe\x00\x01", content_type="application/json",
                                       headers=auth_for(service, path))
    assert_error_shape(resp, 400)


@pytest.mark.parametrize("value", [[], [{}], "text", 42, True], ids=["empty-array", "array", "string", "number",
                                                                     "boolean"])
def test_json_that_is_not_an_object_is_422(body_route, value, shared_client):
    service, path = body_route
    resp = shared_client(service).post(concrete(path), json=value, headers=auth_for(service, path))
    body = assert_error_shape(resp, 422)
    assert names(body, ("_schema",))


def test_unknown_field_is_422_naming_it(body_route, shared_client):
    service, path = body_route
    body_in = {**valid_body(service, path), "surprise": 1}
    resp = shared_client(service).post(concrete(path), json=body_in, headers=auth_for(service, path))
    body = assert_error_shape(resp, 422)
    assert names(body, ("surprise",))


def test_wrong_value_in_a_field_is_422_naming_that_field(field_case, shared_client):
    service, path, field = field_case
    spec = openapi(service)
    schema = next(s for f, s in field_paths(spec, body_schema(service, path)) if f == field)
    client, good = shared_client(service), valid_body(service, path)
    failures = []
    for label, value in bad_values(spec, schema):
        resp = client.post(concrete(path), json=replaced(good, field, value), headers=auth_for(service, path))
        try:
            body = assert_error_shape(resp, 422)
            assert names(body, field), f"errors do not name {field}: {body.get('errors')}"
        except AssertionError as exc:
            failures.append(f"{label} ({value!r:.40}): {exc}")
    assert not failures, "\n".join(failures)


def test_body_is_ignored_by_an_endpoint_that_takes_none(bodiless_route, shared_client):
    service, path = bodiless_route
    for kwargs in ({"json": {"x": 1}}, {"data": "{nope", "content_type": "application/json"}, {}):
        resp = shared_client(service).post(concrete(path), headers=auth_for(service, path), **kwargs)
        assert resp.status_code < 500
        if "{" in path:
            assert_error_shape(resp, 404)


def test_valid_body_under_an_unknown_path_id_is_404(id_route, shared_client):
    service, path = id_route
    resp = shared_client(service).post(concrete(path), json=valid_body(service, path),
                                       headers=auth_for(service, path))
    body = assert_error_shape(resp, 404)
    assert json_errors(body) or body["message"]


def test_schema_valid_body_is_never_a_server_error(route, shared_client):
    service, path = route
    resp = shared_client(service).post(concrete(path), json=valid_body(service, path),
                                       headers=auth_for(service, path))
    assert resp.status_code < 500, resp.get_data(as_text=True)
    if resp.status_code >= 400:
        assert_error_shape(resp)


# --- domain rules answer 4xx naming the field: needs -------------------------------------------------------------

@pytest.fixture
def needs_client(make_client):
    """A needs service seeded with the Thới Bình units, the 2025 merger and positions (no civil servants)."""
    client = make_client("needs")
    resp = client.post("/admin/needs/seed", json={"civil_servants": 0}, headers=ADMIN_AUTH)
    assert resp.status_code == 200, resp.data
    return client


def make_civil_servant(**overrides) -> dict:
    return {"code": f"T-{uuid.uuid4().hex[:8]}", "full_name": "Nguyễn Thị Lan", "gender": "female",
            "birth_year": 1988, "ethnicity": "Khmer", "unit_code": "TB-X-TANLOCBAC", "position_code": "VHXH",
            **overrides}


def outbox_pending(client) -> int:
    resp = client.get("/admin/outbox", headers=ADMIN_AUTH)
    assert resp.status_code == 200
    return resp.get_json()["pending"]


def test_registering_a_civil_servant_reports_todays_commune_and_writes_one_outbox_event(needs_client):
    resp = needs_client.post("/api/v1/civil-servants", json=make_civil_servant(), headers=API_AUTH)
    assert resp.status_code == 201, resp.data
    out = resp.get_json()
    assert (out["unit_code"], out["commune_code"], out["ethnic_minority"]) == ("TB-X-TANLOCBAC", "CM-TANLOC", True)
    assert outbox_pending(needs_client) == 1


def test_unknown_unit_code_is_422_naming_unit_code_and_writes_no_event(needs_client):
    resp = needs_client.post("/api/v1/civil-servants", json=make_civil_servant(unit_code="TB-X-NOWHERE"),
                             headers=API_AUTH)
    assert names(assert_error_shape(resp, 422), ("unit_code",))
    assert outbox_pending(needs_client) == 0


def outbox_correlation_ids(client) -> list[str]:
    ctx = client.application.extensions["service"]
    with ctx.engine.connect() as conn:
        return list(conn.execute(sa.select(ctx.outbox.table.c.correlation_id)).scalars())


def test_the_request_correlation_id_is_echoed_and_carried_by_the_event(needs_client):
    resp = needs_client.post("/api/v1/civil-servants", json=make_civil_servant(),
                             headers={**API_AUTH, "X-Correlation-ID": "req-123"})
    assert resp.status_code == 201, resp.data
    assert resp.headers["X-Correlation-ID"] == "req-123"
    assert outbox_correlation_ids(needs_client) == ["req-123"]


def test_a_long_correlation_id_header_still_fits_the_outbox_column(needs_client):
    resp = needs_client.post("/api/v1/civil-servants", json=make_civil_servant(),
                             headers={**API_AUTH, "X-Correlation-ID": "x" * 100})
    assert resp.status_code == 201, resp.data
    assert all(len(c) <= 64 for c in outbox_correlation_ids(needs_client))


def test_unknown_position_code_is_422_naming_position_code(needs_client):
    resp = needs_client.post("/api/v1/civil-servants", json=make_civil_servant(position_code="NOPE"),
                             headers=API_AUTH)
    assert names(assert_error_shape(resp, 422), ("position_code",))


def test_duplicate_civil_servant_code_is_409_naming_code(needs_client):
    person = make_civil_servant()
    assert needs_client.post("/api/v1/civil-servants", json=person, headers=API_AUTH).status_code == 201
    resp = needs_client.post("/api/v1/civil-servants", json={**person, "full_name": "Other"}, headers=API_AUTH)
    assert names(assert_error_shape(resp, 409), ("code",))
    assert outbox_pending(needs_client) == 1


def test_unknown_civil_servant_is_404_json(needs_client):
    resp = needs_client.get(f"/api/v1/civil-servants/{uuid.uuid4()}", headers=API_AUTH)
    assert names(assert_error_shape(resp, 404), ("id",))


# --- domain rules: courses -------------------------------------------------------------------------------------

@pytest.fixture
def courses_client(make_client):
    return make_client("courses")


def make_lecturer(client, tier: int = 2) -> str:
    resp = client.post("/api/v1/lecturers", json={"name": "TS. Trần Văn An", "tier": tier}, headers=API_AUTH)
    assert resp.status_code == 201, resp.data
    return resp.get_json()["id"]


def make_course_body(lecturer_id: str, **overrides) -> dict:
    return {"code": f"K-{uuid.uuid4().hex[:6]}", "title": "Kỹ năng số cho công chức xã",
            "organizer_unit_code": "CM-THOIBINH",
            "sessions": [{"date": "2025-08-04", "buoi": "morning", "lecturer_id": lecturer_id},
                         {"date": "2025-08-04", "buoi": "afternoon", "lecturer_id": lecturer_id}], **overrides}


def schedule(client, **overrides) -> dict:
    resp = client.post("/api/v1/courses", json=make_course_body(make_lecturer(client), **overrides),
                       headers=API_AUTH)
    assert resp.status_code == 201, resp.data
    return resp.get_json()


def test_creating_a_course_returns_a_draft_with_its_sessions(courses_client):
    course = schedule(courses_client)
    assert course["status"] == "draft"  # POST /courses/<id>/schedule books it; funding's reply confirms it
    assert [(s["date"], s["buoi"], s["periods"]) for s in course["sessions"]] == [
        ("2025-08-04", "morning", 4), ("2025-08-04", "afternoon", 4)]


def test_two_sessions_in_the_same_date_and_buoi_are_422_naming_sessions(courses_client):
    lecturer = make_lecturer(courses_client)
    same = {"date": "2025-08-04", "buoi": "morning", "lecturer_id": lecturer}
    resp = courses_client.post("/api/v1/courses", json=make_course_body(lecturer, sessions=[same, dict(same)]),
                               headers=API_AUTH)
    body = assert_error_shape(resp, 422)
    assert names(body, ("sessions",))
    assert "04/08/2025" in body["message"] or "2025-08-04" in body["message"]  # the message names the session


def test_unknown_lecturer_is_422_naming_the_sessions_lecturer(courses_client):
    resp = courses_client.post("/api/v1/courses", json=make_course_body(str(uuid.uuid4())), headers=API_AUTH)
    body = assert_error_shape(resp, 422)
    assert any(key.startswith("sessions") and "lecturer_id" in key for key in json_errors(body)), body


def test_duplicate_course_code_is_409_naming_code(courses_client):
    course = schedule(courses_client)
    resp = courses_client.post("/api/v1/courses", json=make_course_body(make_lecturer(courses_client),
                                                                        code=course["code"]), headers=API_AUTH)
    assert names(assert_error_shape(resp, 409), ("code",))


def test_enrolling_an_unknown_civil_servant_is_422_naming_civil_servant_ids(courses_client):
    course = schedule(courses_client)
    resp = courses_client.post(f"/api/v1/courses/{course['id']}/enrollments",
                               json={"civil_servant_ids": [str(uuid.uuid4())]}, headers=API_AUTH)
    assert names(assert_error_shape(resp, 422), ("civil_servant_ids",))


def test_attendance_for_a_session_of_another_course_is_422_naming_the_record(courses_client):
    course = schedule(courses_client)
    resp = courses_client.post(f"/api/v1/courses/{course['id']}/attendance", json={"records": [
        {"session_id": str(uuid.uuid4()), "civil_servant_id": str(uuid.uuid4()), "present": True}]},
        headers=API_AUTH)
    assert names(assert_error_shape(resp, 422), ("records.0.session_id",))


def test_completing_a_course_without_trainees_is_409_naming_course_id(courses_client):
    course = schedule(courses_client)
    resp = courses_client.post(f"/api/v1/courses/{course['id']}/complete", headers=API_AUTH)
    assert names(assert_error_shape(resp, 409), ("course_id",))


def test_enrolled_trainee_can_be_completed_and_course_completed_is_in_the_outbox(courses_client):
    ctx = courses_client.application.extensions["service"]
    cs_id = str(uuid.uuid4())
    _, wire = new_event("needs.civil_servant_registered", {
        "civil_servant_id": cs_id, "code": "TB-0001", "unit_code": "TB-X-TANLOCBAC", "commune_code": "CM-TANLOC",
        "position_code": "VHXH", "female": True, "ethnic_minority": False, "hard_area": True,
        "child_under_36_months": False}, producer="needs")
    deliver(courses_client.application, wire)
    # the only civil servant of her commune: allow the whole commune away (the on-duty share has its own tests)
    share = {"commune_code": "*", "max_absent_percent": 100, "note": "test"}
    assert courses_client.post("/api/v1/rules/duty-shares", json=share, headers=API_AUTH).status_code == 200
    lecturer = courses_client.post("/api/v1/lecturers", json={
        "name": "TS. Trần Văn An", "tier": 2, "degree": "doctor", "pedagogy_certificate": True,
        "years_experience": 10}, headers=API_AUTH).get_json()["id"]
    resp = courses_client.post("/api/v1/courses", json=make_course_body(lecturer, form="online"), headers=API_AUTH)
    assert resp.status_code == 201, resp.data
    course = resp.get_json()
    assert courses_client.post(f"/api/v1/courses/{course['id']}/enrollments",
                               json={"civil_servant_ids": [cs_id]}, headers=API_AUTH).get_json()["count"] == 1
    scheduled = courses_client.post(f"/api/v1/courses/{course['id']}/schedule", headers=API_AUTH)
    assert scheduled.status_code == 200, scheduled.data
    _, reply = new_event("funding.budget_reserved", {
        "course_id": course["id"], "revision": scheduled.get_json()["revision"], "reservation_id": str(uuid.uuid4()),
        "estimate_total": 4_000_000, "lines": []}, producer="funding")
    deliver(courses_client.application, reply)
    morning = course["sessions"][0]["id"]
    resp = courses_client.post(f"/api/v1/courses/{course['id']}/attendance", json={"records": [
        {"session_id": morning, "civil_servant_id": cs_id, "present": True}]}, headers=API_AUTH)
    assert resp.status_code == 201, resp.data
    resp = courses_client.post(f"/api/v1/courses/{course['id']}/complete", headers=API_AUTH)
    assert resp.status_code == 200, resp.data
    assert resp.get_json()["closing"]["state"] == "awaiting_feedback_and_settlement"
    with ctx.engine.connect() as conn:
        [body] = conn.execute(sa.select(ctx.outbox.table.c.body).where(
            ctx.outbox.table.c.event_type == "courses.course_completed")).scalars()
    [p] = decode(body).payload["participants"]
    assert (p["civil_servant_id"], p["sessions_attended"], p["days_attended"], p["completed"]) == \
        (cs_id, 1, 1, False)
    again = courses_client.post(f"/api/v1/courses/{course['id']}/enrollments",
                                json={"civil_servant_ids": [cs_id]}, headers=API_AUTH)
    assert names(assert_error_shape(again, 409), ("course_id",))


def test_unknown_course_is_404_json(courses_client):
    assert names(assert_error_shape(courses_client.get(f"/api/v1/courses/{uuid.uuid4()}"), 404), ("course_id",))


# --- domain rules: funding -------------------------------------------------------------------------------------

@pytest.fixture
def funding_client(make_client):
    return make_client("funding")


def make_budget_line(**overrides) -> dict:
    return {"fiscal_year": 2025, "source": "dtbd_state", "owner_unit_code": "CM-THOIBINH",
            "allocated": 500_000_000, "decision_no": "12/QĐ-UBND", "decision_date": "2025-01-05", **overrides}


def make_norm(**overrides) -> dict:
    return {"item": "lecturer_fee", "unit": "per_buoi", "lecturer_tier": 1, "province_code": "CM",
            "amount": 2_000_000, "legal_basis": "MẪU", "valid_from": "2025-01-01", "valid_to": "2025-10-27",
            **overrides}


@pytest.mark.parametrize("allocated", [1.5, "100", 100.0, -1, 10**15 + 1, True, None])
def test_budget_line_with_a_non_integer_or_out_of_range_allocation_is_422_naming_allocated(funding_client,
                                                                                          allocated):
    resp = funding_client.post("/api/v1/budget-lines", json=make_budget_line(allocated=allocated), headers=API_AUTH)
    assert names(assert_error_shape(resp, 422), ("allocated",))


def test_budget_line_balance_starts_at_its_allocation(funding_client):
    resp = funding_client.post("/api/v1/budget-lines", json=make_budget_line(), headers=API_AUTH)
    assert resp.status_code == 201, resp.data
    out = resp.get_json()
    assert (out["allocated"], out["spent"], out["balance"]) == (500_000_000, 0, 500_000_000)


def test_second_budget_line_for_the_same_year_source_and_unit_is_409(funding_client):
    assert funding_client.post("/api/v1/budget-lines", json=make_budget_line(), headers=API_AUTH).status_code == 201
    resp = funding_client.post("/api/v1/budget-lines", json=make_budget_line(allocated=1), headers=API_AUTH)
    assert names(assert_error_shape(resp, 409), ("owner_unit_code",))


def test_overlapping_cost_norm_version_is_409_naming_valid_from(funding_client):
    assert funding_client.post("/api/v1/rules/cost-norms", json=make_norm(), headers=API_AUTH).status_code == 201
    for overlap in (make_norm(valid_from="2025-10-27", valid_to=None), make_norm(valid_from="2024-01-01"),
                    make_norm(valid_from="2025-03-01", valid_to="2025-03-31")):
        resp = funding_client.post("/api/v1/rules/cost-norms", json=overlap, headers=API_AUTH)
        assert names(assert_error_shape(resp, 409), ("valid_from",)), overlap


def test_norm_versions_that_only_touch_or_differ_in_tier_are_accepted(funding_client):
    for norm in (make_norm(), make_norm(valid_from="2025-10-28", valid_to=None, amount=2_200_000),
                 make_norm(lecturer_tier=2), make_norm(item="learner_support", unit="per_day", lecturer_tier=None)):
        resp = funding_client.post("/api/v1/rules/cost-norms", json=norm, headers=API_AUTH)
        assert resp.status_code == 201, (norm, resp.get_json())


def test_norm_ending_before_it_starts_is_422_naming_valid_to(funding_client):
    resp = funding_client.post("/api/v1/rules/cost-norms",
                               json=make_norm(valid_from="2025-06-01", valid_to="2025-05-31"), headers=API_AUTH)
    assert names(assert_error_shape(resp, 422), ("valid_to",))


def test_one_day_norm_is_accepted(funding_client):
    resp = funding_client.post("/api/v1/rules/cost-norms",
                               json=make_norm(valid_from="2025-06-01", valid_to="2025-06-01"), headers=API_AUTH)
    assert resp.status_code == 201, resp.data


def test_unknown_settlement_is_404_json(funding_client):
    resp = funding_client.get(f"/api/v1/settlements/{uuid.uuid4()}", headers=API_AUTH)
    assert names(assert_error_shape(resp, 404), ("course_id",))


# --- domain rules: evaluation ----------------------------------------------------------------------------------

AUG_4 = date(2025, 8, 4)


@pytest.fixture
def evaluation_client(make_client):
    return make_client("evaluation")


def open_course(client, attendees: int = 2, settings: dict | None = None) -> tuple[str, list[dict]]:
    """Deliver a courses.course_completed event to evaluation's handler (with `settings` overridden); return the
    course id and its requests."""
    course_id = str(uuid.uuid4())
    _, wire, _ = make_course_completed(
        course_id=course_id, code="K1", title="Kỹ năng số", start=AUG_4, days=1, total_sessions=1,
        sessions=[{"session_id": "s1", "date": AUG_4, "buoi": "morning", "lecturer_id": "L1", "lecturer_tier": 1}],
        participants=[{"civil_servant_id": str(uuid.uuid4()), "commune_code": "CM-TANLOC", "sessions_attended": 1,
                       "days_attended": 1, "completed": True} for _ in range(attendees)])
    if settings:
        from tests.unit.evaluation.factories import deliver_with
        deliver_with(client.application, wire, **settings)
    else:
        deliver(client.application, wire)
    resp = client.get(f"/api/v1/courses/{course_id}/feedback-requests", headers=API_AUTH)
    assert resp.status_code == 200, resp.data
    return course_id, resp.get_json()


def all_scores(value: int = 8, **overrides) -> dict:
    from services.evaluation.domain import CRITERIA
    return {**{c: value for c in CRITERIA}, **overrides}


@pytest.mark.parametrize("criterion", ["content", "methods", "lecturer", "organisation", "applicability"])
@pytest.mark.parametrize("score", [0, 11, -1, 7.5, "8"])
def test_score_outside_1_to_10_or_not_an_integer_is_422_naming_the_criterion(evaluation_client, criterion, score):
    _, requests = open_course(evaluation_client, attendees=1)
    token = requests[0]["token"]
    resp = evaluation_client.post(f"/api/v1/feedback/{token}", json={"scores": all_scores(**{criterion: score})})
    assert names(assert_error_shape(resp, 422), ("scores", criterion))
    assert evaluation_client.get(f"/api/v1/feedback/{token}").get_json()["state"] == "open"


def test_unknown_feedback_token_is_404_naming_token(evaluation_client):
    for resp in (evaluation_client.get("/api/v1/feedback/not-a-token"),
                 evaluation_client.post("/api/v1/feedback/not-a-token", json={"scores": all_scores()})):
        assert names(assert_error_shape(resp, 404), ("token",))


def test_feedback_is_accepted_once_per_token(evaluation_client):
    course_id, requests = open_course(evaluation_client, attendees=2)
    assert len(requests) == 2
    token = requests[0]["token"]
    form = evaluation_client.get(f"/api/v1/feedback/{token}").get_json()
    assert form["state"] == "open" and len(form["criteria"]) == 5
    resp = evaluation_client.post(f"/api/v1/feedback/{token}", json={"scores": all_scores(9), "comment": "Tốt"})
    assert resp.status_code == 201, resp.data
    assert resp.get_json()["valid"] is True
    again = evaluation_client.post(f"/api/v1/feedback/{token}", json={"scores": all_scores(1)})
    assert names(assert_error_shape(again, 409), ("token",))
    summary = evaluation_client.get(f"/api/v1/courses/{course_id}/feedback-summary").get_json()
    assert (summary["requests"], summary["responses"], summary["response_rate"]) == (2, 1, 0.5)
    # scores stay hidden while the window is open (and one form of two would be that trainee's own answers)
    assert (summary["index"], summary["band"], summary["suppressed"]) == (None, None, True)


def test_feedback_with_an_unanswered_criterion_is_stored_as_invalid(evaluation_client):
    _, requests = open_course(evaluation_client, attendees=1)
    resp = evaluation_client.post(f"/api/v1/feedback/{requests[0]['token']}",
                                  json={"scores": all_scores(lecturer=None)})
    assert resp.status_code == 201, resp.data
    assert resp.get_json()["valid"] is False


@pytest.fixture
def expired_token(evaluation_client):
    """A feedback token whose answer window closed yesterday (feedback_window_days=-1 when the course opened)."""
    _, requests = open_course(evaluation_client, attendees=1, settings={"feedback_window_days": -1})
    return requests[0]["token"]


def test_feedback_after_the_deadline_is_410_naming_token(evaluation_client, expired_token):
    assert evaluation_client.get(f"/api/v1/feedback/{expired_token}").get_json()["state"] == "expired"
    resp = evaluation_client.post(f"/api/v1/feedback/{expired_token}", json={"scores": all_scores()})
    assert names(assert_error_shape(resp, 410), ("token",))


def test_expired_feedback_error_says_gone(evaluation_client, expired_token):
    resp = evaluation_client.post(f"/api/v1/feedback/{expired_token}", json={"scores": all_scores()})
    assert resp.status_code == 410
    assert resp.get_json()["status"] == "Gone"


def test_unknown_course_summary_is_404_naming_course_id(evaluation_client):
    resp = evaluation_client.get(f"/api/v1/courses/{uuid.uuid4()}/feedback-summary")
    assert names(assert_error_shape(resp, 404), ("course_id",))


# --- operator endpoints that need no broker --------------------------------------------------------------------

def test_outbox_prune_with_a_huge_age_is_a_4xx_not_a_500(shared_client):
    resp = shared_client("needs").post("/admin/outbox/prune", json={"older_than_days": 10**6}, headers=ADMIN_AUTH)
    assert_error_shape(resp, 422)


def test_outbox_prune_with_a_negative_age_is_422(shared_client):
    resp = shared_client("needs").post("/admin/outbox/prune", json={"older_than_days": -1}, headers=ADMIN_AUTH)
    assert names(assert_error_shape(resp, 422), ("older_than_days",))


def test_seed_endpoints_reject_bad_counts(shared_client):
    resp = shared_client("needs").post("/admin/needs/seed", json={"civil_servants": -1}, headers=ADMIN_AUTH)
    assert names(assert_error_shape(resp, 422), ("civil_servants",))
    resp = shared_client("funding").post("/admin/funding/seed", json={}, headers=ADMIN_AUTH)
    assert names(assert_error_shape(resp, 422), ("fiscal_year",))
