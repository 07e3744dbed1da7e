"""Test helpers: the isolation tools (deadlines, throw-away databases, private broker namespaces)."""
from tools.isolation import (  # noqa: F401 - re-exported for the tests
    AMQP_URL, PG_ADMIN_URL, BusNamespace, create_pg_database, drop_pg_database, new_namespace, pg_error,
    wait_until,
)
from shared.localtime import utcnow


def consumer_count(queue: str, amqp_url: str = AMQP_URL) -> int:
    """How many consumers `queue` has on the broker (0 while it does not exist yet)."""
    import amqp
    from kombu import Connection

    with Connection(amqp_url, connect_timeout=5) as conn:
        try:
            return conn.channel().queue_declare(queue, passive=True).consumer_count
        except amqp.exceptions.NotFound:
            return 0


def wait_for_consumer(queue: str, *, timeout: float = 30, amqp_url: str = AMQP_URL, at_least: int = 1) -> None:
    """Wait until a worker consumes `queue` (consumer_count > 0): it has declared and bound its queue before it
    consumes, so an event published afterwards reaches it. The one worker-startup wait of the tests."""
    wait_until(lambda: consumer_count(queue, amqp_url) >= at_least, timeout=timeout,
               what=f"{at_least} consumer(s) on {queue}")


class Clock:
    """An app's clock for tests (create_app(..., clock=Clock())): the real UTC now until a test sets `at`."""

    def __init__(self, at=None):
        self.at = at

    def __call__(self):
        return self.at if self.at is not None else utcnow()


def query_rows(url: str, sql: str) -> list[tuple]:
    """The rows of `sql` on the database at `url` (a short-lived engine: migration tests read between revisions)."""
    import sqlalchemy as sa
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql))]
    finally:
        engine.dispose()
