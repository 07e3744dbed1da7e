"""Settings of the funding service (FUNDING_DATABASE_URL, FUNDING_PORT, FUNDING_PROVINCE and the shared
variables): the service's only reader of the environment."""
from dataclasses import dataclass

from shared.config import Settings, env, load_settings

SERVICE = "funding"


@dataclass(frozen=True)
class FundingSettings(Settings):
    province_code: str = "CM"  # province whose cost norms apply (CM = Cà Mau)


def get_settings(**overrides) -> FundingSettings:
    """Read the funding service settings from the environment; keyword overrides win."""
    return load_settings(SERVICE, FundingSettings, **{"province_code": env("FUNDING_PROVINCE", "CM"), **overrides})


def province_code() -> str:
    """Province whose cost norms apply (FUNDING_PROVINCE, default CM = Cà Mau)."""
    return get_settings().province_code
