"""The relays' wake-up (shared/bus/relay.py Wakeup, issue 16): one signal wakes one relay and is used up by it —
a threading.Event woke every relay of the worker, and all but one then claimed nothing; and the consumer's linger
(shared/bus/consumer.py drain_timeout), which lets a stream's batch fill but no longer delays a lone event."""
from __future__ import annotations

import threading
import time

from shared.bus.relay import Wakeup


def _waiters(wake: Wakeup, n: int, timeout: float):
    woken: list[bool] = []
    lock = threading.Lock()

    def wait():
        taken = wake.wait(timeout)
        with lock:
            woken.append(taken)
    threads = [threading.Thread(target=wait) for _ in range(n)]
    for t in threads:
        t.start()
    return threads, woken


def _until_waiting(wake: Wakeup, n: int) -> None:
    deadline = time.monotonic() + 5
    while len(wake._cond._waiters) < n:  # noqa: SLF001 - the test waits until both relays are really waiting
        assert time.monotonic() < deadline, "the waiters never waited"
        time.sleep(0.001)


def test_one_signal_wakes_one_of_two_waiting_relays_and_is_used_up():
    wake = Wakeup()
    threads, woken = _waiters(wake, 2, timeout=0.5)
    _until_waiting(wake, 2)
    wake.set()
    for t in threads:
        t.join(5)
    assert sorted(woken) == [False, True]  # one took it; the other waited out its poll interval
    assert wake.wait(0) is False  # and it is used up


def test_a_signal_given_while_no_relay_waits_is_kept_for_the_next_wait():
    wake = Wakeup()
    wake.set()
    assert wake.wait(0) is True  # at once, though nobody waited when it was given
    assert wake.wait(0.01) is False  # used up


def test_wake_all_wakes_every_relay_for_stopping():
    wake = Wakeup()
    threads, woken = _waiters(wake, 2, timeout=5)
    _until_waiting(wake, 2)
    started = time.monotonic()
    wake.wake_all()
    for t in threads:
        t.join(5)
    assert len(woken) == 2 and time.monotonic() - started < 2  # neither waited out its 5 s


def test_a_lone_event_is_applied_at_once_and_a_stream_lingers_for_its_batch():
    from shared.bus.consumer import LINGER_SECONDS, drain_timeout
    assert drain_timeout(0, 0) == drain_timeout(0, 200) == 1.0  # nothing in hand: wait for the broker
    assert drain_timeout(1, 0) == drain_timeout(1, 1) == 0.0  # after a quiet spell: flush unless more is there
    assert drain_timeout(1, 2) == drain_timeout(150, 200) == LINGER_SECONDS  # in a stream: let the batch fill
