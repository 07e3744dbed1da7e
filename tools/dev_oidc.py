"""A small, real OpenID Connect provider for development, the demo and the compose stack (issue 14).

Keycloak cannot be pulled everywhere; this provider reads the same realm file (deploy/keycloak/thoibinh-realm.json:
roles, clients with secrets and audience mappers, users with roles and `unit_code`) and serves Keycloak's URL shape:

    /realms/<realm>/.well-known/openid-configuration
    /realms/<realm>/protocol/openid-connect/certs      (JWKS)
    /realms/<realm>/protocol/openid-connect/token      (client_credentials, password)
    /admin/realms/<realm>/users?username=<u>&exact=true  (Admin REST API: the users, by username)
    /admin/realms/<realm>/users/<id>                     (GET one; PUT its attributes: 204)

The admin endpoints take a bearer token this provider issued to a user holding the `realm-management` client
role `manage-users` (the realm file's `realm-admin-cli` service account, as Keycloak expresses it): without a valid
token 401, without the role 403 — so a program links a lecturer's account (`lecturer_id`) the same way against
this provider and against Keycloak (`set_remote_user_attribute`).

Tokens are RS256 JWTs carrying what Keycloak puts there and the services read (shared/auth.py): `iss`, `aud` (the
client's audience mappers), `sub`, `exp`, `iat`, `realm_access.roles`, the user attributes a client's attribute
mappers name (`officer-portal`: `unit_code`, and `lecturer_id` — the lecturer's record in courses — when the user
has it), `resource_access` (client roles, whose clients join `aud` as Keycloak's audience resolution does),
`scope`, `azp`, `preferred_username`. The signing key is generated at start, or loaded
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
ADMIN_CLIENT, MANAGE_USERS = "realm-management", ("manage-users", "realm-admin")  # either role manages users


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


class AdminError(Exception):
    """An Admin REST API refusal: the HTTP status and Keycloak's `error` text."""

    def __init__(self, status: int, error: str | None = None):
        super().__init__(status)
        self.status = status
        self.error = error or {401: "HTTP 401 Unauthorized", 403: "HTTP 403 Forbidden"}.get(status, "unknown_error")


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
    client_roles: dict = field(default_factory=dict)  # client id → its roles (Keycloak's clientRoles)
    id: str = ""  # the user's id (the export's, else one derived from realm and username: stable across restarts)

    def representation(self) -> dict:
        """The user as Keycloak's Admin REST API shows it (UserRepresentation, the fields this provider keeps)."""
        return {"id": self.id, "username": self.username, "enabled": True,
                "attributes": {k: list(v) if isinstance(v, list) else [v] for k, v in self.attributes.items()}}


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
            users[u["username"]] = User(
                u["username"], password, tuple(u.get("realmRoles", [])), dict(u.get("attributes", {})),
                u.get("serviceAccountClientId"), {c: tuple(r) for c, r in (u.get("clientRoles") or {}).items()},
                u.get("id") or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{data['realm']}/users/{u['username']}")))
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

    def user_by_id(self, user_id: str) -> User | None:
        return next((u for u in self.users.values() if u.id == user_id), None)


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
        if user.client_roles:
            claims["resource_access"] = {c: {"roles": list(r)} for c, r in user.client_roles.items()}
        audience = list(client.audiences) + [c for c in user.client_roles if c not in client.audiences]
        token = self.token(*user.roles, audience=audience[0] if len(audience) == 1 else audience, subject=subject,
                           scope=scope, **claims)
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.realm.lifespan,
                "refresh_expires_in": 0, "not-before-policy": 0, "scope": scope}

    # -- the Admin REST API (users) ----------------------------------------------------------------------------
    def administrator(self, authorization: str | None) -> User:
        """The user an admin request's bearer token names, if it may manage users; else AdminError 401 / 403.
        As Keycloak: the token must be this provider's (signature, issuer, expiry) and the user's role mappings
        today (not the token's claims) must grant realm-management's manage-users."""
        scheme, _, token = (authorization or "").partition(" ")
        try:
            kid = jwt.get_unverified_header(token.strip()).get("kid") if scheme.lower() == "bearer" else None
            key = next(k for k in self.keys if k.kid == kid)
            claims = jwt.decode(token.strip(), key.private.public_key(), algorithms=[key.alg], issuer=self.issuer,
                                options={"verify_aud": False, "require": ["exp", "iat", "sub"]})
        except (jwt.PyJWTError, StopIteration):
            raise AdminError(401) from None
        user = self.realm.users.get(str(claims["sub"]))
        if user is None:
            raise AdminError(401)
        if not set(user.client_roles.get(ADMIN_CLIENT, ())) & set(MANAGE_USERS):
            raise AdminError(403)
        return user

    def admin_users(self, query: dict[str, str]) -> list[dict]:
        """GET users: `username` (with `exact=true` the one of that name, else those containing it), without
        service-account users, as Keycloak lists them."""
        name, exact = (query.get("username") or "").lower(), query.get("exact", "").lower() == "true"
        return [u.representation() for u in self.realm.users.values() if not u.service_account_of and (
            not name or (u.username.lower() == name if exact else name in u.username.lower()))]

    def admin_update_user(self, user_id: str, body: object) -> None:
        """PUT a UserRepresentation: its `attributes`, when given, replace the user's (Keycloak's semantics: send
        them all); a changed username is refused (the realm does not allow editing it)."""
        user = self.realm.user_by_id(user_id)
        if user is None:
            raise AdminError(404, "User not found")
        attributes = body.get("attributes") if isinstance(body, dict) else None
        if not isinstance(body, dict) or (attributes is not None and not (isinstance(attributes, dict) and all(
                isinstance(v, list) and all(isinstance(x, str) for x in v) for v in attributes.values()))):
            raise AdminError(400, "unknown_error")
        name = body.get("username", user.username)
        if not isinstance(name, str) or name.lower() != user.username.lower():
            raise AdminError(400, "error-user-attribute-read-only")
        if attributes is not None:
            self.realm.users[user.username] = dataclasses.replace(
                user, attributes={k: list(v) for k, v in attributes.items() if v})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(provider_ref: list) -> type:
    class Handler(BaseHTTPRequestHandler):
        server_version = "dev-oidc"

        def _answer(self, status: int, body: dict | list | None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self, prefix: str = "/realms") -> str | None:
            provider = provider_ref[0]
            prefix = f"{prefix}/{provider.realm.name}"
            path = urllib.parse.urlsplit(self.path).path
            return path[len(prefix):] if path.startswith(prefix + "/") else None

        def _admin(self) -> bool:
            """Answer an Admin REST API request (True), or leave the path to the others (False)."""
            provider, route = provider_ref[0], self._route("/admin/realms")
            if route is None:
                return False
            try:
                provider.administrator(self.headers.get("Authorization"))
                user_id = route[len("/users/"):] if route.startswith("/users/") else None
                if self.command == "GET" and route == "/users":
                    query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                    self._answer(200, provider.admin_users({k: v[0] for k, v in query.items()}))
                elif self.command == "GET" and user_id:
                    user = provider.realm.user_by_id(user_id)
                    if user is None:
                        raise AdminError(404, "User not found")
                    self._answer(200, user.representation())
                elif self.command == "PUT" and user_id:
                    length = int(self.headers.get("Content-Length") or 0)
                    if not 0 <= length <= 65536:
                        raise AdminError(400)
                    provider.admin_update_user(user_id, json.loads(self.rfile.read(length) or b"null"))
                    self._answer(204, None)
                else:
                    raise AdminError(404, "Not Found")
            except ValueError:  # a malformed body or length
                self._answer(400, {"error": "unknown_error"})
            except AdminError as exc:
                self._answer(exc.status, {"error": exc.error})
            return True

        def do_PUT(self):  # noqa: N802
            if not self._admin():
                self._answer(404, {"error": "not_found"})

        def do_GET(self):  # noqa: N802 - http.server's name
            if self._admin():
                return
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


