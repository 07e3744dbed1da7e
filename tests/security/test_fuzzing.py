"""The standing guard of issue 12: schemathesis fuzzes every operation of the four OpenAPI documents (positive and
negative cases, bounded and derandomised so it fits CI: see tests/security/fuzzing.py) against apps seeded with
reference data, and asserts no 5xx and responses that conform to their documented schemas. A second test seeds
canary personal data (a full name, a birth year, an ethnicity, a trainee's feedback token), fuzzes with those
values pushed into the requests, and searches every log line (pytest's capture of the records and the services'
JSON log lines) for them: none may appear."""
from __future__ import annotations

import io
import json
import logging
import os
import re

import pytest

from shared.config import SERVICES
from shared.logs import JsonFormatter
from tests.events import make_civil_servant_registered
from tests.security.fuzzing import fuzz
from tests.unit.apps import ADMIN_AUTH, API_AUTH, deliver

# Per operation and generation mode (positive, negative); FUZZ_EXAMPLES=50 for a deeper run by hand.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))

# "METHOD /path" → why it is not fuzzed. Every entry is a reported gap, not a way to silence a failure.
EXCLUDED: dict[str, dict[str, str]] = {service: {} for service in SERVICES}

SEED_PEOPLE_CAP = 40  # needs' seed route takes up to 100,000 synthetic people: fuzzed, but with few


def _bound_seed(case) -> None:
    if case.path == "/admin/needs/seed" and isinstance(case.body, dict):
        count = case.body.get("civil_servants")
        if isinstance(count, int) and not isinstance(count, bool) and count > SEED_PEOPLE_CAP:
            case.body = {**case.body, "civil_servants": SEED_PEOPLE_CAP}


def _ids(client, path: str, key: str = "id", auth=API_AUTH) -> list:
    """The `key` of the first items a list route answers (a list, or {items: […]})."""
    resp = client.get(path, headers=auth)
    assert resp.status_code == 200, (path, resp.data[:300])
    body = resp.get_json()
    items = body if isinstance(body, list) else next((v for v in body.values() if isinstance(v, list)), [])
    return [item[key] for item in items[:3] if isinstance(item, dict) and item.get(key) is not None]


def _seed_needs(client, canary: dict | None = None) -> dict:
    """Units, positions, the framework, rules, 20 people and a filled-in 2026 campaign; the canary person."""
    resp = client.post("/admin/needs/seed", json={"civil_servants": 20, "survey_year": 2026}, headers=ADMIN_AUTH)
    assert resp.status_code == 200, resp.data
    known = {"campaign_id": [resp.get_json()["survey"]["campaign_id"]],
             "cs_id": _ids(client, "/api/v1/civil-servants"),
             "framework_id": _ids(client, "/api/v1/frameworks"),
             "code": ["CM-THOIBINH", "VHXH"]}
    if canary:
        from tests.unit.needs.factories import person
        body = person(full_name=canary["full_name"], birth_year=canary["birth_year"],
                      ethnicity=canary["ethnicity"])
        resp = client.post("/api/v1/civil-servants", json=body, headers=API_AUTH)
        assert resp.status_code == 201, resp.data
        known["civil_servant"] = resp.get_json()
        known["cs_id"].insert(0, known["civil_servant"]["id"])
    return known


def _seed_courses(client, canary: dict | None = None) -> dict:
    """Reference rows, a confirmed course with three enrolled trainees and a draft course."""
    from tests.unit.courses.factories import confirmed_course, make_course, make_trainees
    assert client.post("/admin/courses/seed", headers=ADMIN_AUTH).status_code == 200
    make_trainees(client, 12)  # the commune keeps 70 % of its people at work
    course, trainees = confirmed_course(client, 3)
    draft = make_course(client)
    return {"course_id": [course["id"], draft["id"]], "civil_servant_id": trainees,
            "session_id": [s["id"] for s in course.get("sessions", [])[:2]],
            "lecturer_id": _ids(client, "/api/v1/lecturers"), "venue_id": _ids(client, "/api/v1/venues")}


def _seed_evaluation(client, canary: dict | None = None) -> dict:
    """A completed course with three trainees (two with test scores): its feedback requests and links."""
    from tests.unit.evaluation.factories import open_course, trainee
    course_id, requests = open_course(client, [trainee(pre=5, post=8), trainee(pre=6, post=7), trainee()])
    return {"course_id": [course_id], "requests": requests, "token": [_feedback_token(requests)]}


def _seed_funding(client, canary: dict | None = None) -> dict:
    """The sample cost norms and budget lines of 2026."""
    resp = client.post("/admin/funding/seed", json={"fiscal_year": 2026}, headers=ADMIN_AUTH)
    assert resp.status_code == 200, resp.data
    return {"budget_line_id": _ids(client, "/api/v1/budget-lines")}


SEEDS = {"needs": _seed_needs, "courses": _seed_courses, "evaluation": _seed_evaluation, "funding": _seed_funding}


@pytest.mark.parametrize("service", SERVICES)
def test_fuzzing_finds_no_server_error_and_no_undocumented_response(make_client, service, capsys):
    client = make_client(service)
    known = SEEDS[service](client)
    report = fuzz(client.application, service, max_examples=EXAMPLES, excluded=EXCLUDED[service],
                  on_case=_bound_seed, known=known)
    with capsys.disabled():
        print("\n" + report.summary())
    assert report.operations, f"{service}: no operation found in /openapi.json"
    assert not report.failures, f"{report.summary()}\n{report.describe_failures()}"


