"""Worker of the needs service: consumes its HANDLERS, relays its outbox and runs the close-campaign jobs."""
import sys

from services.needs.handlers import HANDLERS
from services.needs.jobs import CloseJobRunner
from services.needs.models import INBOX_TABLE, OUTBOX
from services.needs.settings import get_settings, job_poll_seconds
from shared.db import make_engine, make_session_factory
from shared.worker import run_worker


def main() -> int:
    """Run the close-job loop in a thread beside the consumer and the relay; stop it when the worker stops."""
    settings = get_settings()
    engine = make_engine(settings.database_url)
    runner = CloseJobRunner(make_session_factory(engine), job_poll_seconds())
    thread = runner.start()
    try:
        return run_worker(settings, HANDLERS, OUTBOX, INBOX_TABLE)
    finally:
        runner.stop.set()
        thread.join(timeout=30)
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
