"""Worker of the evaluation service: consumes its HANDLERS and relays its outbox."""
import sys

from services.evaluation.handlers import HANDLERS
from services.evaluation.models import INBOX_TABLE, OUTBOX
from services.evaluation.settings import get_settings
from shared.worker import run_worker


def main() -> int:
    return run_worker(get_settings(), HANDLERS, OUTBOX, INBOX_TABLE)


if __name__ == "__main__":
    sys.exit(main())
