"""Administrative units of the needs service: the merger history, units in force, reorganisations."""
from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.needs import domain, events
from services.needs.domain import COMMUNE_KINDS
from services.needs.models import OUTBOX, Need, PlanCandidate, PlanLine, Reorganisation, Unit, UnitSuccession
from shared.errors import Invalid, NotFound
from shared.localtime import local_today, utcnow

def successions(session: Session) -> list[domain.Succession]:
    """Return the whole merger history."""
    return [domain.Succession(s.predecessor_code, s.successor_code, s.effective_date)
            for s in session.scalars(sa.select(UnitSuccession))]


def _commune_map(session: Session, day: date | None = None) -> dict[str, str]:
    """Map every unit code to the commune that carries it on `day` (today by default)."""
    day, succ = day or local_today(), successions(session)
    return {code: domain.unit_on(code, day, succ) for code in session.scalars(sa.select(Unit.code))}


def commune_of(session: Session, unit_code: str, on: date | None = None) -> str:
    """Return the commune that carries `unit_code` on the given day (today by default)."""
    return domain.unit_on(unit_code, on or local_today(), successions(session))


def list_units(session: Session, as_of: date | None, kind: str | None = None,
               parent_code: str | None = None) -> list[Unit]:
    """Return commune-level units (or units of `kind`, or every level with kind=all) in force on `as_of`."""
    stmt = sa.select(Unit).order_by(Unit.valid_from.desc(), Unit.code)
    if kind != "all":
        stmt = stmt.where(Unit.kind.in_(COMMUNE_KINDS) if kind is None else Unit.kind == kind)
    if parent_code:
        stmt = stmt.where(Unit.parent_code == parent_code)
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


def reorganise_units(session: Session, data: dict, *, today: date | None = None,
                     now: datetime | None = None) -> Reorganisation:
    """Apply a merger/split decision: add new units, close predecessors the day before, publish the event."""
    now = now or utcnow()
    today = today or local_today(now)
    effective = data["effective_date"]
    new_units = data.get("new_units", [])
    pairs = [(s["predecessor_code"], s["successor_code"]) for s in data["successions"]]
    new_codes = {u["code"] for u in new_units}
    if len(new_codes) != len(new_units):
        raise Invalid("Mã đơn vị mới bị trùng.", field="new_units")
    preds = {p for p, _ in pairs}
    found = {u.code: u for u in session.scalars(sa.select(Unit).where(Unit.code.in_(preds | {s for _, s in pairs})))}
    pred_units = {p: (domain.Unit(u.code, u.name, u.kind, u.valid_from, u.valid_to) if (u := found.get(p)) else None)
                  for p in preds}
    existing = set(session.scalars(sa.select(Unit.code).where(Unit.code.in_(new_codes | {s for _, s in pairs}))))
    problems = domain.check_reorganisation(effective, pred_units, new_codes, existing, {s for _, s in pairs})
    if len(set(pairs)) != len(pairs):
        problems.append(("successions", "Một cặp đơn vị sáp nhập được kê hai lần."))
    if any(p == s for p, s in pairs):
        problems.append(("successions", "Một đơn vị không thể kế thừa chính nó."))
    for unit in new_units:
        if unit.get("parent_code") and unit["parent_code"] not in existing and session.get(Unit, unit["parent_code"]) is None:
            problems.append(("new_units", f"Đơn vị cấp trên «{unit['parent_code']}» không tồn tại."))
    if problems:
        raise Invalid(problems[0][1], field=problems[0][0])
    reorg = Reorganisation(id=str(uuid.uuid4()), decision_no=data["decision_no"], effective_date=effective,
                           created_at=now)
    session.add(reorg)
    for unit in new_units:
        parent = session.get(Unit, unit["parent_code"]) if unit.get("parent_code") else None
        session.add(Unit(code=unit["code"], name=unit["name"], kind=unit["kind"], valid_from=effective,
                         valid_to=None, parent_code=unit.get("parent_code"),
                         province_code=unit.get("province_code") or (parent.province_code if parent else "CM")))
    session.flush()
    day_before = date.fromordinal(effective.toordinal() - 1)
    for code in preds:
        # Every predecessor ends the day before; a split hands its people to the first successor by code
        # (domain.unit_on) until the registry moves them.
        found[code].valid_to = day_before
    for pred, succ in pairs:
        session.add(UnitSuccession(predecessor_code=pred, successor_code=succ, effective_date=effective,
                                   legal_basis=data["decision_no"], reorganisation_id=reorg.id))
    session.flush()
    if effective <= today:
        _remap_communes(session, preds, today)
        reorg.remapped_at = now
    OUTBOX.emit(session, "needs.units_reorganised",
                events.units_reorganised(reorg.id, effective, data["decision_no"], new_units, pairs))
    return reorg


def apply_due_reorganisations(session: Session, today: date | None = None, now: datetime | None = None) -> int:
    """Move stored needs and plan lines for reorganisations whose day has come (run by the needs worker)."""
    now = now or utcnow()
    today = today or local_today(now)
    due = list(session.scalars(sa.select(Reorganisation).where(
        Reorganisation.remapped_at.is_(None), Reorganisation.effective_date <= today).with_for_update()))
    for reorg in due:
        _remap_communes(session, set(session.scalars(sa.select(UnitSuccession.predecessor_code).where(
            UnitSuccession.reorganisation_id == reorg.id))), today)
        reorg.remapped_at = now
    session.flush()
    return len(due)


def _remap_communes(session: Session, old_codes: set[str], today: date) -> int:
    """Move the needs and plan lines stored under a unit that a reorganisation in force has merged away.

    People follow the merger history when read (their registered unit never changes), but needs and plan lines keep
    the commune as a column for fast national roll-ups, so they are moved here; return the rows moved.
    """
    history = successions(session)
    provinces = dict(session.execute(sa.select(Unit.code, Unit.province_code)).all())
    moved = 0
    for old in sorted(old_codes):
        new = domain.unit_on(old, today, history)
        if new == old:
            continue
        moved += session.execute(sa.update(Need).where(Need.commune_code == old).values(
            commune_code=new, province_code=provinces.get(new, "CM"))).rowcount or 0
        moved += session.execute(sa.update(PlanLine).where(PlanLine.unit_code == old)
                                 .values(unit_code=new)).rowcount or 0
        session.execute(sa.update(PlanCandidate).where(PlanCandidate.commune_code == old).values(commune_code=new))
    return moved
