"""Settings of the evaluation service (EVALUATION_DATABASE_URL, EVALUATION_PORT, FEEDBACK_BASE_URL,
FEEDBACK_WINDOW_DAYS, EVALUATION_SCHEDULER_POLL_SECONDS and the shared variables): the service's only reader of the
environment."""
from dataclasses import dataclass

from shared.config import Settings, env, load_settings

SERVICE = "evaluation"


@dataclass(frozen=True)
class EvaluationSettings(Settings):
    feedback_base_url: str = "http://127.0.0.1:8003"  # where trainees open their feedback links
    feedback_window_days: int | None = None  # an operator override of the answer window; None = the rule in force
    scheduler_poll_seconds: float = 1.0  # how often the worker looks for due jobs


def get_settings(**overrides) -> EvaluationSettings:
    """Read the evaluation service settings from the environment; keyword overrides win."""
    return load_settings(SERVICE, EvaluationSettings, **{
        "feedback_base_url": env("FEEDBACK_BASE_URL", "http://127.0.0.1:8003"),
        "feedback_window_days": env("FEEDBACK_WINDOW_DAYS", None, int),
        "scheduler_poll_seconds": env("EVALUATION_SCHEDULER_POLL_SECONDS", 1.0, float),
        **overrides})

