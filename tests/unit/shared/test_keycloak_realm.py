"""deploy/keycloak/thoibinh-realm.json (issue 14) agrees with shared/auth.py: the six roles, a client per service
(each token's `aud`), a client for other programs, the unit_code and lecturer_id claims (attributes only an
administrator sets), a sample user per role, no real secret."""
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
    assert [(m["config"]["user.attribute"], m["config"]["claim.name"], m["config"]["access.token.claim"])
            for m in mappers] == [("unit_code", "unit_code", "true"), ("lecturer_id", "lecturer_id", "true")]


def test_the_claimed_attributes_are_declared_and_only_an_administrator_may_change_them():
    # a user who could edit their own unit_code or lecturer_id would choose whose data they reach
    provider = REALM["components"]["org.keycloak.userprofile.UserProfileProvider"][0]
    profile = json.loads(provider["config"]["kc.user.profile.config"][0])
    declared = {a["name"]: a for a in profile["attributes"]}
    for name in ("unit_code", "lecturer_id"):
        assert declared[name]["permissions"] == {"view": ["admin"], "edit": ["admin"]}, name
    assert profile["unmanagedAttributePolicy"] in ("ADMIN_EDIT", "ADMIN_VIEW")


def test_a_sample_user_per_role_commune_officers_with_a_unit_and_no_password_kept():
    people = [u for u in REALM["users"] if "serviceAccountClientId" not in u]
    assert {r for u in people for r in u["realmRoles"]} == set(ROLES)
    for user in people:
        assert all(c["temporary"] and c["value"] == "CHANGE-ME" for c in user["credentials"]), user["username"]
        if "commune-officer" in user["realmRoles"]:
            assert user["attributes"]["unit_code"], user["username"]
    assert all(c.get("secret", "CHANGE-ME") == "CHANGE-ME" for c in REALM["clients"])


def test_only_the_admin_client_s_service_account_may_manage_users_and_it_reaches_no_service():
    # realm-admin-cli links accounts (lecturer_id, unit_code) through the Admin REST API, as Keycloak expresses it:
    # a confidential client with a service account holding realm-management's manage-users, no user login
    admin = _client("realm-admin-cli")
    assert (admin["publicClient"], admin["serviceAccountsEnabled"], admin["standardFlowEnabled"],
            admin["directAccessGrantsEnabled"]) == (False, True, False, False)
    assert not _audiences(admin)  # its token is for realm-management, never a service's
    holders = {u["username"]: u["clientRoles"] for u in REALM["users"] if u.get("clientRoles")}
    assert holders == {"service-account-realm-admin-cli": {"realm-management": ["manage-users"]}}
    account = next(u for u in REALM["users"] if u["username"] == "service-account-realm-admin-cli")
    assert account["serviceAccountClientId"] == "realm-admin-cli" and not account.get("realmRoles")
