"""Worker of the needs service: consumes its HANDLERS and relays its outbox."""
import sys

from services.needs.handlers import HANDLERS
from services.needs.models import INBOX_TABLE, OUTBOX
from services.needs.settings import get_settings
from shared.worker import run_worker


def main() -> int:
    return run_worker(get_settings(), HANDLERS, OUTBOX, INBOX_TABLE)


if __name__ == "__main__":
    sys.exit(main())
