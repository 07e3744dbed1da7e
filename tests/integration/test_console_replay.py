"""A group replay carried out by the service's worker (shared/console_replay.py) on a real funding database (both
backends) and the real broker: the console's request only records it; a worker process killed between the two steps
of a batch (after the database step, or after the broker's) and started again sends every message of the group
exactly once — counted per message id in the service's queue — and the progress ends right."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import sqlalchemy as sa

from services.funding.models import CONSOLE_TABLES
from shared import console_replay
from shared.console_replay import OP_HEADER, replay_tick, run_pass
from tests.helpers import wait_until
from tests.integration.test_console import EVENT, REASON_A, REASON_B, console, depth_becomes, park  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
KILLED = 9


def delivered(broker, settings) -> Counter:
    """Every message now in the service's queue (taken), counted per message id."""
    out = Counter()
    while (msg := broker.get(settings.queue)) is not None:
        out[msg[1].message_id] += 1
    return out


def operation(db, op_id):
    operations, _ = CONSOLE_TABLES
    return db.rows(sa.select(operations).where(operations.c.id == op_id))[0]


def recorded_ids(db, op_id) -> set[str]:
    _, items = CONSOLE_TABLES
    return {r.message_id for r in db.rows(sa.select(items.c.message_id).where(items.c.operation_id == op_id))}


def run_until_done(console, op_id, tick=None) -> None:
    """The worker's loop round (settled at once), until the operation is done."""
    import threading
    tick = tick or replay_tick(console.settings, CONSOLE_TABLES[0].metadata, batch=2, settle_seconds=0)
    stop = threading.Event()
    wait_until(lambda: tick(console.db.session_factory, stop) == 0 and operation(console.db, op_id).status == "done",
               timeout=30, what="the operation done")


def killed_worker(console, op_id, step: str, nth: int) -> int:
    """A worker process running the operation in batches of 2, killed (os._exit) at the `nth` `step`."""
    s = console.settings
    args = json.dumps({"exchange": s.exchange, "queue_prefix": s.queue_prefix, "amqp_url": s.amqp_url,
                       "database_url": console.db.url, "op_id": op_id, "step": step, "nth": nth})
    proc = subprocess.run([sys.executable, "-m", "tests.integration.test_console_replay", args], cwd=ROOT,
                          capture_output=True, timeout=120)
    assert proc.returncode == KILLED, proc.stderr.decode()[-3000:]
    return proc.returncode


def start(console, reason=REASON_A, note="định mức đã nạp") -> str:
    res = console.client.post("/admin/console/replay", data={"event_type": EVENT, "reason": reason, "note": note,
                                                             "csrf": console.csrf()})
    assert res.status_code == 303, res.get_data(as_text=True)
    return res.headers["Location"].rsplit("/", 1)[1]


def test_the_request_records_the_replay_and_the_worker_carries_it_out(console, broker):
    s = console.settings
    group = {park(broker, s, REASON_A)[0] for _ in range(5)}
    park(broker, s, REASON_B)
    console.login("Trần Thị Bình")
    op_id = start(console)
    depth_becomes(broker, s.dead_letter_queue, 6)  # the request sent nothing
    assert broker.depth(s.queue) == 0
    page = console.client.get(f"/admin/console/operations/{op_id}").get_data(as_text=True)
    assert 'http-equiv="refresh"' in page and 'data-status="running"' in page and 'id="progress">0/5<' in page
    assert 'id="no-worker"' in page  # nothing consumes the funding queue in this test
    assert "Trần Thị Bình" in page and "định mức đã nạp" in page and "<script" not in page
    index = console.client.get("/admin/console/").get_data(as_text=True)
    assert "đang chạy / running" in index and "Đang chạy <span class=\"en\">running</span> <b>1</b>" in index

    run_until_done(console, op_id)
    assert delivered(broker, s) == Counter(group)
    page = console.client.get(f"/admin/console/operations/{op_id}").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in page and 'data-status="done"' in page and 'id="progress">5/5<' in page
    assert 'id="finished">—<' not in page
    depth_becomes(broker, s.dead_letter_queue, 1)  # the other group stays parked
    op = operation(console.db, op_id)
    assert (op.status, op.sent, op.total, op.skipped, op.actor) == ("done", 5, 5, 0, "Trần Thị Bình")
    assert recorded_ids(console.db, op_id) == group
    with console.db.session_factory() as session:
        assert console_replay.operation_counts(session, CONSOLE_TABLES) == {"running": 0, "done": 1, "failed": 0}


