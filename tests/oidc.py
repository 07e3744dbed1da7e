"""A real OpenID Connect provider stand-in on loopback for the auth tests (issue 14): its own RSA and EC keys, a
discovery document and a JWKS served over HTTP, tokens minted per role. Keys can be rotated while it runs."""
from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from shared.auth import ROLES


@dataclass
class SigningKey:
    kid: str
    alg: str
    private: object

    @classmethod
    def new(cls, alg: str = "RS256") -> "SigningKey":
        private = (rsa.generate_private_key(public_exponent=65537, key_size=2048) if alg == "RS256"
                   else ec.generate_private_key(ec.SECP256R1()))
        return cls(kid=f"{alg.lower()}-{uuid.uuid4().hex[:12]}", alg=alg, private=private)

    def jwk(self) -> dict:
        algo = jwt.algorithms.RSAAlgorithm if self.alg == "RS256" else jwt.algorithms.ECAlgorithm
        key = json.loads(algo.to_jwk(self.private.public_key()))
        return {**key, "kid": self.kid, "alg": self.alg, "use": "sig"}


@dataclass
class Provider:
    """The running stand-in: `issuer`, `jwks_url`, the keys it publishes (`keys`), `fetches` of its JWKS."""

    server: ThreadingHTTPServer
    keys: list[SigningKey] = field(default_factory=list)
    fetches: int = 0

    @property
    def issuer(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/realms/thoibinh"

    @property
    def jwks_url(self) -> str:
        return self.issuer + "/protocol/openid-connect/certs"

    def rotate(self, alg: str = "RS256") -> SigningKey:
        """Publish a new key in place of every old one (what a provider's key rotation looks like to us)."""
        key = SigningKey.new(alg)
        self.keys[:] = [key]
        return key

    def token(self, *roles: str, audience: str | list[str] = "needs", unit_code: str | None = None,
              key: SigningKey | None = None, issuer: str | None = None, lifetime: int = 300, not_before: int = 0,
              subject: str | None = None, scope: str | None = None, headers: dict | None = None, **claims) -> str:
        """A token signed by `key` (default: the first published key)."""
        key = key or self.keys[0]
        now = int(time.time())
        body = {"iss": issuer or self.issuer, "aud": audience, "sub": subject or f"user-{'-'.join(roles) or 'none'}",
                "iat": now, "exp": now + lifetime, "nbf": now + not_before,
                "realm_access": {"roles": list(roles)}, **claims}
        if unit_code is not None:
            body["unit_code"] = unit_code
        if scope is not None:
            body["scope"] = scope
        return jwt.encode(body, key.private, algorithm=key.alg, headers={"kid": key.kid, **(headers or {})})

    def auth(self, *roles: str, **kwargs) -> dict:
        return {"Authorization": f"Bearer {self.token(*roles, **kwargs)}"}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_provider() -> Provider:
    """Start the stand-in on 127.0.0.1 (a free port) with one RSA and one EC key."""
    provider: Provider

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            if self.path.endswith("/.well-known/openid-configuration"):
                body = {"issuer": provider.issuer, "jwks_uri": provider.jwks_url,
                        "token_endpoint": provider.issuer + "/protocol/openid-connect/token"}
            elif self.path.endswith("/protocol/openid-connect/certs"):
                provider.fetches += 1
                body = {"keys": [k.jwk() for k in provider.keys]}
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    provider = Provider(server, keys=[SigningKey.new("RS256"), SigningKey.new("ES256")])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return provider


__all__ = ["Provider", "SigningKey", "start_provider", "ROLES"]
