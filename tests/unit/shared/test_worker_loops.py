"""A service's polling loop inside the worker: survives a failing round, wakes the relay after work, stops on signal."""
import threading

from shared.worker import _poll


def test_a_polling_loop_survives_a_failing_round_wakes_the_relay_after_work_and_stops_with_the_worker():
    stop, wake, rounds = threading.Event(), threading.Event(), []

    def tick(session_factory, stop_event):
        rounds.append(session_factory)
        if len(rounds) == 1:
            raise RuntimeError("database restarting")
        if len(rounds) == 3:
            stop_event.set()  # the worker is told to stop while the loop works
        return 1 if len(rounds) == 2 else 0

    thread = threading.Thread(target=_poll, args=("test-loop", tick, 0.01, "factory", stop, wake))
    thread.start()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert rounds == ["factory"] * 3  # the failing round did not end the loop
    assert wake.is_set()  # the round that ran work woke the relay
