"""Versioned rules of courses (length caps, lecturer standards, duty shares, buổi times, course rules) over
shared.rules: list, add a version, the value in force on a date."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.courses import domain
from services.courses.models import BuoiTime, CommuneDutyRule, Course, CourseRule, LecturerStandard, LengthRule
from shared import rules
from shared.errors import Conflict, Invalid
from shared.localtime import local_today, utcnow


def _length_key(data: dict) -> dict:
    return {"fostering_type": data["fostering_type"], "variant": data.get("variant")}


def _add(session: Session, model, data: dict, **key):
    """Add a dated version (an open-ended earlier one ends the day before; any other overlap is a Conflict)."""
    return rules.add_version(session, model, {**data, "is_sample": False}, **key)


def _set(session: Session, model, data: dict, values: dict, **key):
    """A plain setting: dated → a new version; undated → the version in force is corrected in place."""
    if data.get("valid_from") is None:
        return rules.correct_current(session, model, {**values, "valid_to": data.get("valid_to")}, **key)
    return _add(session, model, {**values, "valid_from": data["valid_from"], "valid_to": data.get("valid_to")},
                **key)


def add_length_cap(session: Session, data: dict) -> LengthRule:
    """Add a version of a length cap; it supersedes an open-ended earlier version of the same type and variant."""
    key = _length_key(data)
    return _add(session, LengthRule, {k: v for k, v in data.items() if k not in key}, **key)


def add_lecturer_standard(session: Session, data: dict) -> LecturerStandard:
    """Add a version of the lecturer standard (TT 01/2018 Art. 6); it supersedes an open-ended earlier version."""
    return _add(session, LecturerStandard, data)


def set_duty_share(session: Session, data: dict, now: datetime | None = None) -> CommuneDutyRule:
    """Load a version of the most a commune may send away on one day, in % of its staff (valid from a date; without
    one, the current version is corrected)."""
    values = {"max_absent_percent": data["max_absent_percent"], "note": data["note"], "updated_at": now or utcnow()}
    return _set(session, CommuneDutyRule, data, values, commune_code=data["commune_code"])


def set_buoi_time(session: Session, data: dict) -> BuoiTime:
    """Load a version of a buổi's default local times (sessions on dates it covers, created later, use them)."""
    try:
        start, end = domain.check_buoi_time(data["buoi"], data["start_local"], data["end_local"])
    except ValueError as exc:
        raise Invalid(str(exc), field="end_local") from None
    values = {"start_local": start.strftime("%H:%M"), "end_local": end.strftime("%H:%M"), "note": data["note"]}
    return _set(session, BuoiTime, data, values, buoi=data["buoi"])


def add_course_rule(session: Session, data: dict) -> CourseRule:
    """Add a version of a course rule (pass score, tiết per buổi); it supersedes an open-ended earlier version."""
    problem = domain.course_rule_problem(data["key"], data["value"])
    if problem:
        raise Invalid(problem, field="value")
    return _add(session, CourseRule, {k: v for k, v in data.items() if k != "key"}, key=data["key"])


RULE_KINDS = {  # kind → (model, key columns): the URL family /api/v1/rules/<kind>
    "length-caps": (LengthRule, ("fostering_type", "variant")),
    "lecturer-standards": (LecturerStandard, ()),
    "duty-shares": (CommuneDutyRule, ("commune_code",)),
    "buoi-times": (BuoiTime, ("buoi",)),
    "course-rules": (CourseRule, ("key",)),
}


def list_rule_versions(session: Session, kind: str) -> list:
    """Every version of one kind of rule, by key then start date."""
    model, key = RULE_KINDS[kind]
    return rules.versions(session, model, order_by=tuple(getattr(model, k) for k in key))


def list_rules_in_force(session: Session, today: date | None = None) -> list[dict]:
    """Every rule of the service with the version in force today (its value, legal basis and dates)."""
    today = today or local_today()
    out = []
    for kind, (model, key) in RULE_KINDS.items():
        cols = rules.columns_of(model)
        current: dict[tuple, object] = {}
        for row in list_rule_versions(session, kind):
            if row.valid_from <= today and (row.valid_to is None or row.valid_to >= today):
                current[tuple(getattr(row, k) for k in key)] = row  # the latest start wins
        for values, row in current.items():
            skip = {"id", "updated_at", *key, "valid_from", "valid_to", "is_sample", cols.legal_basis}
            out.append({"kind": kind, "key": dict(zip(key, values)), "legal_basis": getattr(row, cols.legal_basis),
                        "valid_from": row.valid_from, "valid_to": row.valid_to, "is_sample": row.is_sample,
                        "value": {c.key: getattr(row, c.key) for c in sa.inspect(model).column_attrs
                                  if c.key not in skip}})
    return out


def _length_rule(session: Session, course: Course, on: date) -> domain.LengthRule | None:
    if not course.fostering_type:
        return None
    row = rules.in_force(session, LengthRule, on, fostering_type=course.fostering_type,
                         variant=domain.length_variant(course.fostering_type, course.fostering_variant))
    return None if row is None else domain.LengthRule(row.fostering_type, row.variant, row.max_days,
                                                      row.max_block_working_days, row.legal_basis)


def _lecturer_standard(session: Session, on: date) -> domain.LecturerStandard | None:
    row = rules.in_force(session, LecturerStandard, on)
    return None if row is None else domain.LecturerStandard(row.min_degree, row.require_pedagogy,
                                                            row.min_years_experience, row.legal_basis)


def _buoi_times(session: Session, on: date) -> domain.BuoiTimes:
    """The buổi times in force on a day (the fallback default where no version is)."""
    rows = rules.in_force_by(session, BuoiTime, on, "buoi")
    return domain.buoi_times({b: (r.start_local, r.end_local) for b, r in rows.items()})


def _course_rule(session: Session, key: str, on: date) -> float:
    """The value of a course rule in force on a day (the fallback where no version is)."""
    row = rules.in_force(session, CourseRule, on, key=key)
    return row.value if row is not None else domain.COURSE_RULE_FALLBACK[key]
