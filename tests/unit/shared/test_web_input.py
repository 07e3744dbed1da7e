"""shared.web checks every request's input in one place before any schema or view (issue 12, findings 3, 4, 5, 7,
8): control characters, lone surrogates, nesting, huge integers and oversized bodies are 4xx in the one JSON
error shape naming the field, never 500; NFD text is stored as NFC; every response carries the browser headers;
/docs loads a pinned Swagger UI from the service itself; a 500 logs the exception's type and where, no value."""
from __future__ import annotations

import json
import logging
import unicodedata

import pytest

from shared.config import RequestLimits
from tests.unit.apps import API_AUTH
from tests.unit.needs.factories import person, seeded


@pytest.fixture
def needs(make_client):
    return seeded(make_client)


def _post(client, body, **kw):
    return client.post("/api/v1/civil-servants", data=body if isinstance(body, (bytes, str)) else json.dumps(body),
                       content_type="application/json", headers=API_AUTH, **kw)


@pytest.mark.parametrize("bad", ["Nguyễn\x0bA", "Lê\x00B", "C1\x85", "x\x1b[31m"])
def test_a_control_character_in_json_text_is_422_naming_the_field(needs, bad):
    resp = _post(needs, person(full_name=bad))
    assert resp.status_code == 422, resp.data
    body = resp.get_json()
    assert body["code"] == 422 and "full_name" in body["errors"]["json"]
    assert bad not in resp.get_data(as_text=True)


def test_a_lone_surrogate_is_422_not_500(needs):
    raw = json.dumps(person(), ensure_ascii=False).replace('"Nguyễn Thị Lan"', '"Lan \\ud800"')
    resp = _post(needs, raw)
    assert resp.status_code == 422 and "full_name" in resp.get_json()["errors"]["json"]


@pytest.mark.parametrize("depth", [100, 1_000, 100_000])
def test_json_nested_deep_is_4xx_not_500(needs, depth):
    resp = _post(needs, "[" * depth + "]" * depth)
    assert resp.status_code in (400, 422), resp.status_code
    assert resp.get_json()["code"] == resp.status_code


def test_a_5000_digit_integer_is_422_naming_the_field(needs):
    raw = json.dumps(person(), ensure_ascii=False).replace('"birth_year": 1988', '"birth_year": ' + "9" * 5_000)
    resp = _post(needs, raw)
    assert resp.status_code == 422 and "birth_year" in resp.get_json()["errors"]["json"]
    assert len(resp.data) < 2_000


@pytest.mark.parametrize("query", ["page=" + "1" + "0" * 30, "year=" + "9" * 5_000, "page=-" + "9" * 40])
def test_a_huge_integer_in_the_query_is_422(needs, query):
    resp = needs.get("/api/v1/civil-servants?" + query, headers=API_AUTH)
    assert resp.status_code == 422, resp.data
    assert "query" in resp.get_json()["errors"]


def test_a_huge_integer_in_the_path_is_404_not_500(make_client):
    client = make_client("needs")
    rule = next((r.rule for r in client.application.url_map.iter_rules() if "<int:" in r.rule and "GET" in r.methods), None)
    if rule is None:
        pytest.skip("no integer path parameter in this service")
    import re
    path = re.sub(r"<int:\w+>", "1" + "0" * 30, rule)
    path = re.sub(r"<[^>]+>", "x", path)
    assert client.get(path, headers=API_AUTH).status_code == 404


def test_nfd_text_is_stored_as_nfc(needs):
    nfd = unicodedata.normalize("NFD", "Nguyễn Thị Nữ")
    resp = _post(needs, person(full_name=nfd))
    assert resp.status_code == 201, resp.data
    assert resp.get_json()["full_name"] == "Nguyễn Thị Nữ"


def test_a_body_over_the_json_cap_is_413_in_the_json_shape(make_client):
    needs = make_client("needs", request_limits=RequestLimits(json_bytes=10_000))
    resp = _post(needs, json.dumps(person(full_name="A" * 20_000)))
    assert resp.status_code == 413
    assert resp.get_json()["code"] == 413 and "quá lớn" in resp.get_json()["message"]


def test_an_upload_is_allowed_more_than_json_and_still_capped(make_client):
    import io
    needs = make_client("needs", request_limits=RequestLimits(upload_bytes=50_000))
    resp = needs.post("/api/v1/civil-servants/import", headers=API_AUTH, content_type="multipart/form-data",
                      data={"file": (io.BytesIO(b"x" * 100_000), "a.csv")})
    assert resp.status_code == 413 and resp.get_json()["code"] == 413


@pytest.mark.parametrize("header", ["Bearer café", "Bearer \u00ff\u00fe", "Bearer ", "bearer", "Basic abc"])
def test_a_non_ascii_or_missing_bearer_token_is_401_not_500(needs, header):
    resp = _post(needs, person(), ) if False else needs.post(
        "/api/v1/civil-servants", json=person(), headers={"Authorization": header.encode("utf-8").decode("latin-1")})
    assert resp.status_code == 401


@pytest.mark.parametrize("path", ["/health/live", "/api/v1/civil-servants", "/docs", "/openapi.json", "/nowhere"])
def test_every_response_carries_the_browser_hardening_headers(needs, path):
    resp = needs.get(path, headers=API_AUTH)
    h = resp.headers
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["X-Frame-Options"] == "DENY"
    assert h["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
    assert "default-src 'none'" in h["Content-Security-Policy"]
    assert h["Cache-Control"] == "no-store"


def test_docs_load_a_pinned_swagger_ui_from_the_service_itself(needs):
    page = needs.get("/docs").get_data(as_text=True)
    assert "cdn." not in page and "https://" not in page
    assert "/docs/assets/swagger-ui-bundle.js" in page
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"):
        resp = needs.get("/docs/assets/" + asset)
        assert resp.status_code == 200 and len(resp.data) > 10_000, asset
        resp.close()


def test_an_unhandled_error_logs_its_type_and_where_never_its_text(make_client):
    needs = make_client("needs")
    app = needs.application

    @app.route("/boom-test")
    def boom():
        raise ValueError("Nguyễn Văn Bí mật 1988")

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("http").addHandler(handler)
    try:
        resp = needs.get("/boom-test")
    finally:
        logging.getLogger("http").removeHandler(handler)
    assert resp.status_code == 500
    [record] = [r for r in records if r.getMessage() == "unhandled error"]
    assert record.exc_info is None
    assert record.error_type == "builtins.ValueError" and "test_web_input.py" in " ".join(record.frames)
    from shared.logs import JsonFormatter
    assert "Bí mật" not in JsonFormatter("needs").format(record)


def test_a_422_lists_at_most_100_problems_with_the_total(needs):
    from shared import web
    from shared.tabular import TableError
    problems = [{"line": i, "field": "name", "message": "x" * 10_000} for i in range(2, 5_002)]
    with needs.application.test_request_context("/"):
        resp, status = web._table_error(TableError(problems))
    body = resp.get_json()
    assert status == 422 and len(body["problems"]) == 100 and len(body["errors"]["files"]["file"]) == 100
    assert body["problem_count"] == 5_000 and body["problems_truncated"]
    assert len(resp.data) < 100_000
