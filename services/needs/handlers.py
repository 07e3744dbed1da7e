"""Inbound events of the needs service (none yet: later issues close the loop from courses and evaluation)."""

HANDLERS: dict = {}
