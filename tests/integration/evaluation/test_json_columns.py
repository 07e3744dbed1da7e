"""Evaluation opens a batch of courses with COPY (shared.db.bulk_insert): its JSON columns read back as the
objects written, on SQLite and PostgreSQL (issue 10, defect 1: one place encodes JSON for COPY)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from services.evaluation import usecases
from services.evaluation.models import EvaluatedCourse
from shared.db import transaction
from shared.events import decode
from tests.unit.evaluation.factories import course_completed, trainee

pytestmark = [pytest.mark.postgres]


def test_opened_courses_keep_roster_lecturers_and_competencies_as_json_objects(service_db):
    db = service_db("evaluation")
    people = [trainee("CM-TANLOC"), trainee("CM-BIENBACH", certified=False)]
    envs = [decode(course_completed(people)[1]), decode(course_completed([trainee()])[1])]
    with transaction(db.session_factory) as s:
        usecases.open_feedback(s, envs, base_url="http://127.0.0.1:8003")
    with db.session_factory() as s:
        course = s.get(EvaluatedCourse, envs[0].payload["course_id"])
        assert course.roster == {"communes": {"CM-TANLOC": [people[0]["civil_servant_id"]],
                                              "CM-BIENBACH": [people[1]["civil_servant_id"]]},
                                 "uncertified": [people[1]["civil_servant_id"]]}
        assert isinstance(course.lecturer_ids, list) and all(isinstance(x, dict) for x in course.lecturer_ids)
        assert isinstance(course.competency_codes, list)
        kinds = s.execute(sa.select(EvaluatedCourse.roster, EvaluatedCourse.lecturer_ids)).all()
    assert len(kinds) == 2 and all(isinstance(r, dict) and isinstance(lec, list) for r, lec in kinds)
