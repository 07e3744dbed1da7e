"""Settings of the courses service (COURSES_DATABASE_URL, COURSES_PORT and the shared variables)."""
import os

from shared.config import Settings, load_settings

SERVICE = "courses"


def get_settings(**overrides) -> Settings:
    """Read the courses service settings from the environment."""
    return load_settings(SERVICE, **overrides)


def default_organizer_unit() -> str:
    """Return the unit that organises courses proposed from a plan (COURSES_ORGANIZER_UNIT, default CM-THOIBINH)."""
    return os.environ.get("COURSES_ORGANIZER_UNIT") or "CM-THOIBINH"
