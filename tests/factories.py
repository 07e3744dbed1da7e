"""Factories for test data: the event factories live in tests/events.py (one per catalogue event); this module
keeps the names its callers import."""
from __future__ import annotations

from tests.events import COMMUNES, make_course_completed  # noqa: F401 - re-exported
