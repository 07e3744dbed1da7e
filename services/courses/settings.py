"""Settings of the courses service (COURSES_DATABASE_URL, COURSES_PORT and the shared variables)."""
from shared.config import Settings, load_settings

SERVICE = "courses"


def get_settings(**overrides) -> Settings:
    """Read the courses service settings from the environment."""
    return load_settings(SERVICE, **overrides)
