"""Worker of the evaluation service: consumes its HANDLERS, relays its outbox and runs its due JOBS."""
import sys

from services.evaluation.handlers import HANDLERS
from services.evaluation.jobs import bound
from services.evaluation.models import INBOX_TABLE, JOBS_TABLE, OUTBOX
from services.evaluation.settings import get_settings
from shared.jobs import tick
from shared.worker import run_worker


def main() -> int:
    """Consume, relay, and run the due jobs (reminders, closing, follow-up surveys) until stopped."""
    settings = get_settings()
    jobs = (tick(JOBS_TABLE, bound(settings)), settings.scheduler_poll_seconds)
    return run_worker(settings, HANDLERS, OUTBOX, INBOX_TABLE, loops={"evaluation-jobs": jobs})


if __name__ == "__main__":
    sys.exit(main())
