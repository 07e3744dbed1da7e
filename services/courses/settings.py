"""Settings of the courses service (COURSES_DATABASE_URL, COURSES_PORT, COURSES_ORGANIZER_UNIT, the check-in attempt
limits COURSES_CHECKIN_MAX_FAILURES_PER_LINK / _PER_CLIENT / COURSES_CHECKIN_FAILURE_WINDOW_MINUTES,
COURSES_CLIENT_ADDRESS_HEADER and the shared variables): the service's only reader of the environment."""
from dataclasses import dataclass

from shared.config import Settings, env, load_settings

SERVICE = "courses"


@dataclass(frozen=True)
class CoursesSettings(Settings):
    organizer_unit: str = "CM-THOIBINH"  # the unit that organises courses proposed from a plan
    # Refused check-in attempts (unknown link or personal token, a staff code) allowed per session link and per
    # client within the window before every attempt from there is answered 429. A security setting, not a rule:
    # no regulation sets it. A trainee with their own link never fails, so the limits only meet guessing.
    checkin_max_failures_per_link: int = 20
    checkin_max_failures_per_client: int = 10
    checkin_failure_window_minutes: int = 15
    # The header carrying the client's address from the proxy in front (deploy/nginx sets X-Real-IP and overwrites
    # any value a client sends); empty: the socket's peer address (a web run without the proxy).
    client_address_header: str = "X-Real-IP"


def get_settings(**overrides) -> CoursesSettings:
    """Read the courses service settings from the environment; keyword overrides win."""
    return load_settings(SERVICE, CoursesSettings, **{
        "organizer_unit": env("COURSES_ORGANIZER_UNIT", "CM-THOIBINH"),
        "checkin_max_failures_per_link": env("COURSES_CHECKIN_MAX_FAILURES_PER_LINK", 20, int),
        "checkin_max_failures_per_client": env("COURSES_CHECKIN_MAX_FAILURES_PER_CLIENT", 10, int),
        "checkin_failure_window_minutes": env("COURSES_CHECKIN_FAILURE_WINDOW_MINUTES", 15, int),
        "client_address_header": env("COURSES_CLIENT_ADDRESS_HEADER", "X-Real-IP"), **overrides})
