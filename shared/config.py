"""Settings read from the environment when called, with local defaults.

`Settings` holds what every service process needs; each service extends it in its own `settings.py`
(`CoursesSettings(Settings)` …), which, with this module, is the only reader of the environment.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PORTS = {"needs": 8001, "courses": 8002, "evaluation": 8003, "funding": 8004}
SERVICES = tuple(DEFAULT_PORTS)


def env(name: str, default=None, cast=str):
    """Read one environment variable; unset or empty means `default` (returned as it is, not cast)."""
    value = os.environ.get(name)
    return default if value is None or value == "" else cast(value)


_env = env


def var_dir() -> Path:
    """Return the folder for local SQLite files and logs (created on demand)."""
    path = Path(_env("VAR_DIR", str(PROJECT_ROOT / "var")))
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class RequestLimits:
    """Body-size caps per route class (bytes); the proxy (deploy/nginx) applies the same classes in front."""

    json_bytes: int = 1 << 20
    form_bytes: int = 64 << 10
    upload_bytes: int = 10 << 20


@dataclass(frozen=True)
class Settings:
    """Everything a service process needs to know about its environment."""

    service: str
    database_url: str
    amqp_url: str
    exchange: str
    queue_prefix: str
    api_token: str
    admin_token: str
    http_host: str
    http_port: int
    log_level: str
    prefetch: int
    batch_size: int
    relay_batch_size: int
    relay_poll_seconds: float
    confirm_timeout: float
    retry_delays_ms: tuple[int, ...]
    # who may call (shared/auth.py): AUTH_MODE=static is the development mode of the static tokens above;
    # production sets AUTH_MODE=oidc with OIDC_ISSUER (and OIDC_JWKS_URL / OIDC_AUDIENCE when not the defaults)
    auth_mode: str = "static"
    oidc_issuer: str = ""
    oidc_jwks_url: str = ""  # empty: the jwks_uri of the issuer's /.well-known/openid-configuration
    oidc_audience: str = ""  # empty: the service name
    oidc_leeway_seconds: float = 30.0
    oidc_jwks_cooldown_seconds: float = 10.0  # least time between two JWKS fetches for an unknown kid
    request_limits: RequestLimits = RequestLimits()  # MAX_JSON_BYTES, MAX_FORM_BYTES, MAX_UPLOAD_BYTES

    @property
    def queue(self) -> str:
        """Return this service's main queue name."""
        return f"{self.queue_prefix}{self.service}"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.queue}.dlq"

    def retry_queue(self, tier: int) -> str:
        return f"{self.queue}.retry.{tier}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(service: str, settings_class: type[Settings] = Settings, /, **overrides) -> Settings:
    """Read the settings of `service` from the environment; keyword overrides win (tests use them).

    A service's own `get_settings` passes its subclass and the values of its own fields."""
    if service not in DEFAULT_PORTS:
        raise ValueError(f"unknown service {service!r}")
    up = service.upper()
    database_url = os.environ.get(f"{up}_DATABASE_URL") or f"sqlite:///{var_dir() / (service + '.db')}"
    delays = _env("RETRY_DELAYS_MS", "1000,5000,30000")
    values = dict(
        service=service,
        database_url=database_url,
        amqp_url=_env("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//"),
        exchange=_env("EVENT_EXCHANGE", "training.events"),
        queue_prefix=_env("QUEUE_PREFIX", ""),
        api_token=_env("API_TOKEN", "dev-api-token"),
        admin_token=_env("ADMIN_TOKEN", "dev-admin-token"),
        http_host=_env("HTTP_HOST", "127.0.0.1"),
        http_port=int(_env(f"{up}_PORT", str(DEFAULT_PORTS[service]))),
        log_level=_env("LOG_LEVEL", "INFO"),
        prefetch=int(_env("WORKER_PREFETCH", "400")),
        batch_size=int(_env("WORKER_BATCH_SIZE", "200")),
        relay_batch_size=int(_env("RELAY_BATCH_SIZE", "500")),
        relay_poll_seconds=None,  # below: it depends on the database
        confirm_timeout=float(_env("CONFIRM_TIMEOUT_SECONDS", "10")),
        retry_delays_ms=tuple(int(x) for x in delays.split(",") if x.strip()),
        auth_mode=_env("AUTH_MODE", "static"),
        oidc_issuer=_env("OIDC_ISSUER", ""),
        oidc_jwks_url=_env("OIDC_JWKS_URL", ""),
        oidc_audience=_env(f"{up}_OIDC_AUDIENCE", _env("OIDC_AUDIENCE", "")),
        oidc_leeway_seconds=float(_env("OIDC_LEEWAY_SECONDS", "30")),
        oidc_jwks_cooldown_seconds=float(_env("OIDC_JWKS_COOLDOWN_SECONDS", "10")),
        request_limits=request_limits(),
    )
    values.update(overrides)
    if values["relay_poll_seconds"] is None:
        # On PostgreSQL a NOTIFY at commit (another process's writes) or the consumer's own commit wakes the relay at
        # once; the poll only catches what neither announced (a row whose back-off ran out, a listener reconnecting),
        # so it need not claim every 0.1 s: 2 relays × 4 workers made 80 empty claims a second on an idle stack
        # (issue 16). SQLite has no NOTIFY: there the poll is how the web's rows are found.
        values["relay_poll_seconds"] = float(_env("RELAY_POLL_SECONDS", "0.1" if values["database_url"].startswith(
            "sqlite") else "1.0"))
    return settings_class(**values)


def request_limits() -> RequestLimits:
    """Read the caps: MAX_JSON_BYTES (1 MiB), MAX_FORM_BYTES (64 KiB: the feedback page), MAX_UPLOAD_BYTES (10 MiB)."""
    default = RequestLimits()
    return RequestLimits(json_bytes=env("MAX_JSON_BYTES", default.json_bytes, int),
                         form_bytes=env("MAX_FORM_BYTES", default.form_bytes, int),
                         upload_bytes=env("MAX_UPLOAD_BYTES", default.upload_bytes, int))