def test_killed_after_recording_a_batch_it_sends_the_batch_once_when_started_again(console, broker):
    s = console.settings
    group = {park(broker, s, REASON_A)[0] for _ in range(5)}
    other, _ = park(broker, s, REASON_B)
    console.login()
    op_id = start(console)
    killed_worker(console, op_id, "recorded", 2)  # batch 1 sent; batch 2 recorded, never published
    first = delivered(broker, s)
    assert len(first) == 2 and set(first) <= group and set(first.values()) == {1}
    op = operation(console.db, op_id)
    assert (op.status, op.sent) == ("running", 4)  # recorded with its batch
    assert len(recorded_ids(console.db, op_id)) == 4
    depth_becomes(broker, s.dead_letter_queue, 4)  # the killed channel's copies are parked again

    run_until_done(console, op_id)
    second = delivered(broker, s)
    assert first + second == Counter(group)  # every message of the group, each exactly once
    assert other not in second
    op = operation(console.db, op_id)
    assert (op.status, op.sent, op.total, op.skipped) == ("done", 5, 5, 0)
    assert recorded_ids(console.db, op_id) == group
    depth_becomes(broker, s.dead_letter_queue, 1)


def test_killed_between_a_publish_and_the_broker_commit_it_sends_the_batch_once(console, broker):
    """The broker's step is one AMQP transaction: a copy published and not yet committed is neither sent nor
    retired when the worker dies (with publish-then-ack it would be sent and parked again, its id recorded)."""
    s = console.settings
    group = {park(broker, s, REASON_A)[0] for _ in range(5)}
    console.login()
    op_id = start(console)
    killed_worker(console, op_id, "sending", 3)  # batch 1 sent; batch 2's first copy published, not committed
    first = delivered(broker, s)
    assert len(first) == 2 and set(first.values()) == {1}
    depth_becomes(broker, s.dead_letter_queue, 3)
    run_until_done(console, op_id)
    assert first + delivered(broker, s) == Counter(group)
    op = operation(console.db, op_id)
    assert (op.status, op.sent, op.total) == ("done", 5, 5)


def test_killed_after_publishing_a_batch_it_never_sends_it_again(console, broker):
    s = console.settings
    group = {park(broker, s, REASON_A)[0] for _ in range(5)}
    park(broker, s, REASON_B)
    console.login()
    op_id = start(console)
    killed_worker(console, op_id, "published", 2)  # batches 1 and 2 sent; killed before recording batch 3
    first = delivered(broker, s)
    assert len(first) == 4 and set(first) <= group and set(first.values()) == {1}
    assert operation(console.db, op_id).sent == 4
    depth_becomes(broker, s.dead_letter_queue, 2)

    run_until_done(console, op_id)
    second = delivered(broker, s)
    assert first + second == Counter(group)
    op = operation(console.db, op_id)
    assert (op.status, op.sent, op.total) == ("done", 5, 5)


