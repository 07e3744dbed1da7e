"""Who sends the outbox's NOTIFY (shared/outbox.py, issue 16), on PostgreSQL with a real LISTEN: every writer does,
except a thread whose commits wake this process's relays themselves (a worker's consumer, by its on_commit) — for it
the NOTIFY only woke those relays a second time, to claim rows already published."""
from __future__ import annotations

import threading
import uuid

import psycopg
import pytest
import sqlalchemy as sa

from services.funding.models import OUTBOX
from shared.bus.consumer import EventConsumer
from shared.db import make_engine, make_session_factory, transaction, utcnow
from shared.migrate import upgrade
from shared.outbox import commits_wake_the_relay
from tools.isolation import create_pg_database, drop_pg_database


@pytest.fixture
def funding_pg(postgres_available):
    url = create_pg_database("notify")
    upgrade("funding", url)
    engine = make_engine(url)
    yield url, make_session_factory(engine)
    engine.dispose()
    drop_pg_database(url)


def _emit(session_factory) -> None:
    with transaction(session_factory) as s:
        _emit_into(s)


def _notified(url: str, write) -> int:
    conninfo = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as listener:
        listener.execute(f'LISTEN "{OUTBOX.channel}"')
        thread = threading.Thread(target=write)
        thread.start()
        thread.join(10)
        return len(list(listener.notifies(timeout=0.5)))


def test_a_request_or_job_notifies_the_relay_and_a_consumer_that_wakes_it_itself_does_not(funding_pg):
    url, sf = funding_pg
    assert _notified(url, lambda: _emit(sf)) == 1

    def consumer_thread():
        with commits_wake_the_relay():
            _emit(sf)
    assert _notified(url, consumer_thread) == 0
    assert _notified(url, lambda: _emit(sf)) == 1  # the mark is the consumer thread's, not the process's

    def after_consuming():
        with commits_wake_the_relay():
            pass
        _emit(sf)
    assert _notified(url, after_consuming) == 1  # and only while it consumes


def test_only_a_consumer_given_on_commit_marks_its_thread():
    from services import get_settings
    settings = get_settings("funding")
    assert EventConsumer(settings, None, None, {}, on_commit=lambda: None).wakes_relay
    assert not EventConsumer(settings, None, None, {}).wakes_relay


def test_a_consumer_wakes_its_relay_after_a_batch_that_wrote_outbox_rows_and_only_then(funding_pg):
    """A batch that emits nothing (needs' course_completed, courses' first answer) no longer wakes a relay to claim
    nothing; a batch that emits wakes it once, after its commit; a batch rolled back leaves no mark behind."""
    from services import get_settings
    from services.funding.models import INBOX_TABLE
    from shared.bus.consumer import _Delivery
    from shared.events import Envelope

    url, sf = funding_pg
    woken: list[int] = []

    def emits(envelope, session, settings):
        _emit_into(session)

    def emits_then_fails(envelope, session, settings):
        _emit_into(session)
        raise RuntimeError("the handler failed after emitting")

    handlers = {"test.quiet": lambda envelope, session, settings: None, "test.emits": emits,
                "test.fails": emits_then_fails}
    consumer = EventConsumer(get_settings("funding", database_url=url), sf, INBOX_TABLE, handlers,
                             on_commit=lambda: woken.append(1))

    def apply(event_type: str) -> None:
        consumer._apply([_Delivery(message=None, envelope=Envelope(
            id=str(uuid.uuid4()), type=event_type, version=1, occurred_at=utcnow(), producer="test",
            correlation_id="c", causation_id=None, payload={}))])

    with commits_wake_the_relay():
        apply("test.quiet")
        assert woken == []  # nothing written, nothing to claim
        with pytest.raises(RuntimeError):
            apply("test.fails")
        apply("test.quiet")
        assert woken == []  # the rolled-back batch wrote nothing, and its mark is forgotten
        apply("test.emits")
        assert woken == [1]
    with sf() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(OUTBOX.table)) == 1


def _emit_into(session) -> None:
    OUTBOX.emit(session, "funding.course_settled", {
        "course_id": str(uuid.uuid4()), "settlement_id": str(uuid.uuid4()), "lecturer_fees": 1,
        "learner_support": 1, "total_amount": 2, "settled_at": utcnow()})
