"""Worker of the evaluation service: consumes its HANDLERS, relays its outbox and runs the scheduler loop."""
import sys

from services.evaluation.handlers import HANDLERS
from services.evaluation.models import INBOX_TABLE, OUTBOX
from services.evaluation.scheduler import Scheduler
from services.evaluation.settings import get_settings, scheduler_poll_seconds
from shared.db import make_engine, make_session_factory
from shared.worker import run_worker


def main() -> int:
    """Run the scheduler in a thread beside the consumer and the relay; stop it when the worker stops."""
    settings = get_settings()
    engine = make_engine(settings.database_url)
    scheduler = Scheduler(make_session_factory(engine), settings.feedback_base_url, scheduler_poll_seconds())
    thread = scheduler.start()
    try:
        return run_worker(settings, HANDLERS, OUTBOX, INBOX_TABLE)
    finally:
        scheduler.stop.set()
        thread.join(timeout=15)
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
