"""Worker of the courses service: consumes its HANDLERS, relays its outbox and runs its JOBS (none today)."""
import sys

from services.courses.handlers import HANDLERS
from services.courses.jobs import JOBS
from services.courses.models import INBOX_TABLE, OUTBOX
from services.courses.settings import get_settings
from shared.worker import run_worker


def main() -> int:
    """Consume the subscribed events and relay the outbox until stopped; return the exit code."""
    assert not JOBS, "courses has no jobs table: add one with shared.jobs.job_table before listing jobs"
    return run_worker(get_settings(), HANDLERS, OUTBOX, INBOX_TABLE, loops={})


if __name__ == "__main__":
    sys.exit(main())
