"""Competency framework versions: the version in force, copies and changes, required levels."""
from __future__ import annotations

from collections import defaultdict
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.needs.models import Competency, FrameworkVersion, Position, PositionRequirement
from shared.errors import Conflict, Invalid, NotFound
from shared.localtime import local_today, utcnow

def current_framework(session: Session, day: date | None = None) -> FrameworkVersion:
    """Return the framework version in force on `day` (the latest started)."""
    fw = session.scalar(sa.select(FrameworkVersion).where(FrameworkVersion.valid_from <= (day or local_today()))
                        .order_by(FrameworkVersion.valid_from.desc(), FrameworkVersion.id.desc()).limit(1))
    if fw is None:
        raise Conflict("Chưa có khung năng lực có hiệu lực.", field="framework_id")
    return fw


def list_frameworks(session: Session) -> list[FrameworkVersion]:
    """Return every framework version."""
    return list(session.scalars(sa.select(FrameworkVersion).order_by(FrameworkVersion.valid_from)))


def get_framework(session: Session, framework_id: int) -> dict:
    """Return one framework version with its competencies and required levels per position."""
    fw = session.get(FrameworkVersion, framework_id)
    if fw is None:
        raise NotFound("Không tìm thấy phiên bản khung năng lực.", field="framework_id")
    comps = list(session.scalars(sa.select(Competency).where(Competency.framework_id == fw.id)
                                 .order_by(Competency.code)))
    reqs = list(session.scalars(sa.select(PositionRequirement).where(PositionRequirement.framework_id == fw.id)
                                .order_by(PositionRequirement.position_code, PositionRequirement.competency_code)))
    return {"framework": fw, "competencies": comps, "requirements": reqs}


def create_framework_version(session: Session, data: dict) -> FrameworkVersion:
    """Create a new framework version (optionally copied from another, then changed); past ones stay as they were.

    Assessments and needs keep the version they were made with, so a change never rewrites them.
    """
    if session.scalar(sa.select(FrameworkVersion.id).where(FrameworkVersion.code == data["code"])):
        raise Conflict("Mã phiên bản khung năng lực đã tồn tại.", field="code")
    comps = {c["code"]: dict(c) for c in _copied(session, data.get("copy_from"), Competency,
                                                 ("code", "name", "category", "topic_code", "levels"))}
    reqs = {(r["position_code"], r["competency_code"]): dict(r) for r in _copied(
        session, data.get("copy_from"), PositionRequirement, ("position_code", "competency_code", "required_level"))}
    for c in data.get("competencies", []):
        comps[c["code"]] = dict(c)
    for r in data.get("requirements", []):
        reqs[(r["position_code"], r["competency_code"])] = dict(r)
    if not comps:
        raise Invalid("Khung năng lực phải có ít nhất một năng lực.", field="competencies")
    for c in comps.values():
        if len(c["levels"]) != 5:
            raise Invalid("Mỗi năng lực có đúng 5 mức.", field="competencies")
    positions = set(session.scalars(sa.select(Position.code)))
    for (pos, comp), r in reqs.items():
        if pos not in positions:
            raise Invalid(f"Vị trí «{pos}» không có trong danh mục.", field="requirements")
        if comp not in comps:
            raise Invalid(f"Năng lực «{comp}» không có trong khung.", field="requirements")
    fw = FrameworkVersion(code=data["code"], name=data["name"], valid_from=data["valid_from"],
                          legal_basis=data["legal_basis"], created_at=utcnow())
    session.add(fw)
    session.flush()
    session.add_all([Competency(framework_id=fw.id, **c) for c in comps.values()])
    session.add_all([PositionRequirement(framework_id=fw.id, **r) for r in reqs.values()])
    session.flush()
    return fw


def _copied(session: Session, framework_id: int | None, model, keys: tuple[str, ...]) -> list[dict]:
    if framework_id is None:
        return []
    if session.get(FrameworkVersion, framework_id) is None:
        raise Invalid("Không tìm thấy phiên bản khung năng lực để sao chép.", field="copy_from")
    return [{k: getattr(row, k) for k in keys}
            for row in session.scalars(sa.select(model).where(model.framework_id == framework_id))]


def _requirements(session: Session, framework_id: int) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for r in session.scalars(sa.select(PositionRequirement).where(PositionRequirement.framework_id == framework_id)):
        out[r.position_code][r.competency_code] = r.required_level
    return out


def _competency_topics(session: Session, framework_id: int) -> dict[str, str]:
    return dict(session.execute(sa.select(Competency.code, Competency.topic_code)
                                .where(Competency.framework_id == framework_id)).all())
