"""Every report and download route describes in its OpenAPI what it answers (issue 12, finding 10: routes answered
CSV, XLSX, charts and calendars their documents did not mention). The four documents are walked: each GET operation
with a `format` query argument must document, for its 200 response, the media type of every format it offers
(shared.apidoc.MEDIA_TYPES), and a schema for each; then each is called in each format through the Flask test
client, on apps seeded as the fuzzing guard seeds them, and the media type it answers must be the one documented
for that format. Every other operation's 2xx answer (but 204) must document some body."""
from __future__ import annotations

import re

import pytest

from shared.apidoc import MEDIA_TYPES
from shared.config import SERVICES
from tests.security import test_fuzzing
from tests.unit.apps import ADMIN_AUTH, API_AUTH, deliver

# "METHOD /path" → why its 200 body is not described yet. Each entry is a reported gap with its owner; the test
# fails when a listed gap is closed (remove it) as well as when a new one opens.
GAPS: dict[str, dict[str, str]] = {service: {} for service in SERVICES}
# Routes that answer only with the other services running: their documented media types are checked against what
# they answer in the test that serves the four apps (tests/integration/test_subject_report.py).
NEEDS_PEERS = {"GET /api/v1/data-subjects/{civil_servant_id}/report"}


def _seed_funding(client) -> dict:
    """The fuzzing seed (norms, budget lines) and a settled course: a payee list and spending to report."""
    from tests.unit.funding.factories import completed_from, scheduled, trainee
    known = test_fuzzing._seed_funding(client)
    body, plan = scheduled(trainees=[trainee("CM-TANLOC")])
    deliver(client.application, body)
    deliver(client.application, completed_from(plan)[0])
    return {**known, "course_id": [plan["course_id"]]}


def _seed_needs(client) -> dict:
    """The fuzzing seed and an approved-able plan (plan-coverage reports need a plan id)."""
    known = test_fuzzing._seed_needs(client)
    resp = client.post("/api/v1/plans", headers=API_AUTH, json={"year": 2026, "title": "Kế hoạch 2026"})
    assert resp.status_code == 201, resp.data
    return {**known, "plan_id": [resp.get_json()["plan"]["id"]], "civil_servant_id": known["cs_id"]}


def _seed_courses(client) -> dict:
    known = test_fuzzing._seed_courses(client)
    return {**known, "of": ["lecturers"], "ref": known["lecturer_id"]}


SEEDS = {"needs": _seed_needs, "courses": _seed_courses, "evaluation": test_fuzzing._seed_evaluation,
         "funding": _seed_funding}


def _operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield method.upper(), path, op


def _format_param(op: dict) -> dict | None:
    return next((p for p in op.get("parameters", []) if p.get("name") == "format" and p.get("in") == "query"), None)


def _value(name: str, schema: dict, known: dict) -> str:
    if known.get(name):
        return str(known[name][0])
    if schema.get("enum"):
        return str(schema["enum"][0])
    if schema.get("type") == "integer":
        return "2026"
    return "1"


def _url(path: str, op: dict, fmt: str, known: dict) -> str:
    params = {p["name"]: p for p in op.get("parameters", [])}
    url = re.sub(r"\{(\w+)\}", lambda m: _value(m.group(1), (params.get(m.group(1)) or {}).get("schema") or {},
                                                   known), path)
    query = {"format": fmt}
    for p in op.get("parameters", []):
        if p.get("in") == "query" and p["name"] != "format" and (p.get("required") or p["name"] in known):
            query[p["name"]] = _value(p["name"], p.get("schema") or {}, known)
    return url + "?" + "&".join(f"{k}={v}" for k, v in query.items())


def _ok_response(op: dict) -> tuple[str, dict] | None:
    for code in ("200", "201", "202"):
        if code in op.get("responses", {}):
            return code, op["responses"][code]
    return None


@pytest.mark.parametrize("service", SERVICES)
def test_report_and_download_routes_answer_the_media_types_their_openapi_documents(make_client, service, capsys):
    client = make_client(service)
    known = SEEDS[service](client)
    spec = client.get("/openapi.json").get_json()
    gaps, answered, unreached = [], 0, []
    for method, path, op in _operations(spec):
        label = f"{method} {path}"
        ok = _ok_response(op)
        if ok is None:
            continue
        code, response = ok
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]] if "$ref" in response \
            else response
        content = response.get("content") or {}
        fmt = _format_param(op) if method == "GET" else None
        if fmt is None:
            if not content:
                gaps.append(f"{label}: its {code} body is not described")
            continue
        offered = (fmt.get("schema") or {}).get("enum") or []
        missing = [f for f in offered if MEDIA_TYPES.get(f) not in content or not content[MEDIA_TYPES[f]].get("schema")]
        if missing:
            gaps.append(f"{label}: {code} documents no media type (or no schema) for format {missing}")
            continue
        headers = ADMIN_AUTH if path.startswith("/admin") else API_AUTH
        for f in offered if label not in NEEDS_PEERS else ():
            resp = client.get(_url(path, op, f, known), headers=headers)
            assert resp.status_code < 500, f"{label} format={f}: {resp.status_code}"
            if resp.status_code != 200:
                unreached.append(f"{label} format={f}: {resp.status_code} {resp.data[:120]!r}")
                continue
            answered += 1
            assert resp.mimetype == MEDIA_TYPES[f], f"{label} format={f}: answered {resp.mimetype}, " \
                                                    f"documented {MEDIA_TYPES[f]}"
            documented = content[MEDIA_TYPES[f]]["schema"]
            if f == "json" and documented.get("type") in ("array", "object"):  # the fuzzing guard checks the rest
                assert isinstance(resp.get_json(), list if documented["type"] == "array" else dict), \
                    f"{label}: a JSON {type(resp.get_json()).__name__}, documented {documented['type']}"
    with capsys.disabled():
        print(f"\n{service}: {answered} report/download answers checked against their documented media type"
              + (f"; not reached: {unreached}" if unreached else ""))
    listed = {g.split(":")[0] for g in gaps}
    assert listed == set(GAPS[service]), "\n".join(g for g in gaps if g.split(":")[0] not in GAPS[service]) or \
        f"closed gaps still listed: {sorted(set(GAPS[service]) - listed)}"
    assert not unreached, unreached
