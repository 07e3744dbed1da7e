"""Who is calling and what they may do (issue 14): bearer JWTs from an OpenID Connect provider, roles per operation.

Two modes, chosen by AUTH_MODE (shared.config):

- `oidc` — the production mode. A bearer token is a JWT signed by the provider (RS256 or ES256 only: `alg: none`
  and the HS* family are refused, a shared secret would let any service mint tokens). The signing key comes from
  the provider's JWKS (OIDC_JWKS_URL, or the `jwks_uri` of OIDC_ISSUER's /.well-known/openid-configuration),
  cached by PyJWT's PyJWKClient for 5 minutes and fetched again when a token names an unknown `kid` (at most once
  per OIDC_JWKS_COOLDOWN_SECONDS, default 10), so the provider can rotate keys while the services run. `iss` must be OIDC_ISSUER, `aud` must contain OIDC_AUDIENCE (default: the service
  name), `exp` and `nbf` are checked with OIDC_LEEWAY_SECONDS of clock skew (default 30).
- `static` — an explicit development mode (tests, `make demo`, `make up` on a laptop): API_TOKEN acts as a
  training officer, finance officer and inspector of the root unit, ADMIN_TOKEN as an operator. The compose file for
  production sets AUTH_MODE=oidc.

A caller is a `Principal`: the token's `sub`, its roles (Keycloak's `realm_access.roles`; a program's
client-credentials token may carry them as OAuth2 `scope` values instead), its unit (`unit_code` claim: the unit
whose subtree an officer works in; none for the static tokens, which see every unit) and, for a lecturer, the
`lecturer_id` claim: the id of their lecturer record in courses (`GET /api/v1/lecturers`), a Keycloak user attribute
only an administrator sets (`lecturer_scope`: a caller acting as lecturer works only on the sessions they teach).

Each operation declares the roles it accepts with `@requires(...)`; the roles are written into the operation's
OpenAPI `security` (the `oidc` scheme, roles as its scopes) and `x-roles`, so the rules are visible and a test can
read them. No token, a bad token → 401; a valid token without one of the roles → 403, both in the JSON error shape.
The token's text is never logged, only why it was refused (the exception's class).

Legal basis of limiting and recording access to personal data: Law 91/2025/QH15 on personal data protection and
Decree 356/2025/NĐ-CP (in force 1 January 2026).
"""
from __future__ import annotations

import hmac
import json
import logging
import threading
import urllib.request
from dataclasses import dataclass, field
from functools import wraps

from flask import current_app, g, request
from werkzeug.exceptions import Forbidden as ForbiddenHTTP, Unauthorized

log = logging.getLogger("auth")

TRAINING_OFFICER = "training-officer"  # district/province: plans, courses, reports, everything in their subtree
COMMUNE_OFFICER = "commune-officer"    # only their commune: its civil servants, surveys, enrollments, attendance
FINANCE_OFFICER = "finance-officer"    # budget lines, norms, settlements, ledger reversals
LECTURER = "lecturer"                  # attendance and results of their own sessions (lecturer_id claim)
INSPECTOR = "inspector"                # read-only, the access log included
OPERATOR = "operator"                  # the /admin endpoints
ROLES = (TRAINING_OFFICER, COMMUNE_OFFICER, FINANCE_OFFICER, LECTURER, INSPECTOR, OPERATOR)

ALGORITHMS = ("RS256", "ES256")
MODES = ("oidc", "static")
SCHEME = "oidc"  # the OpenAPI security scheme the roles are listed under

STATIC_API_ROLES = frozenset({TRAINING_OFFICER, FINANCE_OFFICER, INSPECTOR})  # development: the readers too
STATIC_ADMIN_ROLES = frozenset({OPERATOR})

