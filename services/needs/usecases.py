"""Use cases of the needs service: each takes a session inside the caller's transaction."""
from __future__ import annotations

import uuid
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.needs import domain, seed
from services.needs.models import OUTBOX, CivilServant, Position, Unit, UnitSuccession
from shared.db import utcnow
from shared.errors import DomainError, NotFound


def _today() -> date:
    from zoneinfo import ZoneInfo
    return utcnow().astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date()


def successions(session: Session) -> list[domain.Succession]:
    return [domain.Succession(s.predecessor_code, s.successor_code, s.effective_date)
            for s in session.scalars(sa.select(UnitSuccession))]


def seed_reference_data(session: Session) -> dict:
    """Insert the Thới Bình units, the 2025 merger and the position catalogue; skip what exists."""
    added = {"units": 0, "successions": 0, "positions": 0}
    existing = set(session.scalars(sa.select(Unit.code)))
    for code, name, kind in seed.COMMUNES:
        if code not in existing:
            session.add(Unit(code=code, name=name, kind=kind, valid_from=seed.MERGER_DATE, valid_to=None))
            added["units"] += 1
    last_day = date.fromordinal(seed.MERGER_DATE.toordinal() - 1)
    for code, name, kind, _ in seed.FORMER_UNITS:
        if code not in existing:
            session.add(Unit(code=code, name=name, kind=kind, valid_from=seed.BEFORE_RECORDS, valid_to=last_day))
            added["units"] += 1
    session.flush()
    known = {(s.predecessor, s.successor) for s in successions(session)}
    for code, _, _, successor in seed.FORMER_UNITS:
        if (code, successor) not in known:
            session.add(UnitSuccession(predecessor_code=code, successor_code=successor,
                                       effective_date=seed.MERGER_DATE, legal_basis=seed.MERGER_BASIS))
            added["successions"] += 1
    have = set(session.scalars(sa.select(Position.code)))
    for code, name, legacy in seed.POSITIONS:
        if code not in have:
            session.add(Position(code=code, name=name, legacy=legacy))
            added["positions"] += 1
    session.flush()
    return added


def seed_civil_servants(session: Session, count: int = 111) -> int:
    """Register the deterministic synthetic civil servants not registered yet; return how many were added."""
    have = set(session.scalars(sa.select(CivilServant.code)))
    history = successions(session)
    added = 0
    for person in seed.synthetic_civil_servants(count):
        if person["code"] not in have:
            register_civil_servant(session, person, history)
            added += 1
    return added


def register_civil_servant(session: Session, data: dict,
                           history: list[domain.Succession] | None = None) -> tuple[CivilServant, str]:
    """Add a civil servant to the registry and publish needs.civil_servant_registered.

    Returns the civil servant and today's commune. `history` (the merger history) may be passed in by a
    caller registering many at once, so it is read once.
    """
    if session.get(Unit, data["unit_code"]) is None:
        raise DomainError("Đơn vị không tồn tại.", field="unit_code", status=422)
    if session.get(Position, data["position_code"]) is None:
        raise DomainError("Vị trí việc làm không có trong danh mục.", field="position_code", status=422)
    if session.scalar(sa.select(CivilServant.id).where(CivilServant.code == data["code"])):
        raise DomainError("Mã công chức đã tồn tại.", field="code")
    cs = CivilServant(id=str(uuid.uuid4()), created_at=utcnow(), **data)
    session.add(cs)
    session.flush()
    commune = domain.unit_on(cs.unit_code, _today(), successions(session) if history is None else history)
    OUTBOX.emit(session, "needs.civil_servant_registered", {
        "civil_servant_id": cs.id,
        "code": cs.code,
        "unit_code": cs.unit_code,
        "commune_code": commune,
        "position_code": cs.position_code,
        "female": cs.gender == "female",
        "ethnic_minority": cs.ethnic_minority,
        "hard_area": cs.hard_area,
        "child_under_36_months": cs.child_under_36_months,
    })
    return cs, commune


def commune_of(session: Session, unit_code: str, on: date | None = None) -> str:
    """Return the commune that carries `unit_code` on the given day (today by default)."""
    return domain.unit_on(unit_code, on or _today(), successions(session))


def list_units(session: Session, as_of: date | None) -> list[Unit]:
    """Return units in force on `as_of` (all units when not given)."""
    stmt = sa.select(Unit).order_by(Unit.valid_from.desc(), Unit.code)
    if as_of:
        stmt = stmt.where(Unit.valid_from <= as_of,
                          sa.or_(Unit.valid_to.is_(None), Unit.valid_to >= as_of))
    return list(session.scalars(stmt))


def get_unit(session: Session, code: str) -> dict:
    """Return a unit with its predecessors and successors."""
    unit = session.get(Unit, code)
    if unit is None:
        raise NotFound("Không tìm thấy đơn vị.", field="code")
    succ = list(session.scalars(sa.select(UnitSuccession).where(
        sa.or_(UnitSuccession.predecessor_code == code, UnitSuccession.successor_code == code))))
    return {
        "unit": unit,
        "predecessors": [s for s in succ if s.successor_code == code],
        "successors": [s for s in succ if s.predecessor_code == code],
    }


def list_positions(session: Session) -> list[Position]:
    return list(session.scalars(sa.select(Position).order_by(Position.legacy.desc(), Position.code)))


def list_civil_servants(session: Session, *, unit_code=None, commune_code=None, position_code=None,
                        page: int = 1, page_size: int = 50) -> tuple[list[CivilServant], int, dict[str, str]]:
    """Return one page of civil servants, the total and each one's commune today."""
    stmt = sa.select(CivilServant)
    if unit_code:
        stmt = stmt.where(CivilServant.unit_code == unit_code)
    if position_code:
        stmt = stmt.where(CivilServant.position_code == position_code)
    succ = successions(session)
    today = _today()
    if commune_code:
        units = [u for u in session.scalars(sa.select(Unit.code))
                 if domain.unit_on(u, today, succ) == commune_code]
        stmt = stmt.where(CivilServant.unit_code.in_(units))
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))
    rows = list(session.scalars(stmt.order_by(CivilServant.code).offset((page - 1) * page_size).limit(page_size)))
    communes = {u: domain.unit_on(u, today, succ) for u in {r.unit_code for r in rows}}
    return rows, total, communes


def get_civil_servant(session: Session, cs_id: str) -> tuple[CivilServant, str]:
    cs = session.get(CivilServant, cs_id)
    if cs is None:
        raise NotFound("Không tìm thấy công chức.", field="id")
    return cs, commune_of(session, cs.unit_code)