def set_remote_user_attribute(issuer: str, client_id: str, secret: str, username: str, attribute: str,
                              *values: str, timeout: float = 10.0) -> str:
    """Set (no values: remove) a user attribute at a running provider through Keycloak's Admin REST API, with the
    client credentials of a client whose service account may manage users (`realm-admin-cli`); returns the user's
    id. The user's other attributes are sent back unchanged (a PUT replaces them all). Works against this provider
    and against Keycloak."""
    token = fetch_token(issuer, client_id, secret, timeout=timeout)
    base, _, realm = issuer.rstrip("/").rpartition("/realms/")
    users_url = f"{base}/admin/realms/{realm}/users"

    def call(method: str, url: str, body: dict | None = None):
        request = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - a configured provider
                data = resp.read()
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"admin {method} users refused: HTTP {exc.code}") from None
        return json.loads(data) if data else None

    found = call("GET", users_url + "?" + urllib.parse.urlencode({"username": username, "exact": "true"}))
    user = next((u for u in found if u["username"] == username.lower()), None)
    if user is None:
        raise LookupError(f"no user {username} in realm {realm}")
    attributes = {k: v for k, v in (user.get("attributes") or {}).items() if k != attribute}
    if values:
        attributes[attribute] = list(values)
    call("PUT", f"{users_url}/{user['id']}", {**user, "attributes": attributes})
    return user["id"]


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
