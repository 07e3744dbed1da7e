"""A multipart part whose name werkzeug cannot read (none given, or a CR/LF inside the quoted name) comes out of
request.form with the name None; shared.web's input check passed it to shared.tabular.clean_text, whose TypeError
was a 500 (found by the schemathesis guard on POST /api/v1/courses/{course_id}/attendance-sheet with a body key
holding a CR). It is a 422 in the JSON error shape under `form`, on every upload route and before any view."""
from __future__ import annotations

import pytest

from tests.unit.apps import ADMIN_AUTH, API_AUTH

BOUNDARY = "b0undary"


def _multipart(*parts: tuple[str, str]) -> bytes:
    out = b""
    for disposition, value in parts:
        out += (f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n{value}\r\n").encode()
    return out + f"--{BOUNDARY}--\r\n".encode()


@pytest.mark.parametrize("disposition", ['form-data; name="a\rb"', 'form-data; name="x\ny"', "form-data"])
def test_a_form_part_without_a_readable_name_is_422_not_500(make_client, disposition):
    from tests.unit.courses.factories import make_course
    client = make_client("courses")
    assert client.post("/admin/courses/seed", headers=ADMIN_AUTH).status_code == 200
    course_id = make_course(client)["id"]
    body = _multipart((disposition, "true"), ('form-data; name="note"', "x"))
    resp = client.post(f"/api/v1/courses/{course_id}/attendance-sheet", data=body, headers=API_AUTH,
                       content_type=f"multipart/form-data; boundary={BOUNDARY}")
    assert resp.status_code == 422, resp.data[:300]
    payload = resp.get_json()
    assert payload["code"] == 422 and "_schema" in payload["errors"]["form"], payload


def test_a_readable_form_part_still_reaches_the_view(make_client):
    """The check refuses only the nameless part: an upload without a file is the route's own 422 naming `file`."""
    client = make_client("needs")
    body = _multipart(('form-data; name="note"', "x"))
    resp = client.post("/api/v1/civil-servants/import", data=body, headers=API_AUTH,
                       content_type=f"multipart/form-data; boundary={BOUNDARY}")
    assert resp.status_code in (400, 422), resp.data[:300]
    assert "form" not in (resp.get_json().get("errors") or {}), resp.get_json()
