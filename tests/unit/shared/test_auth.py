"""Bearer JWTs from an OpenID Connect provider (issue 14, shared/auth.py): a real provider stand-in on loopback
(tests/oidc.py: its own RSA and EC keys, discovery document and JWKS over HTTP), the needs app in AUTH_MODE=oidc."""
from __future__ import annotations

import base64
import json
import logging
import socket
import time

import jwt
import pytest

from shared.auth import Authenticator, OidcVerifier, Principal, TokenRefused, principal_of
from tests.oidc import SigningKey, start_provider
from tests.unit.apps import API_AUTH, build_app, sqlite_url

COOLDOWN = 0.3  # seconds between JWKS fetches for unknown kids (10 by default)
READ = "/api/v1/civil-servants"  # a read of personal data: training-officer, commune-officer, inspector


@pytest.fixture(scope="module")
def provider():
    p = start_provider()
    yield p
    p.close()


@pytest.fixture(scope="module")
def needs(provider, tmp_path_factory):
    """needs in oidc mode, given only the issuer: the JWKS address comes from the discovery document."""
    path = tmp_path_factory.mktemp("auth") / "needs.db"
    app = build_app("needs", sqlite_url(path), auth_mode="oidc", oidc_issuer=provider.issuer,
                    oidc_jwks_cooldown_seconds=COOLDOWN)
    yield app.test_client()
    app.extensions["service"].engine.dispose()


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _refused(resp) -> dict:
    assert resp.status_code == 401, (resp.status_code, resp.get_data(as_text=True)[:300])
    body = resp.get_json()
    assert body["code"] == 401 and body["status"] == "Unauthorized" and body["message"]
    return body


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_a_valid_token_of_either_algorithm_is_accepted(provider, needs, alg):
    key = next(k for k in provider.keys if k.alg == alg)
    resp = needs.get(READ, headers=bearer(provider.token("training-officer", key=key)))
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]


def test_an_audience_list_holding_the_service_is_accepted(provider, needs):
    token = provider.token("inspector", audience=["account", "needs"])
    assert needs.get(READ, headers=bearer(token)).status_code == 200


def test_a_program_with_client_credentials_acts_in_the_role_its_scope_names(provider, needs):
    token = provider.token(scope="openid inspector", subject="service-account-reports")
    assert needs.get(READ, headers=bearer(token)).status_code == 200
    assert needs.get(READ, headers=bearer(provider.token(scope="openid"))).status_code == 403


@pytest.mark.parametrize("case", ["expired", "not-yet-valid", "wrong-issuer", "wrong-audience", "unknown-kid",
                                  "alg-none", "hs256-with-public-key", "tampered-payload", "tampered-signature",
                                  "no-subject", "no-expiry", "not-a-jwt", "static-api-token", "es256-naming-an-rsa-kid",
                                  "kid-not-a-string"])
def test_a_bad_token_is_401(provider, needs, case):
    rs = provider.keys[0]
    good = provider.token("training-officer")
    header, payload, signature = good.split(".")
    if case == "expired":
        token = provider.token("training-officer", lifetime=-120)  # beyond the 30 s leeway
    elif case == "not-yet-valid":
        token = provider.token("training-officer", not_before=600)
    elif case == "wrong-issuer":
        token = provider.token("training-officer", issuer="http://127.0.0.1:1/realms/other")
    elif case == "wrong-audience":
        token = provider.token("training-officer", audience="courses")
    elif case == "unknown-kid":
        token = provider.token("training-officer", key=SigningKey.new("RS256"))
    elif case == "alg-none":
        claims = jwt.decode(good, options={"verify_signature": False})
        token = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': rs.kid})}.{_b64(claims)}."
    elif case == "hs256-with-public-key":  # the classic key-confusion attack: the public key as an HMAC secret
        from cryptography.hazmat.primitives import serialization
        pem = rs.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
        claims = jwt.decode(good, options={"verify_signature": False})
        token = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': rs.kid})}.{_b64(claims)}"
        import hashlib
        import hmac
        sig = hmac.new(pem, token.encode(), hashlib.sha256).digest()
        token += "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()
    elif case == "tampered-payload":
        claims = jwt.decode(good, options={"verify_signature": False})
        claims["realm_access"] = {"roles": ["operator", "training-officer"]}
        token = f"{header}.{_b64(claims)}.{signature}"
    elif case == "tampered-signature":
        flipped = ("A" if signature[10] != "A" else "B")
        token = f"{header}.{payload}.{signature[:10]}{flipped}{signature[11:]}"
    elif case == "no-subject":
        claims = jwt.decode(good, options={"verify_signature": False})
        del claims["sub"]
        token = jwt.encode(claims, rs.private, algorithm="RS256", headers={"kid": rs.kid})
    elif case == "no-expiry":
        claims = jwt.decode(good, options={"verify_signature": False})
        del claims["exp"]
        token = jwt.encode(claims, rs.private, algorithm="RS256", headers={"kid": rs.kid})
    elif case == "es256-naming-an-rsa-kid":  # signed with an EC key, but naming the published RSA key
        ec_key = SigningKey.new("ES256")
        token = provider.token("training-officer", key=SigningKey(rs.kid, "ES256", ec_key.private))
    elif case == "kid-not-a-string":
        token = f"{_b64({'alg': 'RS256', 'typ': 'JWT', 'kid': 7})}.{payload}.{signature}"
    elif case == "not-a-jwt":
        token = "definitely-not-a-jwt"
    else:
        token = API_AUTH["Authorization"].split(" ", 1)[1]  # the development token means nothing in oidc mode
    _refused(needs.get(READ, headers=bearer(token)))


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic abc", "bearer\u00a0x"])
def test_no_bearer_token_is_401(needs, header):
    _refused(needs.get(READ, headers={} if header is None else {"Authorization": header}))


