"""Who may call what (issue 14), generated from the four OpenAPI documents: every operation × every role, in
process on each service's app in AUTH_MODE=oidc with tokens from a real provider stand-in on loopback
(tests/oidc.py). A role the operation declares (its `x-roles`, also its `security` oidc scopes) is never 403; a
role it does not declare is 403 in the JSON error shape; no token is 401. Bodies and ids are made up: what matters
is 403 or not. The routes without roles are an explicit list: a new route must declare roles or be added there."""
from __future__ import annotations

import re
import uuid

import pytest

from shared.auth import ROLES
from shared.config import SERVICES
from tests.oidc import start_provider
from tests.unit.apps import build_app, sqlite_url

METHODS = ("get", "post", "put", "patch", "delete")

# Open on purpose: probes, reference lists and aggregate reports without personal data, and the trainee's own
# links (the token in the path is the credential).
OPEN = {
    "needs": {"/health/live", "/health/ready", "/api/v1/units", "/api/v1/units/{code}", "/api/v1/positions",
              "/api/v1/ethnic-groups", "/api/v1/frameworks", "/api/v1/frameworks/{framework_id}",
              "/api/v1/campaigns", "/api/v1/campaigns/{campaign_id}", "/api/v1/plans", "/api/v1/rules",
              "/api/v1/rules/{kind}", "/api/v1/reports/needs", "/api/v1/reports/needs/chart",
              "/api/v1/reports/plan-coverage", "/api/v1/reports/plan-coverage/chart"},
    "courses": {"/health/live", "/health/ready", "/api/v1/topics", "/api/v1/lecturers",
                "/api/v1/lecturers/{lecturer_id}", "/api/v1/venues", "/api/v1/rules", "/api/v1/rules/{kind}",
                "/api/v1/courses", "/api/v1/courses/{course_id}", "/api/v1/calendar/{of}/{ref}",
                "/api/v1/checkin/{token}"},
    "evaluation": {"/health/live", "/health/ready", "/api/v1/courses/{course_id}/feedback-summary",
                   "/api/v1/feedback/{token}", "/api/v1/courses/{course_id}/followup-summary",
                   "/api/v1/unit-indicators", "/api/v1/courses/{course_id}/unit-indicators", "/api/v1/rules",
                   "/api/v1/rules/{kind}", "/api/v1/question-bank", "/api/v1/form-templates",
                   "/api/v1/reports/courses/{course_id}", "/api/v1/reports/courses", "/api/v1/reports/topics",
                   "/api/v1/reports/years", "/api/v1/reports/lecturers", "/api/v1/reports/communes",
                   "/api/v1/reports/courses/{course_id}/charts/criteria",
                   "/api/v1/reports/courses/{course_id}/charts/gain", "/api/v1/reports/charts/response-rates",
                   "/api/v1/reports/charts/topics"},
    "funding": {"/health/live", "/health/ready", "/api/v1/budget-lines", "/api/v1/budget-lines/{budget_line_id}",
                "/api/v1/rules", "/api/v1/rules/cost-norms", "/api/v1/ledger", "/api/v1/ledger/trial-balance",
                "/api/v1/reports/spending", "/api/v1/reports/plan-vs-actual", "/api/v1/reports/burn"},
}


@pytest.fixture(scope="module")
def provider():
    p = start_provider()
    yield p
    p.close()


@pytest.fixture(scope="module")
def apps(provider, tmp_path_factory):
    built = {}
    for service in SERVICES:
        path = tmp_path_factory.mktemp(f"matrix-{service}") / f"{service}.db"
        built[service] = build_app(service, sqlite_url(path), auth_mode="oidc", oidc_issuer=provider.issuer,
                                   oidc_jwks_url=provider.jwks_url)
    yield built
    for app in built.values():
        app.extensions["service"].engine.dispose()


def operations(app) -> list[tuple[str, str, dict]]:
    spec = app.test_client().get("/openapi.json").get_json()
    return [(method, path, op) for path, ops in spec["paths"].items() for method, op in ops.items()
            if method in METHODS]


def _call(client, method: str, path: str, headers: dict):
    url = re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)
    kwargs = {"json": {}} if method in ("post", "put", "patch") else {}
    return getattr(client, method)(url, headers=headers, **kwargs)


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_declares_roles_or_is_listed_open(apps, service):
    undeclared = {path for method, path, op in operations(apps[service]) if "x-roles" not in op}
    assert undeclared == OPEN[service], "declare roles with shared.auth.requires, or list the route as open"
    for method, path, op in operations(apps[service]):
        if "x-roles" in op:
            assert set(op["x-roles"]) <= set(ROLES), (method, path)
            assert op["security"] == [{"oidc": op["x-roles"]}], (method, path)


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_answers_each_role_as_it_declares(apps, provider, service):
    client = apps[service].test_client()
    # a lecturer's token names its lecturer record (lecturer_id: without it the lecturer's operations are 403,
    # tests/security/test_lecturer_scope.py); a commune officer's, its commune
    tokens = {role: provider.auth(role, audience=service, unit_code="CM-BIENBACH", lecturer_id=str(uuid.uuid4()))
              for role in ROLES}
    wrong, checked = [], 0
    for method, path, op in operations(apps[service]):
        declared = op.get("x-roles")
        if declared is None:
            resp = _call(client, method, path, {})
            if resp.status_code in (401, 403):
                wrong.append(f"{method.upper()} {path}: open route answered {resp.status_code}")
            continue
        resp = _call(client, method, path, {})
        if resp.status_code != 401 or resp.get_json().get("code") != 401:
            wrong.append(f"{method.upper()} {path} without a token: {resp.status_code}")
        for role in ROLES:
            resp = _call(client, method, path, tokens[role])
            checked += 1
            if role in declared and resp.status_code in (401, 403):
                wrong.append(f"{method.upper()} {path} as {role} (declared): {resp.status_code}")
            elif role not in declared and (resp.status_code != 403 or resp.get_json().get("status") != "Forbidden"):
                wrong.append(f"{method.upper()} {path} as {role} (not declared): {resp.status_code}")
    assert checked > 6 * 10
    assert not wrong, "\n".join(wrong)


def test_a_token_for_another_service_is_refused_everywhere_else(apps, provider):
    """One audience per service: a needs token does not open courses."""
    headers = provider.auth("training-officer", audience="needs")
    assert apps["needs"].test_client().get("/api/v1/civil-servants", headers=headers).status_code == 200
    assert apps["courses"].test_client().get("/api/v1/trainees", headers=headers).status_code == 401