def test_a_copy_parked_again_after_its_replay_stays_parked_and_a_second_copy_is_retired(console, broker):
    s = console.settings
    console.login()
    first_id, body = park(broker, s, REASON_A)
    op_id = start(console, note="")
    # the handler failed again: the consumer parked the replayed copy, with the operation's header kept
    broker.publish_to_queue(s.dead_letter_queue, body, first_id, correlation_id=json.loads(body)["correlation_id"],
                            headers={"x-dead-letter-reason": REASON_A, OP_HEADER: op_id})
    twice, twice_body = park(broker, s, REASON_A)
    broker.publish_to_queue(s.dead_letter_queue, twice_body, twice, headers={"x-dead-letter-reason": REASON_A})
    depth_becomes(broker, s.dead_letter_queue, 4)
    handled = run_pass(s, console.db.session_factory, CONSOLE_TABLES, op_id, batch=10, settle_seconds=0)
    assert handled == 3  # first_id's original, twice's two copies
    assert run_pass(s, console.db.session_factory, CONSOLE_TABLES, op_id, settle_seconds=0) == 0
    assert delivered(broker, s) == Counter([first_id, twice])
    op = operation(console.db, op_id)
    assert (op.status, op.sent, op.skipped) == ("done", 2, 1)
    depth_becomes(broker, s.dead_letter_queue, 1)  # the copy that came back: for the operator to look at
    [(_, props, _)] = broker.take(s.dead_letter_queue, 1)
    assert props.message_id == first_id and props.headers[OP_HEADER] == op_id


def test_an_operation_waits_to_settle_before_it_is_done(console, broker):
    """A pass finding nothing to send ends the operation only SETTLE_SECONDS after its last step (a requeued copy
    shows a moment later); a replay whose group is gone meanwhile ends too."""
    from datetime import timedelta
    s = console.settings
    console.login()
    park(broker, s, REASON_A)
    op_id = start(console)
    depth_becomes(broker, s.dead_letter_queue, 1)
    broker.take(s.dead_letter_queue, 1)  # an operator purged the group meanwhile
    t0 = operation(console.db, op_id).updated_at
    assert run_pass(s, console.db.session_factory, CONSOLE_TABLES, op_id, clock=lambda: t0 + timedelta(seconds=1),
                    settle_seconds=3) == 0
    assert operation(console.db, op_id).status == "running"
    run_pass(s, console.db.session_factory, CONSOLE_TABLES, op_id, clock=lambda: t0 + timedelta(seconds=3),
             settle_seconds=3)
    op = operation(console.db, op_id)
    assert (op.status, op.sent, op.total) == ("done", 0, 1)


def test_a_replay_another_worker_holds_is_left_alone_and_one_without_its_queue_fails(console, broker,
                                                                                    db_url_factory):
    """Two workers of one service: the one that does not hold the operation's advisory lock sends nothing
    (PostgreSQL; SQLite has one worker). A replay whose destination queue is gone fails, taking nothing."""
    import dataclasses
    s = console.settings
    console.login()
    park(broker, s, REASON_A)
    op_id = start(console)
    if db_url_factory.backend == "postgresql":
        with console.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as other:
            assert other.scalar(sa.select(sa.func.pg_try_advisory_lock(console_replay._lock_key(op_id))))
            assert run_pass(s, console.db.session_factory, CONSOLE_TABLES, op_id, settle_seconds=0) == 0
            assert operation(console.db, op_id).status == "running" and broker.depth(s.queue) == 0
            other.scalar(sa.select(sa.func.pg_advisory_unlock(console_replay._lock_key(op_id))))
    elsewhere = dataclasses.replace(s, queue_prefix=s.queue_prefix + "gone.")  # no queue declared there
    assert run_pass(elsewhere, console.db.session_factory, CONSOLE_TABLES, op_id, settle_seconds=0) == 0
    op = operation(console.db, op_id)
    assert (op.status, op.last_error, op.sent) == ("failed", "QueueNotFound", 0)
    page = console.client.get(f"/admin/console/operations/{op_id}").get_data(as_text=True)
    assert 'data-status="failed"' in page and "Thất bại" in page and 'http-equiv="refresh"' not in page
    depth_becomes(broker, s.dead_letter_queue, 1)  # still parked
    assert run_pass(s, console.db.session_factory, CONSOLE_TABLES, op_id, settle_seconds=0) == 0  # failed stays


