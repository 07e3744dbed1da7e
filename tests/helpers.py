"""Test helpers: the isolation tools (deadlines, throw-away databases, private broker namespaces)."""
from tools.isolation import (  # noqa: F401 - re-exported for the tests
    AMQP_URL, PG_ADMIN_URL, BusNamespace, create_pg_database, drop_pg_database, new_namespace, pg_error,
    wait_until,
)
from shared.localtime import utcnow


class Clock:
    """An app's clock for tests (create_app(..., clock=Clock())): the real UTC now until a test sets `at`."""

    def __init__(self, at=None):
        self.at = at

    def __call__(self):
        return self.at if self.at is not None else utcnow()
