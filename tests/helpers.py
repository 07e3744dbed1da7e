"""Test helpers: the isolation tools (deadlines, throw-away databases, private broker namespaces)."""
from tools.isolation import (  # noqa: F401 - re-exported for the tests
    AMQP_URL, PG_ADMIN_URL, BusNamespace, create_pg_database, drop_pg_database, new_namespace, pg_error,
    wait_until,
)
