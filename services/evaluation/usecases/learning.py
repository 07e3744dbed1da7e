"""L2 learning: pre/post test scores entered through the API or imported from a CSV/XLSX file (the scores that
arrive with courses.course_completed are stored when the window opens)."""
from __future__ import annotations

from datetime import datetime
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.evaluation import formats
from services.evaluation.models import TestScore
from services.evaluation.usecases.queries import find_course, trainees
from shared import tabular
from shared.localtime import utcnow


def record_test_scores(session: Session, course_id: str, rows: list[dict], source: str, errors=None,
                       now: datetime | None = None) -> int:
    """Insert or replace pre/post test scores of trainees of the course (all or none).

    `errors` is the tabular.RowErrors of an imported file: its cells that failed to read, to which this adds the
    rows naming someone not in the course; the file is refused with all of them."""
    find_course(session, course_id)
    attendees = {t["civil_servant_id"] for t in trainees(session, course_id)}
    for n, r in enumerate(rows):
        if (errors is None or errors.usable(r, "civil_servant_id")) and r["civil_servant_id"] not in attendees:
            formats.row_problem(errors, "scores", n, r, "civil_servant_id", "Công chức không tham dự lớp này.")
        if len(r.get("competency_code") or "") > 20:  # the column's width: a file is not checked by the schema
            formats.row_problem(errors, "scores", n, r, "competency_code", "Mã năng lực tối đa 20 ký tự.")
    if errors is not None:
        errors.raise_if_any()
    now = now or utcnow()
    keyed = {}
    for r in rows:
        keyed[(r["civil_servant_id"], r["kind"], r.get("competency_code") or "")] = r["score"]
    for (cs, kind, comp), score in keyed.items():
        session.execute(sa.delete(TestScore).where(TestScore.course_id == course_id, TestScore.civil_servant_id == cs,
                                                   TestScore.kind == kind, TestScore.competency_code == comp))
    if keyed:
        session.execute(sa.insert(TestScore), [
            {"course_id": course_id, "civil_servant_id": cs, "kind": kind, "competency_code": comp,
             "score": float(score), "source": source, "recorded_at": now} for (cs, kind, comp), score in keyed.items()])
    return len(keyed)


def import_test_scores(session: Session, course_id: str, upload: Callable[[], tuple[bytes, str]],
                       now: datetime | None = None) -> int:
    """Import pre/post test scores from a CSV/XLSX file; a file with any bad line writes nothing. `upload()` gives
    (bytes, filename), called once the course is known (an unknown course is refused before the file)."""
    find_course(session, course_id)  # 404 before looking at the file
    data, filename = upload()
    errors = tabular.RowErrors()  # bad cells and unknown trainees of every line, refused together
    rows = tabular.read_table(data, filename, formats.TEST_SCORE_COLUMNS, errors=errors)
    return record_test_scores(session, course_id, rows, "import", errors, now)  # TableError → 422 (shared/web.py)
