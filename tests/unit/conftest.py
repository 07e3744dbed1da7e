"""Unit-test fixtures: real service apps on throw-away SQLite files. No broker and no database server.

A test that also asks for `backend` (tests/conftest.py) gets its apps on that backend: once on SQLite, once on a
throw-away PostgreSQL database (skipped when no PostgreSQL server answers).
"""
from __future__ import annotations

import pytest

from tests.unit.apps import build_app, sqlite_url


def _dispose(apps) -> None:
    for app in apps:
        app.extensions["service"].engine.dispose()


@pytest.fixture
def make_client(request, tmp_path):
    """Build a test client of a service on its own freshly migrated database: SQLite, or the test's `backend`."""
    backend = request.getfixturevalue("backend") if "backend" in request.fixturenames else None
    apps = []

    def make(service: str, **app_options):
        if backend is None:
            app = build_app(service, sqlite_url(tmp_path / f"{service}-{len(apps)}.db"), **app_options)
        else:
            app = build_app(service, backend.migrated(service), migrate=False, **app_options)
        apps.append(app)
        return app.test_client()

    yield make
    _dispose(apps)


@pytest.fixture(scope="session")
def shared_client(tmp_path_factory):
    """Return the one test client per service shared by the whole run (for checks that create nothing they read)."""
    clients = {}

    def get(service: str):
        if service not in clients:
            path = tmp_path_factory.mktemp(f"shared-{service}") / f"{service}.db"
            clients[service] = build_app(service, sqlite_url(path)).test_client()
        return clients[service]

    yield get
    _dispose(c.application for c in clients.values())
