"""A small, real OpenID Connect provider for development, the demo and the compose stack (issue 14).

Keycloak cannot be pulled everywhere; this provider reads the same realm file (deploy/keycloak/thoibinh-realm.json:
roles, clients with secrets and audience mappers, users with roles and `unit_code`) and serves Keycloak's URL shape:

    /realms/<realm>/.well-known/openid-configuration
    /realms/<realm>/protocol/openid-connect/certs      (JWKS)
    /realms/<realm>/protocol/openid-connect/token      (client_credentials, password)

Tokens are RS256 JWTs carrying what Keycloak puts there and the services read (shared/auth.py): `iss`, `aud` (the
client's audience mappers), `sub`, `exp`, `iat`, `realm_access.roles`, the user attributes a client's attribute
mappers name (`officer-portal`: `unit_code`, and `lecturer_id` — the lecturer's record in courses — when the user
has it), `scope`, `azp`, `preferred_username`. The signing key is generated at start, or loaded
from / saved to `--key-file` so a restart keeps it (its kid is the key's RFC 7638 thumbprint).

    python -m tools.dev_oidc --realm-file deploy/keycloak/thoibinh-realm.json --host 127.0.0.1 --port 8180

Issuer: http://<host>:<port>/realms/<realm> (or --public-url when the services reach it by another name). The sample
users' passwords are accepted even when the realm marks them temporary (Keycloak would ask for a new one first):
it is a development provider, never for production. The tests' loopback stand-in (tests/oidc.py) is this provider.
"""
from __future__ import annotations

import argparse
import base64
import dataclasses
import hashlib
import hmac
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

DEFAULT_REALM_FILE = Path(__file__).resolve().parent.parent / "deploy" / "keycloak" / "thoibinh-realm.json"
AUDIENCE_MAPPER = "oidc-audience-mapper"
ATTRIBUTE_MAPPER = "oidc-usermodel-attribute-mapper"


@dataclass
class SigningKey:
    """A private signing key, its kid and algorithm (RS256 or ES256)."""

    kid: str
    alg: str
    private: object

    @classmethod
    def new(cls, alg: str = "RS256") -> "SigningKey":
        private = (rsa.generate_private_key(public_exponent=65537, key_size=2048) if alg == "RS256"
                   else ec.generate_private_key(ec.SECP256R1()))
        return cls(kid=f"{alg.lower()}-{uuid.uuid4().hex[:12]}", alg=alg, private=private)

    @classmethod
    def from_pem(cls, pem: bytes) -> "SigningKey":
        private = serialization.load_pem_private_key(pem, password=None)
        alg = "RS256" if isinstance(private, rsa.RSAPrivateKey) else "ES256"
        key = cls(kid="", alg=alg, private=private)
        key.kid = key.thumbprint()
        return key

    @classmethod
    def load_or_create(cls, path: Path) -> "SigningKey":
        """The RSA key kept in `path` (created, mode 0600, when missing): restarts sign with the same key and kid."""
        if path.exists():
            return cls.from_pem(path.read_bytes())
        key = cls.from_pem(cls.new("RS256").pem())
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(key.pem())
        return key

    def pem(self) -> bytes:
        return self.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption())

    def public_jwk(self) -> dict:
        algo = jwt.algorithms.RSAAlgorithm if self.alg == "RS256" else jwt.algorithms.ECAlgorithm
        return json.loads(algo.to_jwk(self.private.public_key()))

    def thumbprint(self) -> str:
        """RFC 7638: SHA-256 of the required public members in lexicographic order, base64url."""
        jwk = self.public_jwk()
        members = ("e", "kty", "n") if jwk["kty"] == "RSA" else ("crv", "kty", "x", "y")
        canonical = json.dumps({k: jwk[k] for k in members}, separators=(",", ":"), sort_keys=True)
        return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()

    def jwk(self) -> dict:
        return {**self.public_jwk(), "kid": self.kid, "alg": self.alg, "use": "sig"}

    def sign(self, claims: dict, headers: dict | None = None) -> str:
        return jwt.encode(claims, self.private, algorithm=self.alg, headers={"kid": self.kid, **(headers or {})})


