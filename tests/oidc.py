"""The OpenID Connect provider on loopback for the auth tests (issue 14): tools/dev_oidc.py itself (one
implementation of keys, JWKS and tokens), on a free port with its own RSA and EC keys; tokens minted per role, keys
rotated while it runs, the token endpoint answering the realm file's clients and users. Also the set-up the oidc
tests share: the module-scoped `provider` fixture and `oidc_app` (a service's app verifying its tokens)."""
from __future__ import annotations

import pytest
from flask import Flask

from shared.auth import ROLES
from tests.unit.apps import build_app
from tools.dev_oidc import Provider, SigningKey, start


def start_provider() -> Provider:
    """Start the provider on 127.0.0.1 (a free port) with one RSA and one EC key."""
    return start(keys=[SigningKey.new("RS256"), SigningKey.new("ES256")])


@pytest.fixture(scope="module")
def provider():
    """A provider for the module (import this name into a test module to use it)."""
    p = start_provider()
    yield p
    p.close()


def oidc_settings(provider: Provider) -> dict:
    """The settings of a service verifying this provider's tokens."""
    return {"auth_mode": "oidc", "oidc_issuer": provider.issuer, "oidc_jwks_url": provider.jwks_url}


def oidc_app(service: str, database_url: str, provider: Provider, **settings) -> Flask:
    """`service`'s app in AUTH_MODE=oidc on `database_url`, trusting `provider` (build_app's other arguments)."""
    return build_app(service, database_url, **oidc_settings(provider), **settings)


# The former units Xã Biển Bạch took over on 2025-07-01 (NQ 1655/NQ-UBTVQH15), as needs' sample tree names them.
MERGED_INTO_BIENBACH = frozenset({"TB-X-BIENBACH", "TB-X-BIENBACHDONG", "TB-X-TANBANG"})


def seeded_needs(backend, provider: Provider, clock, people: int = 24):
    """Yield a test client of needs in AUTH_MODE=oidc on `backend`'s migrated database, on `clock`, its sample
    units and `people` synthetic civil servants seeded by the operator (the scoping tests' registry); a fixture
    body: `yield from seeded_needs(...)`."""
    app = oidc_app("needs", backend.migrated("needs"), provider, migrate=False, clock=clock)
    client = app.test_client()
    assert client.post("/admin/needs/seed", json={"civil_servants": people},
                       headers=provider.auth("operator")).status_code == 200
    try:
        yield client
    finally:
        app.extensions["service"].engine.dispose()


def static_and_oidc(service: str, backend, provider: Provider):
    """Yield two test clients of `service` on one migrated database: the first in the static development mode (to
    set things up with API_AUTH), the second in AUTH_MODE=oidc trusting `provider` (the calls under test); a
    fixture body: `yield from static_and_oidc(...)`."""
    url = backend.migrated(service)
    static = build_app(service, url, migrate=False)
    oidc = oidc_app(service, url, provider, migrate=False)
    try:
        yield static.test_client(), oidc.test_client()
    finally:
        for app in (static, oidc):
            app.extensions["service"].engine.dispose()


__all__ = ["Provider", "SigningKey", "start_provider", "provider", "oidc_settings", "oidc_app", "ROLES",
           "MERGED_INTO_BIENBACH", "seeded_needs", "static_and_oidc"]
