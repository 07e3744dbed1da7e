"""Worker of the funding service: consumes its HANDLERS and relays its outbox (and would run its JOBS)."""
import sys

from services.funding.handlers import HANDLERS
from services.funding.jobs import JOBS
from services.funding.models import INBOX_TABLE, OUTBOX
from services.funding.settings import get_settings
from shared.worker import run_worker


def main() -> int:
    """Consume the subscribed events and relay the outbox until stopped; return the exit code."""
    assert not JOBS, "funding has no jobs table: add one with shared.jobs.job_table before listing jobs"
    return run_worker(get_settings(), HANDLERS, OUTBOX, INBOX_TABLE, loops={})


if __name__ == "__main__":
    sys.exit(main())