def test_the_service_worker_process_carries_a_recorded_replay_out(console, broker, bus, tmp_path):
    """The real funding worker (python -m services.funding.worker), started after the operation was recorded, picks it
    up: its consumer settles each replayed course once; SIGTERM stops it cleanly."""
    import signal
    from services.funding.models import INBOX_TABLE, Settlement
    from shared.db import utcnow
    from tests.helpers import wait_for_consumer
    from tests.integration.conftest import RETRY_DELAYS_MS, course_completed

    s = console.settings
    events = [course_completed() for _ in range(3)]
    for env, body in events:
        broker.publish_to_queue(s.dead_letter_queue, body, env.id, correlation_id=env.correlation_id, headers={
            "x-dead-letter-reason": REASON_B, "x-dead-lettered-at": utcnow().isoformat(),
            "x-original-routing-key": EVENT})
    seed = console.client.post("/admin/funding/seed", json={"fiscal_year": 2025,
                                                            "communes": ["CM-TANLOC", "CM-TRIPHAI"]},
                               headers={"Authorization": f"Bearer {s.admin_token}"})
    assert seed.status_code == 200, seed.get_data(as_text=True)
    console.login("Phạm Thị Lan")
    op_id = start(console, reason=REASON_B, note="định mức đã nạp")
    env = {**os.environ, **bus.env(), "FUNDING_DATABASE_URL": console.db.url, "LOG_LEVEL": "WARNING",
           "VAR_DIR": str(tmp_path), "CONSOLE_REPLAY_POLL_SECONDS": "0.2",
           "RETRY_DELAYS_MS": ",".join(map(str, RETRY_DELAYS_MS))}  # the queues the test declared
    log = open(tmp_path / "worker.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "services.funding.worker"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        wait_for_consumer(s.queue, timeout=60)

        def settled():
            with console.db.session_factory() as session:
                return set(session.scalars(sa.select(Settlement.course_id)))
        wait_until(lambda: settled() == {e.payload["course_id"] for e, _ in events}, timeout=60,
                   what="three settled " + (tmp_path / "worker.log").read_text()[-2000:])
        wait_until(lambda: operation(console.db, op_id).status == "done", timeout=30, what="the operation done")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    op = operation(console.db, op_id)
    assert (op.sent, op.total, op.skipped) == (3, 3, 0)
    applied = Counter(console.db.rows(sa.select(INBOX_TABLE.c.message_id)))
    assert {r[0] for r in applied} == {e.id for e, _ in events} and set(applied.values()) == {1}
    page = console.client.get(f"/admin/console/operations/{op_id}").get_data(as_text=True)
    assert 'data-status="done"' in page and 'id="progress">3/3<' in page and "Phạm Thị Lan" in page
    depth_becomes(broker, s.dead_letter_queue, 0)


def _killed_worker_main(args: dict) -> None:
    """The killed worker of killed_worker(): the pass, and os._exit at the chosen step (no cleanup, as a kill)."""
    from shared.db import make_engine, make_session_factory
    from tools.isolation import BusNamespace
    settings = BusNamespace(args["exchange"], args["queue_prefix"]).settings(
        "funding", database_url=args["database_url"], amqp_url=args["amqp_url"])
    seen = Counter()

    def step(name: str) -> None:
        seen[name] += 1
        if name == args["step"] and seen[name] == args["nth"]:
            os._exit(KILLED)
    factory = make_session_factory(make_engine(settings.database_url))
    run_pass(settings, factory, CONSOLE_TABLES, args["op_id"], batch=2, settle_seconds=0, on_step=step)
    sys.exit(1)  # not killed: the test fails


if __name__ == "__main__":
    _killed_worker_main(json.loads(sys.argv[1]))