class OAuthError(Exception):
    """An RFC 6749 §5.2 error answer: `error`, a description, the HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: str | None  # None: a public client (no secret)
    service_accounts: bool
    direct_grants: bool
    audiences: tuple[str, ...]
    user_claims: tuple[tuple[str, str], ...]  # (user attribute, claim name) of its attribute mappers


@dataclass(frozen=True)
class User:
    username: str
    password: str | None
    roles: tuple[str, ...]
    attributes: dict
    service_account_of: str | None = None


@dataclass
class Realm:
    """What the provider needs from a Keycloak realm export."""

    name: str
    lifespan: int
    clients: dict[str, Client]
    users: dict[str, User]

    @classmethod
    def from_export(cls, data: dict) -> "Realm":
        clients = {}
        for c in data.get("clients", []):
            mappers = c.get("protocolMappers", [])
            clients[c["clientId"]] = Client(
                client_id=c["clientId"], secret=None if c.get("publicClient") else c.get("secret", ""),
                service_accounts=bool(c.get("serviceAccountsEnabled")),
                direct_grants=bool(c.get("directAccessGrantsEnabled")),
                audiences=tuple(m["config"]["included.client.audience"] for m in mappers
                                if m.get("protocolMapper") == AUDIENCE_MAPPER),
                user_claims=tuple((m["config"]["user.attribute"], m["config"]["claim.name"]) for m in mappers
                                  if m.get("protocolMapper") == ATTRIBUTE_MAPPER))
        users = {}
        for u in data.get("users", []):
            if not u.get("enabled", True):
                continue
            password = next((c.get("value") for c in u.get("credentials", []) if c.get("type") == "password"), None)
            users[u["username"]] = User(u["username"], password, tuple(u.get("realmRoles", [])),
                                        dict(u.get("attributes", {})), u.get("serviceAccountClientId"))
        return cls(data["realm"], int(data.get("accessTokenLifespan", 300)), clients, users)

    @classmethod
    def load(cls, path: Path) -> "Realm":
        return cls.from_export(json.loads(Path(path).read_text(encoding="utf-8")))

    def set_user_attribute(self, username: str, attribute: str, *values: str) -> None:
        """Set (no values: remove) a user attribute, as Keycloak's administrator does in the console or with
        `kcadm.sh update users/<id>` — e.g. `lecturer_id` once the lecturer is registered in courses. Tokens issued
        afterwards carry it; tokens issued before keep what they had."""
        user = self.users[username]
        attributes = {k: v for k, v in user.attributes.items() if k != attribute}
        if values:
            attributes[attribute] = list(values)
        self.users[username] = dataclasses.replace(user, attributes=attributes)

    def service_account(self, client_id: str) -> User | None:
        return next((u for u in self.users.values() if u.service_account_of == client_id), None)


def _same(given: str | None, expected: str | None) -> bool:
    return given is not None and expected is not None and hmac.compare_digest(given.encode(), expected.encode())


@dataclass
class Provider:
    """A running provider: `issuer`, `jwks_url`, `token_url`, the keys it publishes (`keys`; the first signs),
    `fetches` of its JWKS. Keys can be rotated while it runs (`rotate`)."""

    server: ThreadingHTTPServer
    realm: Realm
    keys: list[SigningKey] = field(default_factory=list)
    public_url: str = ""
    fetches: int = 0

    @property
    def issuer(self) -> str:
        if self.public_url:
            base = self.public_url.rstrip("/")
        else:
            host, port = self.server.server_address[:2]
            base = f"http://{host}:{port}"
        return f"{base}/realms/{self.realm.name}"

    @property
    def jwks_url(self) -> str:
        return self.issuer + "/protocol/openid-connect/certs"

    @property
    def token_url(self) -> str:
        return self.issuer + "/protocol/openid-connect/token"

    def discovery(self) -> dict:
        return {"issuer": self.issuer, "jwks_uri": self.jwks_url, "token_endpoint": self.token_url,
                "grant_types_supported": ["client_credentials", "password"],
                "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
                "id_token_signing_alg_values_supported": ["RS256"], "response_types_supported": ["token"],
                "subject_types_supported": ["public"]}

    def service_env(self) -> dict[str, str]:
        """The services' environment for trusting this provider (AUTH_MODE=oidc; each service's audience is its
        name) and needs' own client credentials from the realm (it asks the others for the data-subject report)."""
        needs = self.realm.clients.get("needs")
        return {"AUTH_MODE": "oidc", "OIDC_ISSUER": self.issuer, "OIDC_JWKS_URL": self.jwks_url,
                "NEEDS_OIDC_CLIENT_ID": "needs", "NEEDS_OIDC_CLIENT_SECRET": (needs.secret if needs else "") or ""}

    def set_user_attribute(self, username: str, attribute: str, *values: str) -> None:
        """Realm.set_user_attribute on the realm it serves."""
        self.realm.set_user_attribute(username, attribute, *values)

    def rotate(self, alg: str = "RS256") -> SigningKey:
        """Publish a new key in place of every old one (what a provider's key rotation looks like to us)."""
        key = SigningKey.new(alg)
        self.keys[:] = [key]
        return key

    def token(self, *roles: str, audience: str | list[str] = "needs", unit_code: str | None = None,
              key: SigningKey | None = None, issuer: str | None = None, lifetime: int | None = None,
              not_before: int = 0, subject: str | None = None, scope: str | None = None,
              headers: dict | None = None, **claims) -> str:
        """A token with these roles, signed by `key` (default: the first published key)."""
        now = int(time.time())
        body = {"iss": issuer or self.issuer, "aud": audience, "sub": subject or f"user-{'-'.join(roles) or 'none'}",
                "iat": now, "exp": now + (self.realm.lifespan if lifetime is None else lifetime),
                "nbf": now + not_before, "jti": uuid.uuid4().hex, "typ": "Bearer",
                "realm_access": {"roles": list(roles)}, **claims}
        if unit_code is not None:
            body["unit_code"] = unit_code
        if scope is not None:
            body["scope"] = scope
        return (key or self.keys[0]).sign(body, headers)

    def auth(self, *roles: str, **kwargs) -> dict:
        return {"Authorization": f"Bearer {self.token(*roles, **kwargs)}"}

    # -- the token endpoint ------------------------------------------------------------------------------------
    def grant(self, form: dict[str, str], basic: tuple[str, str] | None) -> dict:
        """Answer a token request (RFC 6749 §4.3 password, §4.4 client credentials) or raise OAuthError."""
        client_id, secret = basic if basic else (form.get("client_id"), form.get("client_secret"))
        client = self.realm.clients.get(client_id or "")
        if client is None or (client.secret is not None and not _same(secret, client.secret)):
            raise OAuthError("invalid_client", "Invalid client or Invalid client credentials", 401)
        grant_type = form.get("grant_type")
        if grant_type == "client_credentials":
            account = self.realm.service_account(client.client_id)
            if client.secret is None or not client.service_accounts or account is None:
                raise OAuthError("unauthorized_client", "Client not enabled to retrieve service account")
            user, subject = account, f"service-account-{client.client_id}"
        elif grant_type == "password":
            if not client.direct_grants:
                raise OAuthError("unauthorized_client", "Client not allowed for direct access grants")
            user = self.realm.users.get(form.get("username") or "")
            if user is None or user.service_account_of or not _same(form.get("password"), user.password):
                raise OAuthError("invalid_grant", "Invalid user credentials")
            subject = user.username
        else:
            raise OAuthError("unsupported_grant_type", "Unsupported grant_type")
        requested = (form.get("scope") or "").split()
        scope = " ".join(["openid"] * ("openid" in requested) + ["profile", "email"])
        claims = {"azp": client.client_id, "preferred_username": user.username}
        for attribute, claim in client.user_claims:
            values = user.attributes.get(attribute)
            if values:
                claims[claim] = values[0] if isinstance(values, list) else values
        audience = list(client.audiences)
        token = self.token(*user.roles, audience=audience[0] if len(audience) == 1 else audience, subject=subject,
                           scope=scope, **claims)
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.realm.lifespan,
                "refresh_expires_in": 0, "not-before-policy": 0, "scope": scope}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(provider_ref: list) -> type:
    class Handler(BaseHTTPRequestHandler):
        server_version = "dev-oidc"

        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self) -> str | None:
            provider = provider_ref[0]
            prefix = f"/realms/{provider.realm.name}"
            path = urllib.parse.urlsplit(self.path).path
            return path[len(prefix):] if path.startswith(prefix + "/") else None

        def do_GET(self):  # noqa: N802 - http.server's name
            provider, route = provider_ref[0], self._route()
            if route == "/.well-known/openid-configuration":
                self._answer(200, provider.discovery())
            elif route == "/protocol/openid-connect/certs":
                provider.fetches += 1
                self._answer(200, {"keys": [k.jwk() for k in provider.keys]})
            else:
                self._answer(404, {"error": "not_found"})

        def do_POST(self):  # noqa: N802
            provider, route = provider_ref[0], self._route()
            if route != "/protocol/openid-connect/token":
                self._answer(404, {"error": "not_found"})
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if not 0 <= length <= 65536:
                    raise OAuthError("invalid_request", "Request too large")
                form = {k: v[0] for k, v in urllib.parse.parse_qs(self.rfile.read(length).decode("utf-8")).items()}
                self._answer(200, provider.grant(form, self._basic()))
            except (UnicodeDecodeError, ValueError):
                self._answer(400, {"error": "invalid_request", "error_description": "Malformed request"})
            except OAuthError as exc:
                self._answer(exc.status, {"error": exc.error, "error_description": exc.description})

        def _basic(self) -> tuple[str, str] | None:
            scheme, _, value = (self.headers.get("Authorization") or "").partition(" ")
            if scheme.lower() != "basic":
                return None
            user, _, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
            return urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(password)

        def log_message(self, *_):  # no request lines: the token endpoint's bodies carry passwords and secrets
            pass

    return Handler


