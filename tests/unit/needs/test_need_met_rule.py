"""The rule that marks a training need met (issue 10, defect 2): a certified completion, never an assessed level."""
from __future__ import annotations

import pytest

from services.needs import domain
from services.needs.domain import Evidence, meets_training_need


@pytest.mark.parametrize("completed, certified, met", [
    (True, True, True), (True, False, False), (False, False, False), (False, True, True),
    (True, None, True), (False, None, False),  # a producer without `certified`: completion stands for it
])
def test_a_completion_meets_a_training_need_only_when_certified(completed, certified, met):
    assert meets_training_need(Evidence.CERTIFIED_COMPLETION, completed=completed, certified=certified) is met
    assert domain.is_certified(completed, certified) is met


def test_an_assessed_level_never_meets_a_training_need_by_itself():
    assert meets_training_need(Evidence.ASSESSED_LEVEL) is False
    assert meets_training_need(Evidence.ASSESSED_LEVEL, completed=True, certified=True) is False


def test_unknown_evidence_is_refused():
    with pytest.raises(ValueError):
        meets_training_need("rumour")