def test_a_role_the_operation_does_not_declare_is_403_in_the_json_shape(provider, needs):
    resp = needs.get(READ, headers=provider.auth("lecturer"))
    assert resp.status_code == 403
    body = resp.get_json()
    assert body["code"] == 403 and body["status"] == "Forbidden" and "Vai trò" in body["message"]
    assert needs.get("/admin/outbox", headers=provider.auth("training-officer")).status_code == 403
    assert needs.get("/admin/outbox", headers=provider.auth("operator")).status_code == 200


def test_a_refused_token_never_reaches_the_logs(provider, needs, caplog):
    token = provider.token("training-officer", lifetime=-120)
    with caplog.at_level(logging.DEBUG):
        _refused(needs.get(READ, headers=bearer(token)))
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "token refused" in text and "ExpiredSignatureError" in text
    assert token not in text and token.split(".")[2] not in text


def test_keys_rotate_while_the_service_runs(provider, needs):
    """The provider replaces its keys: a token with the new kid is accepted without a restart (the JWKS is
    fetched again for the unknown kid); the previous keys come back for the other tests."""
    assert needs.get(READ, headers=provider.auth("training-officer")).status_code == 200
    time.sleep(COOLDOWN)  # the unknown-kid cases above fetched the keys a moment ago
    before, old = provider.fetches, list(provider.keys)
    try:
        new = provider.rotate("ES256")
        resp = needs.get(READ, headers=bearer(provider.token("training-officer", key=new)))
        assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
        assert provider.fetches == before + 1
        assert needs.get(READ, headers=bearer(provider.token("inspector", key=new))).status_code == 200
        assert provider.fetches == before + 1, "a known kid is served from the cache"
    finally:
        provider.keys[:] = old + [new]


def test_an_unreachable_provider_is_503_naming_it(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    app = build_app("needs", sqlite_url(tmp_path / "n.db"), auth_mode="oidc", oidc_issuer=f"http://127.0.0.1:{port}/r")
    signer = SigningKey.new()
    token = jwt.encode({"sub": "x", "exp": 2**31}, signer.private, algorithm="RS256", headers={"kid": signer.kid})
    resp = app.test_client().get(READ, headers=bearer(token))
    assert resp.status_code == 503 and resp.get_json()["dependency"] == "identity_provider"
    app.extensions["service"].engine.dispose()


def test_principal_of_reads_keycloaks_claims():
    p = principal_of({"sub": "u1", "realm_access": {"roles": ["commune-officer", 3]}, "unit_code": "X-BIENBACH",
                      "scope": "openid profile"})
    assert p == Principal("u1", frozenset({"commune-officer"}), "X-BIENBACH", frozenset({"openid", "profile"}))
    assert principal_of({"sub": "u2", "realm_access": "x", "unit_code": ""}).roles == frozenset()


def test_static_mode_is_the_development_tokens_only():
    a = Authenticator("static", api_token="api", admin_token="adm")
    assert a.authenticate("Bearer api").roles == {"training-officer", "finance-officer", "inspector"}
    assert a.authenticate("Bearer adm").roles == {"operator"}
    for header in ("Bearer nope", "Bearer apí", "api", ""):
        with pytest.raises(TokenRefused):
            a.authenticate(header)
    with pytest.raises(ValueError):
        Authenticator("none")
    with pytest.raises(ValueError):
        OidcVerifier("", "needs")
