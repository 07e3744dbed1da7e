"""Worker of the courses service: consumes its HANDLERS and relays its outbox."""
import sys

from services.courses.handlers import HANDLERS
from services.courses.models import INBOX_TABLE, OUTBOX
from services.courses.settings import get_settings
from shared.worker import run_worker


def main() -> int:
    """Consume the subscribed events and relay the outbox until stopped; return the exit code."""
    return run_worker(get_settings(), HANDLERS, OUTBOX, INBOX_TABLE)


if __name__ == "__main__":
    sys.exit(main())