# --- canaries: personal data never reaches a log line ----------------------------------------------------------

CANARY = {"full_name": "Quàng Thị Canarixa", "birth_year": 1963, "ethnicity": "Chứt"}


def _feedback_token(requests: list[dict]) -> str:
    for request in requests:
        for key in ("token", "link", "url", "feedback_url"):
            value = request.get(key)
            if isinstance(value, str) and value:
                return value.rstrip("/").rsplit("/", 1)[-1]
    raise AssertionError(f"no feedback token in {requests[:1]!r}")


def _canary_pusher(values: dict):
    """Put the canaries into generated requests: every string of a JSON body becomes the name (the birth year and
    the ethnicity where their fields are), and every `token` path parameter the trainee's token."""

    def push(case) -> None:
        _bound_seed(case)
        if isinstance(case.body, dict):
            body = {}
            for key, value in case.body.items():
                if key == "birth_year":
                    value = values["birth_year"]
                elif key == "ethnicity":
                    value = values["ethnicity"]
                elif isinstance(value, str):
                    value = values["full_name"]
                body[key] = value
            case.body = body
        if case.path_parameters and "token" in case.path_parameters:
            case.path_parameters = {**case.path_parameters, "token": values["token"]}
        if case.query:
            case.query = {k: (values["full_name"] if isinstance(v, str) and k in ("q", "search", "name") else v)
                          for k, v in case.query.items()}

    return push


def _scripted_calls(clients: dict, values: dict, seeded: dict) -> None:
    """The canaries through the routes that carry them, valid and invalid."""
    needs, evaluation = clients["needs"], clients["evaluation"]
    cs = seeded["needs"]["civil_servant"]
    for query in ({"q": values["full_name"]}, {"format": "csv"}, {"format": "xlsx"}):
        needs.get("/api/v1/civil-servants", query_string=query, headers=API_AUTH)
    needs.get(f"/api/v1/civil-servants/{cs['id']}", headers=API_AUTH)
    needs.patch(f"/api/v1/civil-servants/{cs['id']}", json={"full_name": values["full_name"] + "\x0b"},
                headers=API_AUTH)
    needs.patch(f"/api/v1/civil-servants/{cs['id']}", json={"birth_year": str(values["birth_year"]) * 40},
                headers=API_AUTH)
    needs.post("/api/v1/civil-servants", json={"full_name": values["full_name"], "birth_year": values["birth_year"],
                                               "ethnicity": values["ethnicity"] + "x"}, headers=API_AUTH)
    needs.post("/api/v1/civil-servants", json={"full_name": values["full_name"], "ethnicity": values["ethnicity"]},
               headers={"Authorization": "Bearer " + values["token"]})
    token = values["token"]
    evaluation.get(f"/api/v1/feedback/{token}")
    evaluation.post(f"/api/v1/feedback/{token}", json={"comment": values["full_name"], "answers": "x"})
    evaluation.post(f"/api/v1/feedback/{token}", data=b"{not json " + token.encode(),
                    headers={"Content-Type": "application/json"})
    evaluation.get(f"/api/v1/feedback/{token}x")


def _occurrences(text: str, values: dict) -> list[str]:
    found = []
    for name in ("full_name", "ethnicity", "token"):
        if values[name] in text:
            found.append(name)
    # The year as a value of its own: not inside a random id (a uuid's hex group may start with 1963), a time or
    # a duration.
    if re.search(rf"(?<![\w.:-]){values['birth_year']}(?![\w.])", text):
        found.append("birth_year")
    return found


def test_no_canary_personal_data_reaches_any_log_line(make_client, caplog, capsys):
    clients = {service: make_client(service) for service in ("needs", "evaluation")}
    # create_app configured the services' JSON logging (replacing the root handlers): listen again, to everything
    stream = io.StringIO()
    json_handler = logging.StreamHandler(stream)
    json_handler.setFormatter(JsonFormatter("canary"))
    root = logging.getLogger()
    root.addHandler(json_handler)
    root.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG)
    root.setLevel(logging.DEBUG)
    try:
        seeded = {service: SEEDS[service](client, CANARY) for service, client in clients.items()}
        values = {**CANARY, "token": seeded["evaluation"]["token"][0]}
        _scripted_calls(clients, values, seeded)
        cases = 0
        for service, client in clients.items():
            report = fuzz(client.application, service, max_examples=3, excluded=EXCLUDED[service],
                          on_case=_canary_pusher(values), known=seeded[service])
            cases += report.cases
    finally:
        root.removeHandler(json_handler)
        root.removeHandler(caplog.handler)

    lines = stream.getvalue().splitlines()
    records = list(caplog.records)
    assert len(lines) > cases / 2 and records, "the request log lines were not captured"
    for line in lines:
        json.loads(line)  # every line is one JSON object
    texts = [("json log", line) for line in lines]
    texts += [("record", f"{r.name} {r.levelname} {r.getMessage()} "
                         f"{ {k: v for k, v in vars(r).items() if k not in JsonFormatter.RESERVED}!r}")
              for r in records]
    texts += [("stderr", line) for line in capsys.readouterr().err.splitlines()]
    leaks = [(where, found, text[:300]) for where, text in texts if (found := _occurrences(text, values))]
    with capsys.disabled():
        print(f"\ncanaries: {cases} fuzzed cases + the scripted calls, {len(lines)} JSON log lines, "
              f"{len(records)} records searched, {len(leaks)} leaks")
    assert not leaks, "personal data in the logs:\n" + "\n".join(map(repr, leaks[:20]))
