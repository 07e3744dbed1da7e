"""Settings of the needs service (NEEDS_DATABASE_URL, NEEDS_PORT, NEEDS_CLOSE_INLINE_LIMIT, NEEDS_JOB_POLL_SECONDS,
NEEDS_PEER_URLS, NEEDS_PEER_TIMEOUT_SECONDS, NEEDS_OIDC_CLIENT_ID/SECRET/TOKEN_URL,
the notification channels — SMTP_*, MAIL_FROM, SMS_GATEWAY_*, ZALO_* , NOTIFY_* — and the shared variables): the
service's only reader of the environment."""
from dataclasses import dataclass, field

from shared.config import DEFAULT_PORTS, Settings, env, load_settings
from shared.notify import NotifyConfig

SERVICE = "needs"


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def _pairs(value: str) -> dict:
    """"feedback_request:301234,feedback_reminder:301235" → {purpose: ZNS template id}."""
    out = {}
    for item in value.split(","):
        purpose, _, template = item.strip().partition(":")
        if purpose and template:
            out[purpose.strip()] = template.strip()
    return out


PEERS = ("courses", "evaluation", "funding")  # the services needs asks for their part of a data-subject report


def _peer_urls(value: str) -> dict:
    """"courses=http://courses:8002,funding=http://funding:8004" → {service: base URL}; unnamed peers keep the
    local default (http://127.0.0.1:<its port>)."""
    urls = {peer: f"http://127.0.0.1:{env(f'{peer.upper()}_PORT', DEFAULT_PORTS[peer], int)}" for peer in PEERS}
    for item in value.split(","):
        name, _, url = item.strip().partition("=")
        if name.strip() in PEERS and url.strip():
            urls[name.strip()] = url.strip().rstrip("/")
    return urls


def notify_config() -> NotifyConfig:
    """The channels from the environment; a channel without its host / URL / token is not offered."""
    return NotifyConfig(
        smtp_host=env("SMTP_HOST", ""), smtp_port=env("SMTP_PORT", 25, int), smtp_user=env("SMTP_USER", ""),
        smtp_password=env("SMTP_PASSWORD", ""), smtp_tls=env("SMTP_TLS", "none"),
        mail_from=env("MAIL_FROM", "dao-tao@thoibinh.local"),
        sms_gateway_url=env("SMS_GATEWAY_URL", ""), sms_gateway_token=env("SMS_GATEWAY_TOKEN", ""),
        sms_strip_diacritics=env("SMS_STRIP_DIACRITICS", False, _flag),
        zalo_url=env("ZALO_ZNS_URL", "https://business.openapi.zalo.me/message/template"),
        zalo_access_token=env("ZALO_ACCESS_TOKEN", ""),
        timeout_seconds=env("NOTIFY_TIMEOUT_SECONDS", 10.0, float))


@dataclass(frozen=True)
class NeedsSettings(Settings):
    # People up to which POST /campaigns/{id}/close computes the needs in the request. A district or a province (a
    # few thousand people) closes in seconds; above this the close becomes a job of the worker, because a national
    # campaign takes longer than gunicorn's request timeout.
    close_inline_limit: int = 20000
    # A queued close is split into this many lanes of people that job threads compute side by side (PostgreSQL;
    # always one on SQLite), and the worker runs this many job threads: a chunk is one database backend's work, so
    # about the database server's cores (bench-needs: usecases/closing.py).
    close_lanes: int = 2
    job_threads: int = 2
    job_poll_seconds: float = 2.0  # how often the worker looks for queued jobs
    notify: NotifyConfig = field(default_factory=NotifyConfig)  # the channels needs sends through (issue 13)
    zalo_templates: dict = field(default_factory=dict)  # purpose → approved ZNS template id (ZALO_TEMPLATES)
    notify_poll_seconds: float = 2.0  # how often the worker looks for due deliveries
    notify_lease_seconds: float = 300.0  # a delivery claimed by a sender that died is taken again after this
    # The data-subject report (shared/subject_report.py): the peers' base URLs (NEEDS_PEER_URLS), how long each may
    # take (NEEDS_PEER_TIMEOUT_SECONDS), and needs' own client credentials at the provider in AUTH_MODE=oidc
    # (NEEDS_OIDC_CLIENT_ID / NEEDS_OIDC_CLIENT_SECRET; the token URL from the issuer's discovery document unless
    # NEEDS_OIDC_TOKEN_URL is set).
    peer_urls: dict = field(default_factory=lambda: _peer_urls(""))
    peer_timeout_seconds: float = 10.0
    oidc_client_id: str = "needs"
    oidc_client_secret: str = ""
    oidc_token_url: str = ""


def get_settings(**overrides) -> NeedsSettings:
    """Read the needs service settings from the environment; keyword overrides win."""
    return load_settings(SERVICE, NeedsSettings, **{
        "close_inline_limit": env("NEEDS_CLOSE_INLINE_LIMIT", 20000, int),
        "close_lanes": max(1, env("NEEDS_CLOSE_LANES", 2, int)),
        "job_threads": max(1, env("NEEDS_JOB_THREADS", 2, int)),
        "job_poll_seconds": env("NEEDS_JOB_POLL_SECONDS", 2.0, float),
        "notify": notify_config(),
        "zalo_templates": env("ZALO_TEMPLATES", {}, _pairs),
        "notify_poll_seconds": env("NOTIFY_POLL_SECONDS", 2.0, float),
        "notify_lease_seconds": env("NOTIFY_LEASE_SECONDS", 300.0, float),
        "peer_urls": _peer_urls(env("NEEDS_PEER_URLS", "")),
        "peer_timeout_seconds": env("NEEDS_PEER_TIMEOUT_SECONDS", 10.0, float),
        "oidc_client_id": env("NEEDS_OIDC_CLIENT_ID", "needs"),
        "oidc_client_secret": env("NEEDS_OIDC_CLIENT_SECRET", ""),
        "oidc_token_url": env("NEEDS_OIDC_TOKEN_URL", ""),
        **overrides})
