"""The operations console in AUTH_MODE=oidc (issue 14): its login takes an operator's bearer JWT from the provider
(tests/oidc.py on loopback), never the static ADMIN_TOKEN, nor a token without the operator role."""
from __future__ import annotations

import pytest

from tests.oidc import start_provider
from tests.unit.apps import ADMIN_TOKEN, build_app, sqlite_url


@pytest.fixture(scope="module")
def provider():
    p = start_provider()
    yield p
    p.close()


@pytest.fixture
def client(provider, tmp_path):
    app = build_app("funding", sqlite_url(tmp_path / "f.db"), auth_mode="oidc", oidc_issuer=provider.issuer,
                    oidc_jwks_url=provider.jwks_url)
    yield app.test_client()
    app.extensions["service"].engine.dispose()


def test_the_console_login_takes_an_operators_token_only(client, provider):
    for token in (ADMIN_TOKEN, provider.token("training-officer", audience="funding"),
                  provider.token("operator", audience="needs"), provider.token("operator", audience="funding",
                                                                              lifetime=-120)):
        res = client.post("/admin/console/login", data={"actor": "An", "token": token})
        assert res.status_code == 401 and "Set-Cookie" not in res.headers
    res = client.post("/admin/console/login", data={"actor": "An",
                                                    "token": provider.token("operator", audience="funding")})
    assert res.status_code == 303 and "console_session=" in res.headers["Set-Cookie"]
    assert client.get("/admin/console/").status_code == 200
