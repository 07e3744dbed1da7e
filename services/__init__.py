"""The four services: needs, courses, evaluation, funding. Each owns its database and talks over events."""


def get_settings(service: str, **overrides):
    """The settings of one service by name (its own `settings.get_settings`), for tools and tests that start any."""
    from importlib import import_module
    return import_module(f"services.{service}.settings").get_settings(**overrides)
