"""Settings of the needs service (NEEDS_DATABASE_URL, NEEDS_PORT, NEEDS_CLOSE_INLINE_LIMIT, NEEDS_JOB_POLL_SECONDS and
the shared variables): the service's only reader of the environment."""
from dataclasses import dataclass

from shared.config import Settings, env, load_settings

SERVICE = "needs"


@dataclass(frozen=True)
class NeedsSettings(Settings):
    # People up to which POST /campaigns/{id}/close computes the needs in the request. A district or a province (a
    # few thousand people) closes in seconds; above this the close becomes a job of the worker, because a national
    # campaign takes longer than gunicorn's request timeout.
    close_inline_limit: int = 20000
    job_poll_seconds: float = 2.0  # how often the worker looks for queued jobs


def get_settings(**overrides) -> NeedsSettings:
    """Read the needs service settings from the environment; keyword overrides win."""
    return load_settings(SERVICE, NeedsSettings, **{
        "close_inline_limit": env("NEEDS_CLOSE_INLINE_LIMIT", 20000, int),
        "job_poll_seconds": env("NEEDS_JOB_POLL_SECONDS", 2.0, float),
        **overrides})

