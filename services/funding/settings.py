"""Settings of the funding service (FUNDING_DATABASE_URL, FUNDING_PORT and the shared variables)."""
from shared.config import Settings, load_settings

SERVICE = "funding"


def get_settings(**overrides) -> Settings:
    """Read the funding service settings from the environment."""
    return load_settings(SERVICE, **overrides)


def province_code() -> str:
    """Province whose cost norms apply (FUNDING_PROVINCE, default CM = Cà Mau)."""
    import os
    return os.environ.get("FUNDING_PROVINCE") or "CM"
