"""Reference and sample data of courses (topics, and the MẪU versions of every rule) and `seed(session)`.

The data ships in the released Alembic revision 0002 (which stays as it is); this module reads it from there, so
there is one copy, and `seed` inserts any row that is missing (by primary key): idempotent, for admin, CLI, demo
and tests on a database created without migrations."""
from __future__ import annotations

import importlib.util
import pathlib
from datetime import date

from sqlalchemy.orm import Session

from services.courses.models import BuoiTime, CommuneDutyRule, CourseRule, LecturerStandard, LengthRule, Topic
from shared.localtime import utcnow

_REVISION = pathlib.Path(__file__).parent / "migrations" / "versions" / "0002_complete_courses.py"
SINCE = date(2017, 9, 1)  # NĐ 101/2017 in force: the samples cover every course the system can hold


def _revision():
    spec = importlib.util.spec_from_file_location("courses_0002", _REVISION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sample_rows() -> list:
    """Every reference row of revision 0002 as (unsaved) model instances."""
    rev, day = _revision(), date.fromisoformat
    rows = [Topic(code=c, name=n, content_area=a, competency_codes=comp, fostering_types=ft)
            for c, n, a, comp, ft in rev.TOPICS]
    rows += [LengthRule(id=f"sample-length-{i + 1}", fostering_type=t, variant=v, max_days=m,
                        max_block_working_days=b, legal_basis=f"{basis} – {rev.SAMPLE}", valid_from=day(f),
                        valid_to=day(to) if to else None, is_sample=True)
             for i, (t, v, m, b, basis, f, to) in enumerate(rev.LENGTH_RULES)]
    rows.append(LecturerStandard(id="sample-lecturer-standard-1", min_degree="bachelor", require_pedagogy=True,
                                 min_years_experience=2, valid_from=SINCE, valid_to=None, is_sample=True,
                                 legal_basis="NĐ 101/2017/NĐ-CP, TT 01/2018/TT-BNV: giảng viên có trình độ đại học "
                                             "trở lên, có nghiệp vụ sư phạm – " + rev.SAMPLE))
    rows.append(CommuneDutyRule(id="sample-duty-default", commune_code="*", max_absent_percent=30, valid_from=SINCE,
                                valid_to=None, is_sample=True, updated_at=utcnow(),
                                note="Mặc định: tối đa 30 % công chức của xã đi học cùng một ngày [C] – " + rev.SAMPLE))
    rows += [BuoiTime(id=f"sample-buoi-{b}", buoi=b, start_local=s, end_local=e, valid_from=SINCE, valid_to=None,
                      is_sample=True, note="Giờ học theo giờ hành chính [C] – " + rev.SAMPLE)
             for b, s, e in (("morning", "07:30", "11:30"), ("afternoon", "13:30", "17:00"))]
    rows += [CourseRule(id="sample-pass-score", key="pass_score", value=5.0, valid_from=SINCE, valid_to=None,
                        is_sample=True,
                        legal_basis="TT 01/2018/TT-BNV: mọi bài kiểm tra đạt từ 5/10 trở lên – " + rev.SAMPLE),
             CourseRule(id="sample-periods-per-buoi", key="periods_per_buoi", value=4, valid_from=SINCE,
                        valid_to=None, is_sample=True,
                        legal_basis="Định mức của tỉnh: 4 tiết/buổi (định mức cũ tính 5 tiết) [C] – " + rev.SAMPLE)]
    return rows


def seed(session: Session) -> int:
    """Insert the reference rows that are missing (by primary key); return how many were added. Idempotent."""
    added = 0
    for row in sample_rows():
        key = row.code if isinstance(row, Topic) else row.id
        if session.get(type(row), key) is None:
            session.add(row)
            added += 1
    session.flush()
    return added
