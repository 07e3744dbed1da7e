"""Settings of the courses service (COURSES_DATABASE_URL, COURSES_PORT, COURSES_ORGANIZER_UNIT and the shared
variables): the service's only reader of the environment."""
from dataclasses import dataclass

from shared.config import Settings, env, load_settings

SERVICE = "courses"


@dataclass(frozen=True)
class CoursesSettings(Settings):
    organizer_unit: str = "CM-THOIBINH"  # the unit that organises courses proposed from a plan


def get_settings(**overrides) -> CoursesSettings:
    """Read the courses service settings from the environment; keyword overrides win."""
    return load_settings(SERVICE, CoursesSettings, **{
        "organizer_unit": env("COURSES_ORGANIZER_UNIT", "CM-THOIBINH"), **overrides})

