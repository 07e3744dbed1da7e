"""courses' part of the data-subject report (issue 14, shared/subject_report.py): the trainee record, candidacies,
enrollments (certificates included), attendance, test results, and who accessed the person's record. The personal
check-in link tokens are left out by shared.subject_report."""
from __future__ import annotations

from sqlalchemy.orm import Session

from services.courses.models import ACCESS_LOG, Attendance, CourseCandidate, Enrollment, TestResult, Trainee
from shared.subject_report import Section, collect

SECTIONS = (
    Section("trainee", Trainee.__table__),
    Section("course_candidates", CourseCandidate.__table__),
    Section("enrollments", Enrollment.__table__),
    Section("attendance", Attendance.__table__),
    Section("test_results", TestResult.__table__),
    Section("access_log", ACCESS_LOG, column="record_id"),
)


def subject_part(session: Session, civil_servant_id: str) -> dict[str, list[dict]]:
    """Every row courses holds about the person, by section."""
    return collect(session, civil_servant_id, SECTIONS)
