"""The operations console in AUTH_MODE=oidc (issue 14): its login takes an operator's bearer JWT from the provider
(tests/oidc.py on loopback), never the static ADMIN_TOKEN, nor a token without the operator role."""
from __future__ import annotations

import pytest

from tests.oidc import oidc_app, provider  # noqa: F401 - a fixture
from tests.unit.apps import ADMIN_TOKEN, sqlite_url


@pytest.fixture
def client(provider, tmp_path):
    app = oidc_app("funding", sqlite_url(tmp_path / "f.db"), provider)
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


def test_the_trace_page_asks_the_other_services_with_the_operators_token(client, provider, tmp_path):
    """A peer in oidc mode answers the console's question with the operator's own token (a real HTTP server on
    loopback); a token without the peer's audience leaves that peer unanswered."""
    import threading

    from werkzeug.serving import make_server

    peer = oidc_app("evaluation", sqlite_url(tmp_path / "e.db"), provider)
    server = make_server("127.0.0.1", 0, peer, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client.application.config["CONSOLE_PEERS"] = {"funding": "http://127.0.0.1:1",
                                                  "evaluation": f"http://127.0.0.1:{server.server_port}"}
    try:
        for audience, answered in ((["funding", "evaluation"], True), ("funding", False)):
            login = client.post("/admin/console/login", data={
                "actor": "An", "token": provider.token("operator", audience=audience)})
            assert login.status_code == 303
            page = client.get("/admin/console/trace?correlation_id=cid-1").get_data(as_text=True)
            assert ("HTTPError" not in page) is answered, page[-2000:]
    finally:
        server.shutdown()
        peer.extensions["service"].engine.dispose()
