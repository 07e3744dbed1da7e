"""Fixtures every level may use. Unit tests need none of the servers; the broker and raw PostgreSQL fixtures
(`bus`, `pg_url_factory`, `db_url_factory`) live in tests/servers.py and only integration and e2e tests load them.

`backend` runs a test once on SQLite and once on a throw-away PostgreSQL database (see Backend): add it to a test's
arguments, or `pytest.mark.usefixtures("backend")`, and the unit tests' `make_client` builds its apps on it.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tests.helpers import (
    PG_ADMIN_URL, create_pg_database, drop_pg_database, pg_error,
)

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


class PgTemplates:
    """One PostgreSQL database per service migrated to head once per test run; a test's database is a copy of it
    (CREATE DATABASE … TEMPLATE) instead of a run of every migration. Copying still takes a second or two, so the
    next copy of a service is made in the background while the test that took the last one runs."""

    def __init__(self):
        self.names: dict[str, str] = {}
        self.urls: list[str] = []
        self.spare: dict[str, list[str]] = {}
        self.making: dict[str, threading.Thread] = {}
        self.lock = threading.Lock()

    def template(self, service: str) -> str:
        import sqlalchemy as sa
        from shared.migrate import upgrade
        with self.lock:
            if service not in self.names:
                url = create_pg_database(f"tmpl_{service}_p{os.getpid()}")
                self.urls.append(url)
                upgrade(service, url)  # NullPool: no connection left open, so copies may start at once
                self.names[service] = sa.make_url(url).database
            return self.names[service]

    def _copy(self, service: str) -> str:
        return create_pg_database(f"t_{service}_p{os.getpid()}", template=self.template(service))

    @staticmethod
    def drop_orphans() -> None:
        """Drop the templates and copies of earlier runs on this machine whose pytest process is gone (a run killed
        before its teardown, e.g. by a time-out); a live run's databases are left alone."""
        import re
        import sqlalchemy as sa
        engine = sa.create_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            names = list(conn.scalars(sa.text(
                "SELECT datname FROM pg_database WHERE datname ~ '^(tmpl|t)_[a-z]+_p[0-9]+_'")))
        engine.dispose()
        for name in names:
            pid = int(re.match(r"^(?:tmpl|t)_[a-z]+_p(\d+)_", name).group(1))
            try:
                os.kill(pid, 0)
                continue  # still running (or a reused pid: leave it)
            except ProcessLookupError:
                pass
            except PermissionError:
                continue
            drop_pg_database(sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False))

    def _prefetch(self, service: str) -> None:
        def make():
            try:
                url = self._copy(service)
            except Exception:  # noqa: BLE001 - the next take() makes its own copy and raises there
                return
            with self.lock:
                self.spare.setdefault(service, []).append(url)
        thread = threading.Thread(target=make, name=f"pg-copy-{service}", daemon=True)
        self.making[service] = thread
        thread.start()

    def take(self, service: str) -> str:
        """A fresh copy of the service's template (the caller drops it)."""
        thread = self.making.pop(service, None)
        if thread is not None:
            thread.join()
        with self.lock:
            url = self.spare.get(service, []).pop() if self.spare.get(service) else None
        url = url or self._copy(service)
        self._prefetch(service)
        return url

    def drop_all(self) -> None:
        for thread in self.making.values():
            thread.join()
        for url in [u for urls in self.spare.values() for u in urls] + self.urls:
            drop_pg_database(url)


@pytest.fixture(scope="session")
def pg_templates():
    PgTemplates.drop_orphans()
    templates = PgTemplates()
    yield templates
    templates.drop_all()


@pytest.fixture(scope="session")
def postgres_available() -> None:
    """Skip (or, with REQUIRE_POSTGRES=1, fail) the PostgreSQL variants when no server answers."""
    err = pg_error()
    if err:
        message = f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({err})"
        if os.environ.get("REQUIRE_POSTGRES"):
            pytest.fail(message)
        pytest.skip(f"{message}: the PostgreSQL variant is skipped")


class Backend:
    """Where a test's databases live: SQLite files under the test's tmp_path, or throw-away PostgreSQL databases
    (dropped afterwards). `migrated(service)` is a database at the service's latest revision."""

    def __init__(self, name: str, tmp_path: Path, templates: PgTemplates | None):
        self.name = name
        self.tmp_path = tmp_path
        self.templates = templates
        self.urls: list[str] = []
        self._files = 0

    @property
    def is_postgres(self) -> bool:
        return self.name == "postgres"

    def url(self, prefix: str = "t") -> str:
        """An empty database."""
        if not self.is_postgres:
            self._files += 1
            return f"sqlite:///{self.tmp_path / f'{prefix}-{self._files}.db'}"
        url = create_pg_database(prefix)
        self.urls.append(url)
        return url

    def migrated(self, service: str) -> str:
        """A database of `service` at its latest revision (seeded reference rows of its migrations included)."""
        if not self.is_postgres:
            from shared.migrate import upgrade
            url = self.url(service)
            upgrade(service, url)
            return url
        url = self.templates.take(service)
        self.urls.append(url)
        return url

    def drop(self) -> None:
        for url in self.urls:
            drop_pg_database(url)

    def __repr__(self) -> str:
        return f"Backend({self.name})"


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path) -> Backend:
    """Run the test on SQLite and on PostgreSQL (each database made for this test and dropped after it)."""
    templates = None
    if request.param == "postgres":
        request.getfixturevalue("postgres_available")
        templates = request.getfixturevalue("pg_templates")
    made = Backend(request.param, tmp_path, templates)
    yield made
    made.drop()