def start(realm: Realm | None = None, host: str = "127.0.0.1", port: int = 0, keys: list[SigningKey] | None = None,
          public_url: str = "") -> Provider:
    """Start a provider in a background thread (port 0: a free one) and return it."""
    ref: list[Provider] = []
    server = ThreadingHTTPServer((host, port), _handler(ref))
    provider = Provider(server, realm or Realm.load(DEFAULT_REALM_FILE), keys=keys or [SigningKey.new("RS256")],
                        public_url=public_url)
    ref.append(provider)
    threading.Thread(target=server.serve_forever, daemon=True, name="dev-oidc").start()
    return provider


def fetch_token(issuer: str, client_id: str, secret: str | None = None, *, username: str | None = None,
                password: str | None = None, timeout: float = 10.0) -> str:
    """An access token from the provider's token endpoint: client credentials, or the password grant when a
    username is given. Works against this provider and against Keycloak."""
    form = {"client_id": client_id}
    if secret is not None:
        form["client_secret"] = secret
    if username is not None:
        form.update(grant_type="password", username=username, password=password or "")
    else:
        form["grant_type"] = "client_credentials"
    request = urllib.request.Request(issuer.rstrip("/") + "/protocol/openid-connect/token",
                                     data=urllib.parse.urlencode(form).encode(), method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - a configured provider
            return json.load(resp)["access_token"]
    except urllib.error.HTTPError as exc:
        detail = json.loads(exc.read() or b"{}").get("error", exc.code)
        raise RuntimeError(f"token request for {username or client_id} refused: {detail}") from None


class Logins:
    """Bearer headers per sample user of a realm, from the provider's token endpoint (password grant through a
    client allowed direct grants, `officer-portal` by default), each token kept until shortly before it expires."""

    def __init__(self, issuer: str, realm: Realm, client_id: str = "officer-portal"):
        self.issuer, self.realm, self.client = issuer, realm, realm.clients[client_id]
        self._tokens: dict[str, tuple[float, str]] = {}

    def user(self, role: str, unit_code: str | None = None) -> User:
        """The first sample user holding `role` (and, given one, working in `unit_code`)."""
        for user in self.realm.users.values():
            if role in user.roles and not user.service_account_of and (
                    unit_code is None or unit_code in (user.attributes.get("unit_code") or [])):
                return user
        raise LookupError(f"no sample user with role {role}" + (f" in {unit_code}" if unit_code else ""))

    def headers(self, username: str) -> dict[str, str]:
        expires, token = self._tokens.get(username, (0.0, ""))
        if time.monotonic() > expires:
            user = self.realm.users[username]
            token = fetch_token(self.issuer, self.client.client_id, self.client.secret, username=username,
                                password=user.password)
            claims = jwt.decode(token, options={"verify_signature": False})  # only to know when to ask again
            expires = time.monotonic() + max(0, claims["exp"] - claims["iat"] - 30)
            self._tokens[username] = (expires, token)
        return {"Authorization": f"Bearer {token}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.dev_oidc", description=__doc__.split("\n\n")[0])
    parser.add_argument("--realm-file", type=Path, default=DEFAULT_REALM_FILE)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8180)
    parser.add_argument("--key-file", type=Path, help="keep the signing key here (created when missing)")
    parser.add_argument("--public-url", default="",
                        help="base URL the services use to reach it (default http://<host>:<port>)")
    args = parser.parse_args(argv)
    keys = [SigningKey.load_or_create(args.key_file)] if args.key_file else None
    provider = start(Realm.load(args.realm_file), args.host, args.port, keys=keys, public_url=args.public_url)
    print(f"dev-oidc: issuer {provider.issuer} (realm file {args.realm_file})", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    provider.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
