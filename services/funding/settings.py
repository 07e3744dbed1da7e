"""Settings of the funding service (FUNDING_DATABASE_URL, FUNDING_PORT, FUNDING_PROVINCE and the shared
variables): the service's only reader of the environment."""
from dataclasses import dataclass

from shared.config import Settings, env, load_settings

SERVICE = "funding"
DEFAULT_PROVINCE = "CM"  # Cà Mau


@dataclass(frozen=True)
class FundingSettings(Settings):
    province_code: str = DEFAULT_PROVINCE  # province whose cost norms apply


def get_settings(**overrides) -> FundingSettings:
    """Read the funding service settings from the environment; keyword overrides win."""
    return load_settings(SERVICE, FundingSettings,
                         **{"province_code": env("FUNDING_PROVINCE", DEFAULT_PROVINCE), **overrides})

