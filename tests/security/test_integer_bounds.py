"""Every integer a caller sends — query, path or JSON body, in all four services — has a documented maximum, so no
value reaches a database column too small for it (issue 12, finding 5's class: `GET /plans?year=2147483648` and a
campaign's `framework_id` 2^31 were 500s on PostgreSQL, "integer out of range", where SQLite just found nothing).
The census reads the OpenAPI documents, so a new unbounded integer fails here before it fails in production."""
from __future__ import annotations

import pytest

from shared.config import SERVICES
from tests.unit.apps import API_AUTH

TOO_BIG = 2**31  # one past PostgreSQL's integer


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _integers(spec: dict, schema: dict, prefix: str = ""):
    schema = _resolve(spec, schema)
    for alternative in schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", []):
        yield from _integers(spec, alternative, prefix)
    kind = schema.get("type")
    if kind == "integer" or (isinstance(kind, list) and "integer" in kind):
        yield prefix, schema
    if isinstance(schema.get("items"), dict):
        yield from _integers(spec, schema["items"], prefix + "[]")
    for name, prop in (schema.get("properties") or {}).items():
        yield from _integers(spec, prop, f"{prefix}.{name}" if prefix else name)


@pytest.mark.parametrize("service", SERVICES)
def test_every_integer_a_caller_sends_has_a_maximum(make_client, service):
    spec = make_client(service).get("/openapi.json").get_json()
    unbounded, seen = [], 0
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if not isinstance(op, dict):
                continue
            places = [(p["in"], p["name"], p.get("schema", {})) for p in op.get("parameters", [])]
            body = ((op.get("requestBody") or {}).get("content") or {}).get("application/json")
            if body:
                places.append(("body", "", body["schema"]))
            for where, name, schema in places:
                for field, found in _integers(spec, schema, name):
                    seen += 1
                    if "maximum" not in found:
                        unbounded.append(f"{method.upper()} {path} {where} {field}")
    assert seen, "the census found no integer at all: it reads nothing"
    assert not unbounded, unbounded


def test_integers_past_a_row_key_are_refused_naming_the_field_on_both_backends(make_client, backend):
    client = make_client("needs")
    resp = client.get(f"/api/v1/plans?year={TOO_BIG}", headers=API_AUTH)
    assert resp.status_code == 422 and "year" in resp.get_json()["errors"]["query"], resp.data[:300]
    resp = client.post("/api/v1/campaigns", headers=API_AUTH, json={
        "year": 2027, "title": "Khảo sát 2027", "unit_codes": ["CM-THOIBINH"], "deadline": "2027-03-31",
        "framework_id": TOO_BIG})
    assert resp.status_code == 422 and "framework_id" in resp.get_json()["errors"]["json"], resp.data[:300]
    resp = client.get(f"/api/v1/civil-servants?page={TOO_BIG}", headers=API_AUTH)
    assert resp.status_code == 422 and "page" in resp.get_json()["errors"]["query"], resp.data[:300]
