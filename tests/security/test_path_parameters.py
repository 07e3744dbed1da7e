"""A control character in a path parameter is refused in shared.web's one input check, before any view or query:
a 404 in the JSON error shape naming the parameter under `path` (such a path names nothing). A NUL in an id
(GET /api/v1/courses/%00x) was a 500 on PostgreSQL in every service — PostgreSQL refuses NUL in text, SQLite just
found nothing — so the routes run on both backends. Every route with a text parameter, in all four services, is
found from the URL map (routes added later are covered too)."""
from __future__ import annotations

import re

import pytest

from shared.config import SERVICES
from tests.unit.apps import ADMIN_AUTH, API_AUTH

pytestmark = pytest.mark.usefixtures("backend")

# One known route per service (a plain read of one row) and its parameter.
ONE_ROUTE = {"needs": ("/api/v1/civil-servants/{}", "cs_id"), "courses": ("/api/v1/courses/{}", "course_id"),
             "evaluation": ("/api/v1/courses/{}/feedback-summary", "course_id"),
             "funding": ("/api/v1/budget-lines/{}", "budget_line_id")}


def _assert_refused(resp, names, where: str) -> None:
    assert resp.status_code == 404, f"{where}: {resp.status_code} {resp.data[:300]!r}"
    body = resp.get_json()
    assert body["code"] == 404 and set(names) <= set(body["errors"]["path"]), (where, body)
    assert "\x00" not in resp.get_data(as_text=True)


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("bad", ["%00x", "x%00", "a%0Bb", "%C2%85", "%7F"])
def test_a_control_character_in_an_id_is_404_naming_it_never_500(make_client, service, bad):
    client = make_client(service)
    path, name = ONE_ROUTE[service]
    _assert_refused(client.get(path.format(bad), headers=API_AUTH), [name], f"{service} {bad}")


def test_a_clean_id_still_reaches_the_view_nfc_normalised(make_client):
    client = make_client("courses")
    resp = client.get("/api/v1/courses/Nguye%CC%82%CC%83n", headers=API_AUTH)  # NFD: an unknown id, not refused
    assert resp.status_code == 404 and resp.get_json()["code"] == 404, resp.data[:300]
    assert "path" not in (resp.get_json().get("errors") or {})  # the view's own 404: the id was looked up


@pytest.mark.parametrize("framework_id", [2**31, 1096628893467420928, 2**63 - 1, 2**63])
def test_an_integer_id_beyond_a_postgresql_integer_is_404_never_500(make_client, framework_id):
    """GET /api/v1/frameworks/1096628893467420928 was a 500 on PostgreSQL (integer out of range; found by
    schemathesis on PostgreSQL): the check bounded path integers to int64, but row keys are 32-bit integers."""
    client = make_client("needs")
    resp = client.get(f"/api/v1/frameworks/{framework_id}", headers=API_AUTH)
    assert resp.status_code == 404 and resp.get_json()["code"] == 404, resp.data[:300]
    assert client.get(f"/api/v1/frameworks/{2**31 - 1}", headers=API_AUTH).status_code == 404  # looked up


def _text_routes(app):
    for rule in app.url_map.iter_rules():
        texts = [name for name, conv in rule._converters.items()
                 if type(conv).__name__ in ("UnicodeConverter", "PathConverter")]
        if texts:
            yield rule, texts


@pytest.mark.parametrize("service", SERVICES)
def test_every_route_with_a_text_parameter_refuses_a_nul_in_it(make_client, service):
    client = make_client(service)
    checked = 0
    for rule, texts in _text_routes(client.application):
        path = rule.rule
        for name, conv in rule._converters.items():
            value = "x%00y" if name in texts else (sorted(conv.items)[0] if hasattr(conv, "items") else "1")
            path = re.sub(rf"<(?:[^>:]+:)?{name}(?:\([^>]*\))?>", value, path)
        auth = ADMIN_AUTH if path.startswith("/admin") else API_AUTH
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            resp = client.open(path, method=method, headers=auth)
            if resp.mimetype == "text/html":  # a trainee's page answers the refusal as a page of its own
                assert 400 <= resp.status_code < 500, f"{service} {method} {rule.rule}: {resp.status_code}"
                assert "\x00" not in resp.get_data(as_text=True)
            else:
                _assert_refused(resp, texts, f"{service} {method} {rule.rule}")
            checked += 1
    assert checked, f"{service}: no route with a text path parameter"
