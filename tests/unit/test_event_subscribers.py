"""No event without a subscriber piles up (issue 13): every type in the catalogue is consumed by some service's
HANDLERS table — an event nobody binds to comes back NO_ROUTE and stays in its producer's outbox forever (as
evaluation.feedback_reminder_issued did) — and every HANDLERS entry is a catalogue type."""
from __future__ import annotations

import importlib

import pytest

from shared.config import SERVICES
from shared.events import CATALOGUE

# A type kept for consumers outside this system would be listed here with the queue that keeps it; none is today.
KEPT_FOR_EXTERNAL_CONSUMERS: dict[str, str] = {}


def _handlers() -> dict[str, set[str]]:
    return {svc: set(importlib.import_module(f"services.{svc}.handlers").HANDLERS) for svc in SERVICES}


def test_every_published_type_has_a_consumer():
    consumed = set().union(*_handlers().values())
    orphans = sorted({t for t, _ in CATALOGUE} - consumed - set(KEPT_FOR_EXTERNAL_CONSUMERS))
    assert not orphans, f"published but consumed by no service: {orphans}"


@pytest.mark.parametrize("svc", SERVICES)
def test_every_subscription_is_a_catalogue_type(svc):
    unknown = _handlers()[svc] - {t for t, _ in CATALOGUE}
    assert not unknown, unknown


def test_the_reminder_and_the_per_recipient_notices_go_to_needs():
    needs = _handlers()["needs"]
    assert {"evaluation.feedback_reminder_issued", "evaluation.trainee_feedback_requested",
            "evaluation.followup_requested", "courses.course_notice_issued"} <= needs
