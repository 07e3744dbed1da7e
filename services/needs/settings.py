"""Settings of the needs service (NEEDS_DATABASE_URL, NEEDS_PORT and the shared variables)."""
import os

from shared.config import Settings, load_settings

SERVICE = "needs"


def get_settings(**overrides) -> Settings:
    """Read the needs service settings from the environment."""
    return load_settings(SERVICE, **overrides)


def close_inline_limit() -> int:
    """People up to which POST /campaigns/{id}/close computes the needs in the request (NEEDS_CLOSE_INLINE_LIMIT).

    A district or a province (a few thousand people) closes in seconds; above this the close becomes a job of the
    worker, because a national campaign takes longer than gunicorn's request timeout.
    """
    return int(os.environ.get("NEEDS_CLOSE_INLINE_LIMIT") or 20000)


def job_poll_seconds() -> float:
    """How often the worker looks for queued close jobs (NEEDS_JOB_POLL_SECONDS)."""
    return float(os.environ.get("NEEDS_JOB_POLL_SECONDS") or 2)
