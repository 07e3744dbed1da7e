"""Settings of the needs service (NEEDS_DATABASE_URL, NEEDS_PORT and the shared variables)."""
from shared.config import Settings, load_settings

SERVICE = "needs"


def get_settings(**overrides) -> Settings:
    """Read the needs service settings from the environment."""
    return load_settings(SERVICE, **overrides)
