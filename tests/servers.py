"""Fixtures on the real servers (RabbitMQ, PostgreSQL), loaded only by tests/integration and tests/e2e conftests,
so that a unit test cannot ask for a broker or a database server by accident."""
from __future__ import annotations

import pytest

from tests.helpers import BusNamespace, create_pg_database, drop_pg_database, new_namespace


@pytest.fixture
def bus() -> BusNamespace:
    """A private exchange and queue prefix on the real RabbitMQ, deleted afterwards."""
    ns = new_namespace()
    yield ns
    ns.delete()


@pytest.fixture
def pg_url_factory():
    """Create fresh PostgreSQL databases on demand; all are dropped afterwards."""
    urls = []

    def make(prefix: str = "t") -> str:
        url = create_pg_database(prefix)
        urls.append(url)
        return url

    yield make
    for url in urls:
        drop_pg_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url_factory(request, tmp_path, pg_url_factory):
    """Database URLs for one backend per test run: a SQLite file, or a fresh PostgreSQL database."""
    counter = iter(range(1000))

    def make(prefix: str = "t") -> str:
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path / f'{prefix}_{next(counter)}.db'}"
        return pg_url_factory(prefix)

    make.backend = request.param
    return make
