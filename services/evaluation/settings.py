"""Settings of the evaluation service (EVALUATION_DATABASE_URL, EVALUATION_PORT and the shared variables)."""
from shared.config import Settings, load_settings

SERVICE = "evaluation"


def get_settings(**overrides) -> Settings:
    """Read the evaluation service settings from the environment."""
    return load_settings(SERVICE, **overrides)


def feedback_window_days() -> int:
    """Days a trainee has to answer after the course completes (FEEDBACK_WINDOW_DAYS, default 14)."""
    import os
    return int(os.environ.get("FEEDBACK_WINDOW_DAYS") or 14)
