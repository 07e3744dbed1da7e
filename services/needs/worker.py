"""Worker of the needs service: consumes its HANDLERS, relays its outbox and runs the close-campaign jobs."""
import sys

from services.needs import jobs
from services.needs.handlers import HANDLERS
from services.needs.models import INBOX_TABLE, OUTBOX
from services.needs.settings import get_settings, job_poll_seconds
from shared.worker import run_worker


def main() -> int:
    """Consume, relay, and poll the close-campaign jobs and due reorganisations until stopped."""
    return run_worker(get_settings(), HANDLERS, OUTBOX, INBOX_TABLE,
                      loops={"needs-close-jobs": (jobs.tick, job_poll_seconds())})


if __name__ == "__main__":
    sys.exit(main())
