"""Build a service's real Flask app on a SQLite file for unit tests: migrated, no broker, fixed tokens."""
from __future__ import annotations

import importlib
from pathlib import Path

from flask import Flask

from services import get_settings
from shared.config import SERVICES
from shared.migrate import upgrade

API_TOKEN = "t-api"
ADMIN_TOKEN = "t-admin"
API_AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

__all__ = ["SERVICES", "API_TOKEN", "ADMIN_TOKEN", "API_AUTH", "ADMIN_AUTH", "build_app"]


def build_app(service: str, database_url: str, *, migrate: bool = True, clock=None, **settings_overrides) -> Flask:
    """Migrate `database_url` (unless told not to) and build the service's app on it (static tokens unless
    `settings_overrides` say otherwise: auth_mode="oidc", oidc_issuer=…); `clock`: the app's now (courses)."""
    if migrate:
        upgrade(service, database_url)
    settings = get_settings(service, database_url=database_url, api_token=API_TOKEN, admin_token=ADMIN_TOKEN,
                            **settings_overrides)
    create_app = importlib.import_module(f"services.{service}.app").create_app
    return create_app(settings, clock=clock) if clock is not None else create_app(settings)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def deliver(app: Flask, body: str | bytes) -> None:
    """Hand one event body to the app's service handler in its own transaction, as the consumer would.

    Batch handlers (marked `takes_batch` by shared.bus.consumer.batch_handler) get a list of one envelope.
    """
    from shared.db import transaction
    from shared.events import decode

    service = app.extensions["service"]
    handlers = importlib.import_module(f"services.{service.settings.service}.handlers").HANDLERS
    envelope = decode(body)
    handler = handlers[envelope.type]
    with transaction(service.session_factory) as session:
        if getattr(handler, "takes_batch", False):
            handler([envelope], session, service.settings)
        else:
            handler(envelope, session, service.settings)
