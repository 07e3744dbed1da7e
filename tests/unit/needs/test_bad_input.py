"""Bad input on the needs endpoints the shared contract test does not feed (PATCH, DELETE, query strings): 4xx."""
import pytest

from tests.unit.apps import ADMIN_AUTH, API_AUTH
from tests.unit.needs.factories import register, seeded

WRONG_VALUES = [None, 12, "x" * 500, [], {}, True, "2026-13-45", -1]


@pytest.fixture
def client(make_client):
    return seeded(make_client)


def _never_5xx(resp):
    assert resp.status_code < 500, resp.data
    if resp.status_code >= 400:
        body = resp.get_json()
        assert body and body.get("code") == resp.status_code


@pytest.mark.parametrize("field", ["full_name", "gender", "birth_year", "unit_code", "position_code", "hard_area",
                                   "degree_level", "employed_from", "employment_status", "status_since"])
def test_patching_a_civil_servant_with_wrong_values_is_never_5xx(client, field):
    cs = register(client)
    for value in WRONG_VALUES:
        _never_5xx(client.patch(f"/api/v1/civil-servants/{cs['id']}", json={field: value}, headers=API_AUTH))
    _never_5xx(client.patch("/api/v1/civil-servants/unknown", json={field: "x"}, headers=API_AUTH))


@pytest.mark.parametrize("field", ["name", "category", "active", "legacy"])
def test_patching_a_position_with_wrong_values_is_never_5xx(client, field):
    for value in WRONG_VALUES:
        _never_5xx(client.patch("/api/v1/positions/VHXH", json={field: value}, headers=API_AUTH))
    _never_5xx(client.patch("/api/v1/positions/NOPE", json={field: "x"}, headers=API_AUTH))


@pytest.mark.parametrize("path", [
    "/api/v1/units", "/api/v1/civil-servants", "/api/v1/civil-servants/export", "/api/v1/needs", "/api/v1/plans",
    "/api/v1/reports/needs", "/api/v1/reports/needs/chart", "/api/v1/reports/plan-coverage",
    "/api/v1/reports/plan-coverage/chart", "/api/v1/reports/below-standard"])
def test_query_strings_with_wrong_values_are_never_5xx(client, path):
    for query in ({"as_of": "yesterday"}, {"page": "0"}, {"page_size": "100000"}, {"format": "pdf"},
                  {"group_by": "name,birth_year"}, {"status": "lost"}, {"plan_id": "nope"}, {"year": "abc"},
                  {"kind": "huyen"}, {"unit_code": "NOPE"}, {"commune_code": "NOPE"}):
        _never_5xx(client.get(path, query_string=query, headers=API_AUTH))


def test_unknown_ids_in_paths_are_404_naming_the_id(client):
    for method, path in [("get", "/api/v1/units/NOPE"), ("get", "/api/v1/civil-servants/NOPE"),
                         ("get", "/api/v1/civil-servants/NOPE/competencies"), ("get", "/api/v1/frameworks/999"),
                         ("get", "/api/v1/campaigns/NOPE"), ("get", "/api/v1/campaigns/NOPE/progress"),
                         ("post", "/api/v1/campaigns/NOPE/close"), ("get", "/api/v1/plans/NOPE"),
                         ("delete", "/api/v1/plans/NOPE"), ("post", "/api/v1/plans/NOPE/submit")]:
        resp = getattr(client, method)(path, headers=API_AUTH)
        assert resp.status_code == 404, (path, resp.data)


def test_rules_with_values_of_the_wrong_shape_are_422_naming_value(client):
    for code, value in [("combination", {"method": "average"}), ("combination", {"self_weight": "a lot"}),
                        ("priority_weights", {"mandatory": "many"}), ("standards", {"rules": "none"}),
                        ("standards", {"rules": [{"code": "X"}]}), ("standards", {"rules": [[1, 2]]})]:
        resp = client.post(f"/api/v1/rules/{code.replace('_', '-')}", json={"valid_from": "2027-01-01",
                                                                            "legal_basis": "thử", "value": value},
                           headers=API_AUTH)
        assert resp.status_code == 422, (code, value, resp.data)
        assert "value" in str(resp.get_json()["errors"])
