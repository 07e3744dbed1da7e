"""The evaluation HTTP contract matches the domain's criteria."""
from services.evaluation.domain import CRITERIA
from services.evaluation.schemas import ScoresSchema


def test_scores_schema_fields_are_exactly_the_domain_criteria():
    assert tuple(ScoresSchema().fields) == CRITERIA


def test_scores_schema_leaves_unanswered_criteria_as_none():
    assert ScoresSchema().load({"content": 9}) == {"content": 9, **{c: None for c in CRITERIA[1:]}}


def test_scores_schema_refuses_a_fractional_score_instead_of_truncating_it():
    errors = ScoresSchema().validate({"content": 7.5, "methods": "8"})
    assert set(errors) == {"content", "methods"}
