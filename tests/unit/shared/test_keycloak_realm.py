"""deploy/keycloak/thoibinh-realm.json (issue 14) agrees with shared/auth.py: the six roles, a client per service
(each token's `aud`), a client for other programs, the unit_code claim, a sample user per role, no real secret."""
from __future__ import annotations

import json

from shared.auth import ROLES
from shared.config import PROJECT_ROOT, SERVICES

REALM = json.loads((PROJECT_ROOT / "deploy" / "keycloak" / "thoibinh-realm.json").read_text(encoding="utf-8"))


def _client(client_id: str) -> dict:
    return next(c for c in REALM["clients"] if c["clientId"] == client_id)


def _audiences(client: dict) -> set[str]:
    return {m["config"]["included.client.audience"] for m in client.get("protocolMappers", [])
            if m["protocolMapper"] == "oidc-audience-mapper"}


def test_the_realm_defines_exactly_the_roles_the_services_check():
    assert sorted(r["name"] for r in REALM["roles"]["realm"]) == sorted(ROLES)


def test_a_client_per_service_and_the_user_and_program_clients_reach_every_service():
    assert {c["clientId"] for c in REALM["clients"]} >= set(SERVICES) | {"programs", "officer-portal"}
    assert _audiences(_client("officer-portal")) == set(SERVICES)
    assert _audiences(_client("programs")) == set(SERVICES) and _client("programs")["serviceAccountsEnabled"]
    assert _audiences(_client("needs")) == set(SERVICES) - {"needs"}  # the data-subject report asks the others
    mappers = [m for m in _client("officer-portal")["protocolMappers"]
               if m["protocolMapper"] == "oidc-usermodel-attribute-mapper"]
    assert [m["config"]["claim.name"] for m in mappers] == ["unit_code"]


def test_a_sample_user_per_role_commune_officers_with_a_unit_and_no_password_kept():
    people = [u for u in REALM["users"] if "serviceAccountClientId" not in u]
    assert {r for u in people for r in u["realmRoles"]} == set(ROLES)
    for user in people:
        assert all(c["temporary"] and c["value"] == "CHANGE-ME" for c in user["credentials"]), user["username"]
        if "commune-officer" in user["realmRoles"]:
            assert user["attributes"]["unit_code"], user["username"]
    assert all(c.get("secret", "CHANGE-ME") == "CHANGE-ME" for c in REALM["clients"])
