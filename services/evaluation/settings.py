"""Settings of the evaluation service (EVALUATION_DATABASE_URL, EVALUATION_PORT and the shared variables)."""
import os

from shared.config import Settings, load_settings

SERVICE = "evaluation"


def get_settings(**overrides) -> Settings:
    """Read the evaluation service settings from the environment."""
    return load_settings(SERVICE, **overrides)


def feedback_window_days() -> int | None:
    """An operator override of the answer window in days (FEEDBACK_WINDOW_DAYS); None = the rule in force."""
    value = os.environ.get("FEEDBACK_WINDOW_DAYS")
    return int(value) if value not in (None, "") else None


def scheduler_poll_seconds() -> float:
    """How often the scheduler loop looks for due jobs (EVALUATION_SCHEDULER_POLL_SECONDS, default 1)."""
    return float(os.environ.get("EVALUATION_SCHEDULER_POLL_SECONDS") or 1.0)
