"""Worker of the needs service: consumes its HANDLERS, relays its outbox, runs the close-campaign jobs and sends the
deliveries (issue 13)."""
import sys

from services.needs import jobs
from services.needs.handlers import HANDLERS
from services.needs.models import INBOX_TABLE, OUTBOX
from services.needs.settings import get_settings
from shared.worker import run_worker


def main() -> int:
    """Consume, relay, poll the close-campaign jobs and due reorganisations, and send the due deliveries until
    stopped."""
    settings = get_settings()
    # job threads side by side (NEEDS_JOB_THREADS; one on SQLite): the lanes of a close are computed at once
    threads = 1 if settings.is_sqlite else settings.job_threads
    loops = {"needs-jobs": (jobs.tick, settings.job_poll_seconds),
             **{f"needs-jobs-{k}": (jobs.lane_tick, settings.job_poll_seconds) for k in range(2, threads + 1)},
             "needs-deliveries": (jobs.deliveries_tick(settings), settings.notify_poll_seconds)}
    return run_worker(settings, HANDLERS, OUTBOX, INBOX_TABLE, loops=loops)


if __name__ == "__main__":
    sys.exit(main())