MESSAGE_401 = "Thiếu hoặc sai mã truy cập (Authorization: Bearer …)."
MESSAGE_403 = "Vai trò của bạn không được phép thực hiện thao tác này."
LECTURER_CLAIM = "lecturer_id"  # the courses lecturer record a lecturer's token speaks for


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: subject, roles, unit (None: every unit), OAuth2 scopes and, for a lecturer, the id
    of their lecturer record in courses (None: the token names none)."""

    subject: str
    roles: frozenset[str]
    unit_code: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    lecturer_id: str | None = None

    @property
    def grants(self) -> frozenset[str]:
        """The roles this caller acts in: its roles, and scopes that name a role (programs' client credentials)."""
        return self.roles | (self.scopes & frozenset(ROLES))

    def role_for(self, accepted) -> str | None:
        """The first of `accepted` this caller holds (the role it acts in for the operation), or None."""
        return next((role for role in accepted if role in self.grants), None)


class IdentityProviderUnavailable(Exception):
    """The provider's discovery document or JWKS could not be fetched: 503, the request may succeed later."""


class TokenRefused(Exception):
    """The token is not one of ours (bad signature, issuer, audience, expired…): 401."""


class OidcVerifier:
    """Verify bearer JWTs against one issuer's keys, for one audience."""

    def __init__(self, issuer: str, audience: str, jwks_url: str = "", leeway: float = 30.0, timeout: float = 5.0,
                 cooldown: float = 10.0):
        if not issuer:
            raise ValueError("AUTH_MODE=oidc needs OIDC_ISSUER")
        self.issuer = issuer  # compared exactly with `iss`
        self.audience = audience
        self.leeway = leeway
        self.timeout = timeout
        self.cooldown = cooldown
        self._jwks_url = jwks_url
        self._client = None
        self._lock = threading.Lock()

    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    def _jwks_client(self):
        import jwt
        with self._lock:
            if self._client is None:
                url = self._jwks_url or self._discover_jwks_url()
                # The key set is cached for 5 minutes and fetched again when a token names a kid it lacks, at most
                # once per `cooldown` seconds (a flood of made-up kids cannot flood the provider). No per-kid cache:
                # PyJWKClient's never expires, so a key the provider withdrew would stay good.
                self._client = jwt.PyJWKClient(url, cache_keys=False, lifespan=300, timeout=self.timeout,
                                               cooldown_duration=self.cooldown)
            return self._client

    def _discover_jwks_url(self) -> str:
        try:
            with urllib.request.urlopen(self.discovery_url(), timeout=self.timeout) as resp:  # noqa: S310 - config
                document = json.load(resp)
        except (OSError, ValueError) as exc:
            raise IdentityProviderUnavailable(type(exc).__name__) from None
        jwks_uri = document.get("jwks_uri") if isinstance(document, dict) else None
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise IdentityProviderUnavailable("discovery document without jwks_uri")
        return jwks_uri

    def verify(self, token: str) -> Principal:
        """Return the principal of a valid token; raise TokenRefused (401) or IdentityProviderUnavailable."""
        import jwt
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenRefused(type(exc).__name__) from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise TokenRefused("algorithm not allowed")
        if not isinstance(header.get("kid"), str):
            raise TokenRefused("no kid")
        try:
            key = self._jwks_client().get_signing_key(header["kid"])
        except jwt.PyJWKClientConnectionError as exc:
            raise IdentityProviderUnavailable(type(exc).__name__) from None
        except jwt.PyJWTError as exc:  # the kid is not in the provider's keys, even after refetching them
            raise TokenRefused(type(exc).__name__) from None
        if key.algorithm_name != alg:  # an ES256 header naming an RSA key (or the reverse): never one of ours
            raise TokenRefused("algorithm does not match the key")
        try:
            claims = jwt.decode(token, key.key, algorithms=[alg], audience=self.audience, issuer=self.issuer,
                                leeway=self.leeway, options={"require": ["exp", "iss", "aud", "sub"]})
        except (jwt.PyJWTError, TypeError, ValueError) as exc:  # PyJWT raises TypeError for a key of another type
            raise TokenRefused(type(exc).__name__) from None
        return principal_of(claims)


class ClientCredentials:
    """This service's own token for calling the other services (needs' data-subject report): the OAuth2
    client-credentials grant at the provider's token endpoint (`token_url`, or the `token_endpoint` of the issuer's
    discovery document), client id and secret sent as HTTP Basic (RFC 6749 §2.3.1). The token is kept until
    `margin` seconds before its `expires_in`, then fetched again; one fetch at a time. The provider unreachable or
    refusing the client → IdentityProviderUnavailable (503). Neither the secret nor a token is ever logged."""

    def __init__(self, issuer: str, client_id: str, client_secret: str, *, token_url: str = "", timeout: float = 5.0,
                 margin: float = 30.0, clock=None):
        import time
        self.issuer, self.client_id, self._secret = issuer, client_id, client_secret
        self.token_url, self.timeout, self.margin = token_url, timeout, margin
        self._clock = clock or time.monotonic
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()
        self.fetches = 0  # how many tokens were asked for (the cache is visible to tests and metrics)

    def _endpoint(self) -> str:
        if not self.token_url:
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            try:
                with urllib.request.urlopen(url, timeout=self.timeout) as resp:  # noqa: S310 - configured issuer
                    document = json.load(resp)
            except (OSError, ValueError) as exc:
                raise IdentityProviderUnavailable(type(exc).__name__) from None
            endpoint = document.get("token_endpoint") if isinstance(document, dict) else None
            if not isinstance(endpoint, str) or not endpoint:
                raise IdentityProviderUnavailable("discovery document without token_endpoint")
            self.token_url = endpoint
        return self.token_url

    def bearer(self) -> str:
        """A valid access token of this client (from the cache while it lasts)."""
        import base64
        import urllib.parse
        with self._lock:
            if self._token is not None and self._clock() < self._expires:
                return self._token
            if not self.client_id or not self._secret:  # a deployment without the client's secret: 503, logged
                log.error("no client credentials configured", extra={"client_id": self.client_id})
                raise IdentityProviderUnavailable("no client credentials configured")
            basic = base64.b64encode(f"{urllib.parse.quote(self.client_id)}:{urllib.parse.quote(self._secret)}"
                                     .encode()).decode("ascii")
            request = urllib.request.Request(
                self._endpoint(), data=urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
                headers={"Authorization": f"Basic {basic}", "Accept": "application/json",
                         "Content-Type": "application/x-www-form-urlencoded"}, method="POST")
            started = self._clock()
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as resp:  # noqa: S310 - configured URL
                    answer = json.load(resp)
            except (OSError, ValueError) as exc:  # HTTPError (client refused) is an OSError: its type only
                raise IdentityProviderUnavailable(type(exc).__name__) from None
            token = answer.get("access_token") if isinstance(answer, dict) else None
            if not isinstance(token, str) or not token:
                raise IdentityProviderUnavailable("token answer without access_token")
            lifetime = answer.get("expires_in")
            lifetime = float(lifetime) if isinstance(lifetime, (int, float)) and lifetime > 0 else 60.0
            self.fetches += 1
            self._token, self._expires = token, started + max(0.0, lifetime - self.margin)
            return token


class StaticBearer:
    """The development mode's counterpart of ClientCredentials: always the static API token."""

    def __init__(self, token: str):
        self._token = token

    def bearer(self) -> str:
        return self._token


def service_credentials(settings, client_id: str, client_secret: str, token_url: str = ""):
    """This service's credentials for calling the others: client credentials at the provider in AUTH_MODE=oidc,
    the static API token in the development mode. Either has `bearer()`."""
    if getattr(settings, "auth_mode", "static") == "oidc":
        return ClientCredentials(settings.oidc_issuer, client_id, client_secret, token_url=token_url)
    return StaticBearer(settings.api_token)


def principal_of(claims: dict) -> Principal:
    """The principal of verified claims: sub, realm_access.roles, unit_code, scope, lecturer_id."""
    realm = claims.get("realm_access")
    roles = realm.get("roles") if isinstance(realm, dict) else None
    roles = frozenset(r for r in roles if isinstance(r, str)) if isinstance(roles, list) else frozenset()
    scope = claims.get("scope")
    scopes = frozenset(scope.split()) if isinstance(scope, str) else frozenset()
    unit, lecturer = claims.get("unit_code"), claims.get(LECTURER_CLAIM)
    return Principal(subject=str(claims["sub"]), roles=roles, unit_code=unit if isinstance(unit, str) and unit
                     else None, scopes=scopes,
                     lecturer_id=lecturer if isinstance(lecturer, str) and lecturer else None)


class Authenticator:
    """One service's way of turning a request's bearer token into a Principal (kept in app.extensions["auth"])."""

    def __init__(self, mode: str, *, api_token: str = "", admin_token: str = "", verifier: OidcVerifier | None = None):
        if mode not in MODES:
            raise ValueError(f"AUTH_MODE must be one of {MODES}, not {mode!r}")
        if mode == "oidc" and verifier is None:
            raise ValueError("AUTH_MODE=oidc needs a verifier")
        self.mode = mode
        self._api = api_token.encode("utf-8")
        self._admin = admin_token.encode("utf-8")
        self.verifier = verifier

    @classmethod
    def from_settings(cls, settings) -> "Authenticator":
        mode = getattr(settings, "auth_mode", "static")
        verifier = None
        if mode == "oidc":
            verifier = OidcVerifier(settings.oidc_issuer, settings.oidc_audience or settings.service,
                                    settings.oidc_jwks_url, leeway=settings.oidc_leeway_seconds,
                                    cooldown=settings.oidc_jwks_cooldown_seconds)
        return cls(mode, api_token=settings.api_token, admin_token=settings.admin_token, verifier=verifier)

    def authenticate(self, header: str) -> Principal:
        scheme, _, token = (header or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise TokenRefused("no bearer token")
        if self.mode == "static":
            try:  # compared as bytes: a non-ASCII token is simply wrong (compare_digest refuses non-ASCII str)
                given = token.encode("ascii")
            except UnicodeEncodeError:
                raise TokenRefused("not ASCII") from None
            if self._api and hmac.compare_digest(given, self._api):
                return Principal("static:api-token", STATIC_API_ROLES)
            if self._admin and hmac.compare_digest(given, self._admin):
                return Principal("static:admin-token", STATIC_ADMIN_ROLES)
            raise TokenRefused("unknown static token")
        return self.verifier.verify(token)


def authenticator() -> Authenticator:
    """The current app's authenticator (built once per app from its settings)."""
    found = current_app.extensions.get("auth")
    if found is None:
        found = current_app.extensions["auth"] = Authenticator.from_settings(current_app.extensions["service"].settings)
    return found


def current_principal() -> Principal:
    """The request's authenticated caller (401 when there is none or its token is refused)."""
    principal = g.get("principal")
    if principal is None:
        try:
            principal = authenticator().authenticate(request.headers.get("Authorization", ""))
        except TokenRefused as exc:
            log.info("token refused", extra={"reason": str(exc), "route": request.url_rule.rule
                                             if request.url_rule else "<unmatched>"})
            raise Unauthorized(MESSAGE_401) from None
        g.principal = principal
    return principal


def authorize(roles) -> Principal:
    """Authenticate the request and require one of `roles` (401 / 403); record the role it acts in."""
    principal = current_principal()
    role = principal.role_for(roles)
    if role is None:
        log.info("role refused", extra={"route": request.url_rule.rule if request.url_rule else "<unmatched>"})
        raise ForbiddenHTTP(MESSAGE_403)
    g.principal_role = role
    return principal


def unit_scope() -> str | None:
    """The unit whose subtree the request's caller is confined to: its `unit_code`, whatever the role it acts in
    (None: every unit — the static development tokens, a provincial inspector without a unit). A commune officer
    without a unit sees nothing: 403."""
    principal = current_principal()
    if principal.unit_code is None and g.get("principal_role") == COMMUNE_OFFICER:
        raise ForbiddenHTTP("Mã truy cập của cán bộ cấp xã không ghi đơn vị (unit_code).")
    return principal.unit_code


def lecturer_scope() -> str | None:
    """The lecturer record whose sessions the request's caller is confined to: its `lecturer_id` claim when it acts
    as a lecturer for this operation (it holds none of the operation's roles listed before `lecturer`), else None
    (every session: training and commune officers, inspectors, the static development tokens). A lecturer's token
    without the claim may touch no session: 403."""
    if g.get("principal_role") != LECTURER:
        return None
    lecturer = current_principal().lecturer_id
    if lecturer is None:
        raise ForbiddenHTTP(f"Mã truy cập của giảng viên không ghi mã giảng viên ({LECTURER_CLAIM}).")
    return lecturer


def doc(*roles: str) -> dict:
    """The OpenAPI fields declaring `roles`: `security` (the oidc scheme, roles as scopes) and `x-roles`."""
    _check(roles)
    return {"security": [{SCHEME: list(roles)}], "x-roles": list(roles)}


def _check(roles) -> None:
    unknown = [r for r in roles if r not in ROLES]
    if not roles or unknown:
        raise ValueError(f"unknown roles {unknown} (known: {ROLES})")


def requires(*roles: str):
    """Protect an operation: the caller must hold one of `roles`; the roles go into its OpenAPI operation."""
    _check(roles)

    def decorate(func):
        @wraps(func)
        def wrapper(*args, **kwargs):
            authorize(roles)
            return func(*args, **kwargs)

        apidoc = wrapper.__dict__.setdefault("_apidoc", {})
        apidoc.setdefault("manual_doc", {}).update(doc(*roles))
        return wrapper
    return decorate


def security_schemes(settings) -> dict:
    """The OpenAPI securitySchemes: `oidc` (the provider's discovery document) and `bearerAuth` (any bearer)."""
    issuer = getattr(settings, "oidc_issuer", "") or ""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration" if issuer else "/.well-known/openid-configuration"
    return {"bearerAuth": {"type": "http", "scheme": "bearer"},
            SCHEME: {"type": "openIdConnect", "openIdConnectUrl": url,
                     "description": "JWT from the OpenID Connect provider; the scopes listed per operation are the "
                                    "roles (realm_access.roles) it accepts. AUTH_MODE=static (development): "
                                    "API_TOKEN acts as training-officer, finance-officer and inspector, "
                                    "ADMIN_TOKEN as "
                                    "operator."}}
