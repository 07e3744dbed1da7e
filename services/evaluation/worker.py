"""Worker of the evaluation service: consumes its HANDLERS, relays its outbox and runs the scheduler's due jobs."""
import sys

from services.evaluation.handlers import HANDLERS
from services.evaluation.models import INBOX_TABLE, OUTBOX
from services.evaluation.scheduler import run_due_jobs
from services.evaluation.settings import get_settings
from shared.worker import run_worker


def main() -> int:
    """Consume, relay, and poll the scheduler's due jobs until stopped."""
    settings = get_settings()
    due_jobs = (lambda session_factory, stop: run_due_jobs(session_factory, settings.feedback_base_url),
                settings.scheduler_poll_seconds)
    return run_worker(settings, HANDLERS, OUTBOX, INBOX_TABLE, loops={"evaluation-scheduler": due_jobs})


if __name__ == "__main__":
    sys.exit(main())
