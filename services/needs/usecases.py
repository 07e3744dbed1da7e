"""Use cases of the needs service: each takes a session inside the caller's transaction."""
from __future__ import annotations

import os
import uuid
from collections import defaultdict
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.needs import domain, seed
from services.needs.models import (
    JOBS_TABLE, OUTBOX, Assessment, Campaign, CivilServant, CloseJob, Competency, CompetencyRecord, FrameworkVersion, Need, Plan,
    PlanCandidate, PlanLine, PlanTarget, Position, PositionRequirement, Reorganisation, Rule, SurveyResponse, Unit,
    UnitSuccession,
)
from shared import jobs, rules, tabular
from shared.db import UTCDateTime, bulk_insert, is_postgres
from shared.localtime import local_today, utcnow
from shared.errors import Conflict, Invalid, NotFound

COMMUNE_KINDS = ("xa", "phuong", "thi_tran")
SCHEME_CODE = "DA-2025-2030"  # the district's 2025–2030 training scheme the yearly plans sit in
OPEN_STATUSES = ("open", "planned")


def successions(session: Session) -> list[domain.Succession]:
    """Return the whole merger history."""
    return [domain.Succession(s.predecessor_code, s.successor_code, s.effective_date)
            for s in session.scalars(sa.select(UnitSuccession))]


def _commune_map(session: Session, day: date | None = None) -> dict[str, str]:
    """Map every unit code to the commune that carries it on `day` (today by default)."""
    day, succ = day or local_today(), successions(session)
    return {code: domain.unit_on(code, day, succ) for code in session.scalars(sa.select(Unit.code))}


# --- rules as data -----------------------------------------------------------------------------------------------

def rule_value(session: Session, code: str, day: date | None = None) -> dict:
    """Return the value of the rule `code` in force on `day` (today by default)."""
    rule = rules.in_force(session, Rule, day or local_today(), code=code)
    if rule is None:
        raise Conflict(f"Chưa cấu hình quy tắc «{code}» có hiệu lực.", field="rules")
    return rule.value


def _rule_code(kind: str) -> str:
    code = domain.RULE_KINDS.get(kind)
    if code is None:
        raise NotFound(f"Không có loại quy tắc «{kind}».", field="kind")
    return code


def list_rules_in_force(session: Session, today: date | None = None) -> list[Rule]:
    """Return, for every rule kind, the version in force today (kinds with none are left out)."""
    today = today or local_today()
    found = rules.in_force_by(session, Rule, today, "code", among=domain.RULE_KINDS.values())
    return [found[code] for code in domain.RULE_KINDS.values() if code in found]


def list_rule_versions(session: Session, kind: str) -> list[Rule]:
    """Return every version of the rule `kind`, oldest first."""
    return rules.versions(session, Rule, code=_rule_code(kind))


def add_rule_version(session: Session, kind: str, data: dict) -> Rule:
    """Add a version of the rule `kind` (shared.rules: an open-ended version started earlier ends the day before;
    any other overlap is refused naming valid_from). The value is checked as the closing will read it."""
    code = _rule_code(kind)
    try:
        domain.check_rule_value(code, data["value"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise Invalid(f"Giá trị quy tắc không hợp lệ ({exc.__class__.__name__}: {exc}).", field="value") from None
    return rules.add_version(session, Rule, {
        "value": data["value"], "legal_basis": data["legal_basis"], "valid_from": data["valid_from"],
        "valid_to": data.get("valid_to"), "is_sample": data.get("sample", False)}, code=code)


def _standards(session: Session, day: date | None = None) -> list[domain.StandardRule]:
    return [domain.StandardRule.from_data(r) for r in rule_value(session, "standards", day)["rules"]]


# --- seed --------------------------------------------------------------------------------------------------------

def seed_reference_data(session: Session) -> dict:
    """Insert the Thới Bình units, the 2025 merger, positions, the sample framework and rules; skip what exists."""
    added = {"units": 0, "successions": 0, "positions": 0, "frameworks": 0, "rules": 0}
    existing = set(session.scalars(sa.select(Unit.code)))
    last_day = date.fromordinal(seed.MERGER_DATE.toordinal() - 1)
    wanted = [(seed.PROVINCE, seed.BEFORE_RECORDS, None, None), (seed.DISTRICT, seed.BEFORE_RECORDS, last_day, "CM")]
    wanted += [((code, name, kind), seed.MERGER_DATE, None, "CM") for code, name, kind in seed.COMMUNES]
    wanted += [((code, name, kind), seed.BEFORE_RECORDS, last_day, seed.DISTRICT[0])
               for code, name, kind, _ in seed.FORMER_UNITS]
    for (code, name, kind), start, end, parent in wanted:
        if code not in existing:
            session.add(Unit(code=code, name=name, kind=kind, province_code="CM", valid_from=start, valid_to=end,
                             parent_code=parent))
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
            session.add(Position(code=code, name=name, legacy=legacy, active=True,
                                 category="leadership" if code in seed.LEADERSHIP_POSITIONS else "professional"))
            added["positions"] += 1
    session.flush()
    fw_code, fw_name, fw_from, fw_basis = seed.FRAMEWORK
    if session.scalar(sa.select(FrameworkVersion.id).where(FrameworkVersion.code == fw_code)) is None:
        create_framework_version(session, {
            "code": fw_code, "name": fw_name, "valid_from": fw_from, "legal_basis": fw_basis,
            "competencies": [{"code": c, "name": n, "category": "common", "topic_code": t, "levels": seed._LEVELS}
                             for c, n, t in seed.COMPETENCIES],
            "requirements": [{"position_code": p, "competency_code": c, "required_level": lvl}
                             for p, _, _ in seed.POSITIONS for c, lvl in seed.requirements_for(p).items()]})
        added["frameworks"] += 1
    for code, value, basis in seed.RULES:
        if session.get(Rule, (code, seed.RULES_FROM)) is None:
            session.add(Rule(code=code, valid_from=seed.RULES_FROM, valid_to=None, value=value, legal_basis=basis,
                             sample=True))
            added["rules"] += 1
    session.flush()
    return added


def seed_civil_servants(session: Session, count: int = 111) -> int:
    """Register the deterministic synthetic civil servants not registered yet; return how many were added."""
    have = set(session.scalars(sa.select(CivilServant.code)))
    history = successions(session)
    added = 0
    for person in seed.synthetic_civil_servants(count):
        if person["code"] not in have:
            register_civil_servant(session, {**person, **seed.synthetic_qualifications(person["code"])}, history)
            added += 1
    return added


def seed_survey(session: Session, year: int) -> dict:
    """Open the sample campaign of `year` over the 5 communes and fill every answer deterministically.

    Idempotent: a campaign with the sample title of that year is reused. The campaign is left open so the
    closing (which computes needs) can be shown.
    """
    title = f"Khảo sát nhu cầu bồi dưỡng năm {year} (dữ liệu mẫu)"
    campaign = session.scalar(sa.select(Campaign).where(Campaign.year == year, Campaign.title == title))
    if campaign is None:
        campaign = open_campaign(session, {"year": year, "title": title, "unit_codes": [c for c, _, _ in seed.COMMUNES],
                                           "deadline": date(year, 12, 31)})
    answered = 0
    if campaign.status == "open":
        people = session.execute(sa.select(CivilServant.id, CivilServant.code).join(
            SurveyResponse, SurveyResponse.civil_servant_id == CivilServant.id).where(
            SurveyResponse.campaign_id == campaign.id, SurveyResponse.supervisor_submitted_at.is_(None))).all()
        codes = [c for c, _, _ in seed.COMPETENCIES]
        for cs_id, code in people:
            levels = {c: seed.synthetic_levels(code, c) for c in codes}
            submit_response(session, campaign.id, {"civil_servant_id": cs_id, "role": "self",
                                                   "levels": {c: s for c, (s, _) in levels.items()},
                                                   **seed.synthetic_wishes(code)})
            submit_response(session, campaign.id, {"civil_servant_id": cs_id, "role": "supervisor",
                                                   "levels": {c: p for c, (_, p) in levels.items()}})
            answered += 1
    return {"campaign_id": campaign.id, "answered": answered, "status": campaign.status}


# --- administrative units -----------------------------------------------------------------------------------------

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
    OUTBOX.emit(session, "needs.units_reorganised", {
        "reorganisation_id": reorg.id, "effective_date": effective, "decision_no": data["decision_no"],
        "new_units": [{"code": u["code"], "name": u["name"], "unit_type": u["kind"],
                       "parent_code": u.get("parent_code"), "valid_from": effective} for u in new_units],
        "successions": [{"predecessor_code": p, "successor_code": s} for p, s in pairs],
    })
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


# --- positions ------------------------------------------------------------------------------------------------------

def list_positions(session: Session, include_inactive: bool = True) -> list[Position]:
    """Return the job-position catalogue (legacy titles first)."""
    stmt = sa.select(Position).order_by(Position.legacy.desc(), Position.code)
    if not include_inactive:
        stmt = stmt.where(Position.active.is_(True))
    return list(session.scalars(stmt))


def create_position(session: Session, data: dict) -> Position:
    """Add a job position to the catalogue."""
    if session.get(Position, data["code"]) is not None:
        raise Conflict("Mã vị trí việc làm đã tồn tại.", field="code")
    position = Position(code=data["code"], name=data["name"], legacy=data.get("legacy", False),
                        category=data.get("category", "professional"), active=True)
    session.add(position)
    session.flush()
    return position


def update_position(session: Session, code: str, data: dict) -> Position:
    """Rename, regroup or retire a job position (codes never change: the registry and needs refer to them)."""
    position = session.get(Position, code)
    if position is None:
        raise NotFound("Không tìm thấy vị trí việc làm.", field="code")
    for key in ("name", "category", "active", "legacy"):
        if key in data:
            setattr(position, key, data[key])
    session.flush()
    return position


# --- civil servants -------------------------------------------------------------------------------------------------

REGISTRY_FIELDS = ("full_name", "gender", "birth_year", "ethnicity", "unit_code", "position_code", "hard_area",
                   "child_under_36_months", "rank", "degree_level", "major", "llct_level", "qlnn_level", "it_level",
                   "foreign_language_level", "employed_from", "employment_status")
SHARED_FIELDS = {"unit_code", "position_code", "gender", "ethnicity", "hard_area", "child_under_36_months",
                 "employment_status"}  # the fields whose change other services hear about


def _cs_payload(cs: CivilServant, commune: str) -> dict:
    return {"civil_servant_id": cs.id, "code": cs.code, "unit_code": cs.unit_code, "commune_code": commune,
            "position_code": cs.position_code, "female": cs.gender == "female",
            "ethnic_minority": cs.ethnic_minority, "hard_area": cs.hard_area,
            "child_under_36_months": cs.child_under_36_months}


def _check_refs(session: Session, data: dict, cs: CivilServant | None = None) -> None:
    if "unit_code" in data and session.get(Unit, data["unit_code"]) is None:
        raise Invalid("Đơn vị không tồn tại.", field="unit_code")
    if "position_code" in data:
        position = session.get(Position, data["position_code"])
        if position is None:
            raise Invalid("Vị trí việc làm không có trong danh mục.", field="position_code")
        if not position.active and (cs is None or cs.position_code != position.code):
            raise Invalid("Vị trí việc làm đã ngừng sử dụng.", field="position_code")


def _employment_date_problem(employed_from: date | None, birth_year: int | None,
                             today: date | None = None) -> str | None:
    """Return why a recruitment date is impossible (in the future, or before the person was born), else None."""
    if employed_from is None:
        return None
    if employed_from > (today or local_today()):
        return "Ngày tuyển dụng ở tương lai."
    if birth_year is not None and employed_from.year < birth_year:
        return "Ngày tuyển dụng trước năm sinh."
    return None


def _check_dates(data: dict, cs: CivilServant | None = None) -> None:
    birth_year = data.get("birth_year", cs.birth_year if cs else None)
    employed_from = data.get("employed_from", cs.employed_from if cs else None)
    problem = _employment_date_problem(employed_from, birth_year)
    if problem:
        raise Invalid(problem, field="employed_from" if "employed_from" in data else "birth_year")


def register_civil_servant(session: Session, data: dict,
                           history: list[domain.Succession] | None = None) -> tuple[CivilServant, str]:
    """Add a civil servant to the registry and publish needs.civil_servant_registered.

    Returns the civil servant and today's commune. `history` (the merger history) may be passed in by a
    caller registering many at once, so it is read once.
    """
    _check_refs(session, data)
    _check_dates(data)
    if session.scalar(sa.select(CivilServant.id).where(CivilServant.code == data["code"])):
        raise Conflict("Mã công chức đã tồn tại.", field="code")
    now = utcnow()
    cs = CivilServant(id=str(uuid.uuid4()), created_at=now, updated_at=now,
                      **{"employment_status": "active", **data})
    cs.status_since = cs.employed_from
    session.add(cs)
    session.flush()
    commune = domain.unit_on(cs.unit_code, local_today(), successions(session) if history is None else history)
    OUTBOX.emit(session, "needs.civil_servant_registered", _cs_payload(cs, commune))
    return cs, commune


def update_civil_servant(session: Session, cs_id: str, changes: dict) -> tuple[CivilServant, str]:
    """Change registry fields of a civil servant; publish needs.civil_servant_updated when something changed."""
    cs = session.get(CivilServant, cs_id)
    if cs is None:
        raise NotFound("Không tìm thấy công chức.", field="id")
    if cs.employment_status == "left":
        raise Conflict("Công chức đã nghỉ việc; không sửa được hồ sơ.", field="employment_status")
    if changes.get("employment_status") == "left":
        raise Invalid("Dùng thao tác «nghỉ việc» để ghi nhận công chức thôi việc.", field="employment_status")
    _check_refs(session, changes, cs)
    _check_dates(changes, cs)
    since = changes.pop("status_since", None)
    changed = sorted(k for k, v in changes.items() if getattr(cs, k) != v)
    for key in changed:
        setattr(cs, key, changes[key])
    commune = commune_of(session, cs.unit_code)
    if changed:
        if {"unit_code", "position_code"} & set(changed):
            _follow_person(session, cs, commune)
        if "employment_status" in changed:
            cs.status_since = since or local_today()
        cs.updated_at = utcnow()
        session.flush()
        OUTBOX.emit(session, "needs.civil_servant_updated", {
            **_cs_payload(cs, commune), "employment_status": cs.employment_status, "changed_fields": changed})
    return cs, commune


def _follow_person(session: Session, cs: CivilServant, commune: str) -> None:
    """A moved or re-posted civil servant's open and planned needs are reported under their new unit and position
    (met needs stay where they were met)."""
    province = session.scalar(sa.select(Unit.province_code).where(Unit.code == commune)) or "CM"
    session.execute(sa.update(Need).where(Need.civil_servant_id == cs.id, Need.status.in_(OPEN_STATUSES)).values(
        unit_code=cs.unit_code, commune_code=commune, province_code=province, position_code=cs.position_code))


def leave_civil_servant(session: Session, cs_id: str, data: dict) -> tuple[CivilServant, str]:
    """Record that a civil servant left; publish needs.civil_servant_left (funding opens receivables)."""
    cs = session.get(CivilServant, cs_id)
    if cs is None:
        raise NotFound("Không tìm thấy công chức.", field="id")
    if cs.employment_status == "left":
        raise Conflict("Công chức đã được ghi nhận nghỉ việc.", field="employment_status")
    if cs.employed_from and data["left_on"] < cs.employed_from:
        raise Invalid("Ngày nghỉ việc trước ngày tuyển dụng.", field="left_on")
    cs.employment_status, cs.left_on, cs.left_reason = "left", data["left_on"], data["reason"]
    cs.status_since, cs.updated_at = data["left_on"], utcnow()
    # Open needs of someone who left will never be trained: they leave the roll-ups (those named in a plan line
    # stay for the record; approval skips people who left).
    session.execute(sa.delete(Need).where(Need.civil_servant_id == cs.id, Need.status == "open",
                                          Need.plan_line_id.is_(None)))
    commune = commune_of(session, cs.unit_code)
    OUTBOX.emit(session, "needs.civil_servant_left", {
        "civil_servant_id": cs.id, "code": cs.code, "unit_code": cs.unit_code, "commune_code": commune,
        "left_on": data["left_on"], "reason": data["reason"]})
    return cs, commune


def list_civil_servants(session: Session, *, unit_code=None, commune_code=None, position_code=None,
                        employment_status=None, page: int = 1,
                        page_size: int = 50) -> tuple[list[CivilServant], int, dict[str, str]]:
    """Return one page of civil servants, the total and each one's commune today."""
    stmt = _registry_query(session, unit_code, commune_code, position_code, employment_status)
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))
    rows = list(session.scalars(stmt.order_by(CivilServant.code).offset((page - 1) * page_size).limit(page_size)))
    communes = _commune_map(session)
    return rows, total, communes


def _registry_query(session, unit_code, commune_code, position_code, employment_status):
    stmt = sa.select(CivilServant)
    if unit_code:
        stmt = stmt.where(CivilServant.unit_code == unit_code)
    if position_code:
        stmt = stmt.where(CivilServant.position_code == position_code)
    if employment_status:
        stmt = stmt.where(CivilServant.employment_status == employment_status)
    if commune_code:
        units = [u for u, c in _commune_map(session).items() if c == commune_code]
        stmt = stmt.where(CivilServant.unit_code.in_(units))
    return stmt


def get_civil_servant(session: Session, cs_id: str) -> tuple[CivilServant, str]:
    """Return one civil servant and today's commune."""
    cs = session.get(CivilServant, cs_id)
    if cs is None:
        raise NotFound("Không tìm thấy công chức.", field="id")
    return cs, commune_of(session, cs.unit_code)


_GENDERS = {"nam": "male", "male": "male", "nữ": "female", "nu": "female", "female": "female"}


def _gender(text: str) -> str:
    value = _GENDERS.get(text.strip().lower())
    if value is None:
        raise ValueError(f"«{text}» phải là Nam hoặc Nữ.")
    return value


def _year(text: str) -> int:
    value = tabular.parse_int(text)
    if not 1940 <= value <= 2010:
        raise ValueError(f"Năm sinh «{text}» ngoài khoảng 1940–2010.")
    return value


def _max_len(n: int):
    def parse(text: str) -> str:
        if len(text) > n:
            raise ValueError(f"Dài quá {n} ký tự.")
        return text
    return parse


REGISTRY_COLUMNS = [
    tabular.Column("code", "Mã công chức", _max_len(40), required=True),
    tabular.Column("full_name", "Họ và tên", _max_len(200), required=True, width=28),
    tabular.Column("gender", "Giới tính", _gender, required=True, width=10),
    tabular.Column("birth_year", "Năm sinh", _year, required=True, width=10),
    tabular.Column("ethnicity", "Dân tộc", _max_len(60), required=True, width=12),
    tabular.Column("unit_code", "Mã đơn vị", _max_len(40), required=True, width=20),
    tabular.Column("commune_code", "Xã hiện nay", width=16),  # export only: today's commune
    tabular.Column("position_code", "Mã vị trí việc làm", _max_len(40), required=True, width=16),
    tabular.Column("rank", "Ngạch", _max_len(60)),
    tabular.Column("degree_level", "Trình độ chuyên môn", tabular.one_of(seed.DEGREE_SCALE)),
    tabular.Column("major", "Chuyên ngành", _max_len(200)),
    tabular.Column("llct_level", "Lý luận chính trị", tabular.one_of(seed.LLCT_SCALE)),
    tabular.Column("qlnn_level", "Quản lý nhà nước", tabular.one_of(seed.QLNN_SCALE)),
    tabular.Column("it_level", "Tin học", tabular.one_of(seed.IT_SCALE)),
    tabular.Column("foreign_language_level", "Ngoại ngữ", tabular.one_of(seed.LANGUAGE_SCALE)),
    tabular.Column("hard_area", "Vùng khó khăn", tabular.parse_bool, width=10),
    tabular.Column("child_under_36_months", "Nuôi con dưới 36 tháng", tabular.parse_bool, width=12),
    tabular.Column("employment_status", "Tình trạng", tabular.one_of(["active", "on_leave"]), width=10),
    tabular.Column("employed_from", "Ngày tuyển dụng", tabular.parse_date, width=12),
]


def import_registry(session: Session, data: bytes, filename: str) -> dict:
    """Import a CSV/XLSX registry all-or-nothing: new codes register, known codes update; publish each change.

    Raises tabular.TableError listing every bad row (line, field, message) before anything is written.
    """
    errors = tabular.RowErrors()  # format and reference problems of every row, refused in one answer
    rows = tabular.read_table(data, filename, REGISTRY_COLUMNS, errors=errors)
    units = set(session.scalars(sa.select(Unit.code)))
    positions = set(session.scalars(sa.select(Position.code)))
    seen: dict[str, int] = {}
    for row in rows:
        line = row["_line"]
        if errors.usable(row, "employed_from", "birth_year"):
            problem = _employment_date_problem(row.get("employed_from"), row.get("birth_year"))
            if problem:
                errors.add(line, "employed_from", problem)
        if row["unit_code"] and row["unit_code"] not in units:
            errors.add(line, "unit_code", "Đơn vị không tồn tại.")
        if row["position_code"] and row["position_code"] not in positions:
            errors.add(line, "position_code", "Vị trí việc làm không có trong danh mục.")
        if not row["code"]:
            continue  # empty or too long: already a problem of its own
        if row["code"] in seen:
            errors.add(line, "code", f"Mã công chức trùng với dòng {seen[row['code']]}.")
        seen.setdefault(row["code"], line)
    codes, existing = list(seen), {}
    for start in range(0, len(codes), 5000):  # bounded IN lists
        existing.update({cs.code: cs for cs in session.scalars(
            sa.select(CivilServant).where(CivilServant.code.in_(codes[start:start + 5000])))})
    for cs in existing.values():
        if cs.employment_status == "left":
            errors.add(seen[cs.code], "code", "Công chức đã nghỉ việc.")
    errors.raise_if_any()
    communes = _commune_map(session)
    now, new_rows, events, updated = utcnow(), [], [], 0
    for row in rows:
        values = {k: row.get(k) for k in REGISTRY_FIELDS}
        values["hard_area"] = bool(values["hard_area"])
        values["child_under_36_months"] = bool(values["child_under_36_months"])
        values["employment_status"] = values["employment_status"] or "active"
        cs = existing.get(row["code"])
        if cs is None:
            record = {"id": str(uuid.uuid4()), "code": row["code"], **values, "created_at": now, "updated_at": now,
                      "status_since": values["employed_from"], "left_on": None, "left_reason": None}
            new_rows.append(record)
            shown = CivilServant(**record)
            events.append(("needs.civil_servant_registered", _cs_payload(shown, communes[shown.unit_code]), None))
            continue
        changed = sorted(k for k, v in values.items() if getattr(cs, k) != v)
        if not changed:
            continue
        for key in changed:
            setattr(cs, key, values[key])
        if "employment_status" in changed:
            cs.status_since = local_today()
        if {"unit_code", "position_code"} & set(changed):
            _follow_person(session, cs, communes[cs.unit_code])
        cs.updated_at = now
        updated += 1
        events.append(("needs.civil_servant_updated", {**_cs_payload(cs, communes[cs.unit_code]),
                                                       "employment_status": cs.employment_status,
                                                       "changed_fields": changed}, None))
    session.flush()
    bulk_insert(session, CivilServant.__table__, new_rows)
    for start in range(0, len(events), 1000):
        OUTBOX.emit_many(session, events[start:start + 1000])
    return {"rows": len(rows), "registered": len(new_rows), "updated": updated,
            "unchanged": len(rows) - len(new_rows) - updated}


def export_registry(session: Session, *, unit_code=None, commune_code=None, position_code=None,
                    employment_status=None) -> list[dict]:
    """Return the registry as rows of REGISTRY_COLUMNS (with today's commune), ordered by code."""
    communes = _commune_map(session)
    stmt = _registry_query(session, unit_code, commune_code, position_code, employment_status)
    return [{**{c.key: getattr(cs, c.key, None) for c in REGISTRY_COLUMNS}, "commune_code": communes[cs.unit_code],
             "gender": _GENDER_SHOWN.get(cs.gender, cs.gender)}
            for cs in session.scalars(stmt.order_by(CivilServant.code))]


_GENDER_SHOWN = {"male": "Nam", "female": "Nữ"}  # as district officers write it (and the import reads it back)


# --- competency framework --------------------------------------------------------------------------------------------

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


# --- survey campaigns ---------------------------------------------------------------------------------------------------

def open_campaign(session: Session, data: dict) -> Campaign:
    """Open a survey campaign over today's communes: every active civil servant there is expected to answer."""
    # The survey feeds the plan of `year`: it runs that year or the year before, never after the plan year ends.
    if not date(data["year"] - 1, 1, 1) <= data["deadline"] <= date(data["year"], 12, 31):
        raise Invalid(f"Hạn khảo sát phải trong năm {data['year'] - 1} hoặc {data['year']}.", field="deadline")
    communes = {c.code for c in list_units(session, local_today())}
    unknown = [c for c in data["unit_codes"] if c not in communes]
    if unknown:
        raise Invalid(f"Không phải xã đang có hiệu lực: {', '.join(unknown)}.", field="unit_codes")
    fw = session.get(FrameworkVersion, data["framework_id"]) if data.get("framework_id") else current_framework(session)
    if fw is None:
        raise Invalid("Không tìm thấy phiên bản khung năng lực.", field="framework_id")
    campaign = Campaign(id=str(uuid.uuid4()), year=data["year"], title=data["title"],
                        unit_codes=sorted(set(data["unit_codes"])), deadline=data["deadline"], framework_id=fw.id,
                        status="open", created_at=utcnow())
    session.add(campaign)
    session.flush()
    wanted = set(campaign.unit_codes)
    communes_of = _commune_map(session)
    rows = [{"campaign_id": campaign.id, "civil_servant_id": cs_id, "commune_code": communes_of[unit]}
            for cs_id, unit in session.execute(sa.select(CivilServant.id, CivilServant.unit_code)
                                               .where(CivilServant.employment_status == "active"))
            if communes_of[unit] in wanted]
    bulk_insert(session, SurveyResponse.__table__, rows)
    return campaign


def _campaign(session: Session, campaign_id: str) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound("Không tìm thấy đợt khảo sát.", field="campaign_id")
    return campaign


CLOSE_KIND = "close_campaign"  # the shared.jobs kind of a campaign's close


def _close_key(campaign_id: str) -> str:
    return f"{CLOSE_KIND}:{campaign_id}"


def _close_job_view(job: CloseJob | None, queued) -> dict | None:
    """The close's progress (CloseJob) with its attempts, error type and failure from the shared job row."""
    if job is None:
        return None
    view = {a.key: getattr(job, a.key) for a in sa.inspect(CloseJob).column_attrs}
    if queued is not None:
        view["attempts"] = queued.attempts
        view["error"] = queued.last_error.split(" ", 1)[0] if queued.last_error else None  # the type, as before
        if queued.status == "failed":
            view["status"], view["finished_at"] = "failed", queued.finished_at
    return view


def _campaign_view(campaign: Campaign, queued) -> dict:
    return {**{a.key: getattr(campaign, a.key) for a in sa.inspect(Campaign).column_attrs},
            "close_job": _close_job_view(campaign.close_job, queued)}


def list_campaigns(session: Session) -> list[dict]:
    """Return every campaign, newest first, with the progress of its close."""
    queued = {r.dedupe_key: r for r in session.execute(
        sa.select(JOBS_TABLE).where(JOBS_TABLE.c.kind == CLOSE_KIND))}
    return [_campaign_view(c, queued.get(_close_key(c.id)))
            for c in session.scalars(sa.select(Campaign).order_by(Campaign.created_at.desc()))]


def get_campaign(session: Session, campaign_id: str) -> dict:
    """Return one campaign with the progress of its close."""
    campaign = _campaign(session, campaign_id)
    return _campaign_view(campaign, jobs.find(session, JOBS_TABLE, _close_key(campaign_id)))


def submit_response(session: Session, campaign_id: str, data: dict) -> SurveyResponse:
    """Record a self- or supervisor assessment (levels per competency) and, from the person, their wishes."""
    campaign = _campaign(session, campaign_id)
    if campaign.status != "open":
        raise Conflict("Đợt khảo sát đã đóng.", field="campaign_id")
    response = session.get(SurveyResponse, (campaign_id, data["civil_servant_id"]))
    if response is None:
        raise Invalid("Công chức không thuộc đợt khảo sát này.", field="civil_servant_id")
    competencies = set(_competency_topics(session, campaign.framework_id))
    unknown = sorted(set(data["levels"]) - competencies)
    if unknown:
        raise Invalid(f"Năng lực không có trong khung: {', '.join(unknown)}.", field="levels")
    if not data["levels"]:
        raise Invalid("Cần ít nhất một mức năng lực.", field="levels")
    role = data["role"]
    current = {a.competency_code: a for a in session.scalars(sa.select(Assessment).where(
        Assessment.campaign_id == campaign_id, Assessment.civil_servant_id == data["civil_servant_id"]))}
    for code, level in data["levels"].items():
        row = current.get(code)
        if row is None:
            row = Assessment(campaign_id=campaign_id, civil_servant_id=data["civil_servant_id"], competency_code=code)
            session.add(row)
        setattr(row, "self_level" if role == "self" else "supervisor_level", level)
    now = utcnow()
    if role == "self":
        response.self_submitted_at = now
        for key in ("wished_topics", "wish_text", "preferred_form", "preferred_time"):
            if data.get(key) is not None:
                setattr(response, key, data[key])
    else:
        response.supervisor_submitted_at = now
    session.flush()
    return response


def campaign_progress(session: Session, campaign_id: str) -> dict:
    """Return answered / missing counts per commune and who has not answered yet."""
    campaign = _campaign(session, campaign_id)
    rows = session.execute(sa.select(SurveyResponse.commune_code, SurveyResponse.civil_servant_id,
                                     SurveyResponse.self_submitted_at, SurveyResponse.supervisor_submitted_at,
                                     CivilServant.code, CivilServant.full_name)
                           .join(CivilServant, CivilServant.id == SurveyResponse.civil_servant_id)
                           .where(SurveyResponse.campaign_id == campaign_id)
                           .order_by(SurveyResponse.commune_code, CivilServant.code)).all()
    units: dict[str, dict] = {}
    for commune, cs_id, self_at, sup_at, code, name in rows:
        u = units.setdefault(commune, {"commune_code": commune, "expected": 0, "self_done": 0, "supervisor_done": 0,
                                       "complete": 0, "missing": []})
        u["expected"] += 1
        u["self_done"] += self_at is not None
        u["supervisor_done"] += sup_at is not None
        if self_at is not None and sup_at is not None:
            u["complete"] += 1
        else:
            u["missing"].append({"civil_servant_id": cs_id, "code": code, "full_name": name,
                                 "self_missing": self_at is None, "supervisor_missing": sup_at is None})
    for u in units.values():
        u["complete_share"] = round(u["complete"] / u["expected"], 4) if u["expected"] else None
    return {"campaign_id": campaign.id, "status": campaign.status, "deadline": campaign.deadline,
            "units": list(units.values())}


def _person(cs, position_leadership: dict[str, bool]) -> domain.Person:
    return domain.Person(
        id=cs.id, position_code=cs.position_code, leadership=position_leadership.get(cs.position_code, False),
        hard_area=bool(cs.hard_area), ethnic_minority=(cs.ethnicity or "").strip().lower() != "kinh",
        qualifications={"degree_level": cs.degree_level, "llct_level": cs.llct_level, "qlnn_level": cs.qlnn_level,
                        "it_level": cs.it_level, "foreign_language_level": cs.foreign_language_level},
        employed_from=cs.employed_from)


def _combination_case(rule: domain.CombinationRule, self_col, sup_col):
    """The combination rule as a SQL CASE over every pair of levels, each result taken from domain.combine.

    The rule stays defined in one place (the domain); the database only looks the answer up.
    """
    if rule.method == "supervisor_else_self":  # the seeded rule: a plain COALESCE is far cheaper than 35 branches
        return sa.func.coalesce(sup_col, self_col)

    def value(v):
        return sa.null() if v is None else sa.literal(v, sa.Integer)
    levels = range(1, 6)
    whens = [(sa.and_(self_col == a, sup_col == b), value(domain.combine(a, b, rule))) for a in levels for b in levels]
    whens += [(sa.and_(self_col == a, sup_col.is_(None)), value(domain.combine(a, None, rule))) for a in levels]
    whens += [(sa.and_(self_col.is_(None), sup_col == b), value(domain.combine(None, b, rule))) for b in levels]
    return sa.case(*whens, else_=sa.null())


def _uuid4_strings(n: int) -> list[str]:
    """n random (version 4) UUIDs as text, from one read of the OS random source (uuid.uuid4 is slow per call)."""
    raw = bytearray(os.urandom(16 * n))
    out = []
    for i in range(0, 16 * n, 16):
        raw[i + 6] = (raw[i + 6] & 0x0F) | 0x40
        raw[i + 8] = (raw[i + 8] & 0x3F) | 0x80
        h = raw[i:i + 16].hex()
        out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out


CLOSE_CHUNK = 5_000  # people per committed step of a close job: a few seconds of work, a bounded transaction


def _close_params(session: Session, today: date) -> dict:
    """Freeze the rules in force today, so every chunk of a (possibly resumed) close job uses the same ones."""
    return {"today": today.isoformat(), "combination": rule_value(session, "combination", today),
            "priority_weights": rule_value(session, "priority_weights", today),
            "standards": rule_value(session, "standards", today)["rules"]}


def _close_result(session: Session, campaign: Campaign, job: CloseJob) -> dict:
    return {"campaign_id": campaign.id, "status": campaign.status, "combination": campaign.combination,
            "people": job.people_done, "needs": job.needs, "competency_gap": job.competency_gap,
            "standard": job.standard, "job": _close_job_view(job, jobs.find(session, JOBS_TABLE, _close_key(campaign.id)))}


def request_close(session: Session, campaign_id: str, *, inline_limit: int | None = None,
                  chunk: int = CLOSE_CHUNK, now: datetime | None = None) -> tuple[dict, bool]:
    """Close a campaign: compute the needs now when it is small, else queue a durable job for the needs worker.

    Returns (result, queued). A campaign of at most `inline_limit` people (None = no limit) is closed in this
    transaction; a larger one becomes "closing" with a CloseJob the worker runs in committed chunks (a national
    campaign takes longer than an HTTP request may). Asking again for a campaign whose job failed re-queues it.
    """
    now = now or utcnow()
    campaign = session.get(Campaign, campaign_id, with_for_update=True)  # two clicks on «Đóng» make one job
    if campaign is None:
        raise NotFound("Không tìm thấy đợt khảo sát.", field="campaign_id")
    job = session.get(CloseJob, campaign_id)
    queued = jobs.find(session, JOBS_TABLE, _close_key(campaign_id))
    if campaign.status == "closing" and job is not None and queued is not None and queued.status == "failed":
        jobs.retry(session, JOBS_TABLE, queued.id, now)
        # Asking again starts the count of attempts afresh (the operator's /admin/needs/jobs retry keeps it).
        session.execute(sa.update(JOBS_TABLE).where(JOBS_TABLE.c.id == queued.id).values(attempts=0,
                                                                                         last_error=None))
        job.status = "queued"
        session.flush()
        return _close_result(session, campaign, job), True
    if campaign.status == "closing":
        raise Conflict("Đợt khảo sát đang được đóng; xem tiến độ ở thông tin đợt khảo sát.", field="campaign_id")
    if campaign.status != "open":
        raise Conflict("Đợt khảo sát đã đóng.", field="campaign_id")
    today = local_today(now)
    params = _close_params(session, today)
    people = session.scalar(sa.select(sa.func.count()).select_from(SurveyResponse).join(
        CivilServant, CivilServant.id == SurveyResponse.civil_servant_id).where(
        SurveyResponse.campaign_id == campaign_id, CivilServant.employment_status != "left"))
    campaign.status, campaign.combination = "closing", params["combination"]
    job = CloseJob(campaign_id=campaign_id, status="queued", params=params, cursor="", people_total=people,
                   people_done=0, needs=0, competency_gap=0, standard=0, attempts=0, created_at=now)
    session.add(job)
    session.flush()
    if inline_limit is not None and people > inline_limit:
        jobs.enqueue(session, JOBS_TABLE, CLOSE_KIND, {"campaign_id": campaign_id}, dedupe_key=_close_key(campaign_id),
                     now=now)
        return _close_result(session, campaign, job), True
    while not close_campaign_step(session, campaign_id, chunk):
        pass
    return _close_result(session, campaign, job), False


def close_campaign(session: Session, campaign_id: str, chunk: int = CLOSE_CHUNK, now: datetime | None = None) -> dict:
    """Close a campaign in this transaction whatever its size (CLI, seeds and tests): see request_close."""
    return request_close(session, campaign_id, inline_limit=None, chunk=chunk, now=now)[0]


def close_campaign_step(session: Session, campaign_id: str, chunk: int = CLOSE_CHUNK) -> bool:
    """Compute the needs of the next `chunk` surveyed people after the job's cursor; return True when finished.

    Combines the assessments by the frozen rule, appends the levels to the competency record and stores the needs.
    Open needs of those people not in any plan are replaced by the new measurement; planned and met needs stay,
    and no new need is made for a (person, topic) already open in a plan or planned. The cursor moves in the same
    transaction as the rows it covers, so a job resumed after a crash neither repeats nor skips anyone.
    """
    job = session.get(CloseJob, campaign_id, with_for_update=True)
    if job is None or job.status == "done":
        return True
    campaign = session.get(Campaign, campaign_id)
    now = utcnow()
    params = job.params
    today = date.fromisoformat(params["today"])
    if job.status == "queued":
        job.status, job.started_at = "running", now
    job.heartbeat_at = now
    people = session.execute(
        sa.select(CivilServant.id, CivilServant.unit_code, CivilServant.position_code, CivilServant.hard_area,
                  CivilServant.ethnicity, CivilServant.degree_level, CivilServant.llct_level,
                  CivilServant.qlnn_level, CivilServant.it_level, CivilServant.foreign_language_level,
                  CivilServant.employed_from, SurveyResponse.wished_topics)
        .join(SurveyResponse, SurveyResponse.civil_servant_id == CivilServant.id)
        .where(SurveyResponse.campaign_id == campaign_id, SurveyResponse.civil_servant_id > job.cursor,
               CivilServant.employment_status != "left")  # left since the campaign opened: no need
        .order_by(SurveyResponse.civil_servant_id).limit(chunk)).all()
    if not people:
        job.status, job.finished_at = "done", now
        campaign.status, campaign.closed_at = "closed", now
        session.flush()
        return True
    first_id, last_id = people[0].id, people[-1].id
    in_chunk = sa.select(SurveyResponse.civil_servant_id).where(
        SurveyResponse.campaign_id == campaign_id, SurveyResponse.civil_servant_id.between(first_id, last_id))
    # Needs not yet in any plan are replaced by the new measurement; those in a plan line (draft or approved) stay.
    session.execute(sa.delete(Need).where(Need.status == "open", Need.plan_line_id.is_(None),
                                          Need.civil_servant_id.in_(in_chunk)))
    planned = set(session.execute(sa.select(Need.civil_servant_id, Need.topic_code).where(
        Need.status.in_(OPEN_STATUSES), Need.civil_servant_id.in_(in_chunk))).all())
    rule = domain.CombinationRule.from_data(params["combination"])
    weights = domain.PriorityWeights.from_data(params["priority_weights"])
    standards = [domain.StandardRule.from_data(r) for r in params["standards"]]
    required = _requirements(session, campaign.framework_id)
    topics = _competency_topics(session, campaign.framework_id)
    leadership = {p.code: p.leadership for p in session.scalars(sa.select(Position))}
    communes = _commune_map(session, today)
    provinces = dict(session.execute(sa.select(Unit.code, Unit.province_code)).all())
    # Set-based: the combined level is computed by the database (a CASE built from domain.combine) and the survey
    # levels go to the competency record with INSERT … SELECT, so the ~1.5·10⁶ records of a national campaign
    # never pass through Python.
    level = _combination_case(rule, Assessment.self_level, Assessment.supervisor_level)
    chunk_assessments = sa.and_(
        Assessment.campaign_id == campaign_id, Assessment.civil_servant_id.between(first_id, last_id),
        CivilServant.employment_status != "left")
    with_person = sa.select(Assessment).join(CivilServant, CivilServant.id == Assessment.civil_servant_id)
    session.execute(sa.insert(CompetencyRecord).from_select(
        ["civil_servant_id", "competency_code", "level", "source", "source_ref", "assessed_at", "recorded_at"],
        with_person.with_only_columns(
            Assessment.civil_servant_id, Assessment.competency_code, level, sa.literal("survey"),
            sa.literal(campaign_id), sa.literal(now, UTCDateTime()), sa.literal(now, UTCDateTime()))
        .where(chunk_assessments, level.is_not(None))))
    assessed: dict[str, dict[str, int | None]] = defaultdict(dict)
    position_of = {row.id: row.position_code for row in people}
    for cs_id, code, value in session.execute(
            with_person.with_only_columns(Assessment.civil_servant_id, Assessment.competency_code, level)
            .where(chunk_assessments, level.is_not(None))):
        # Only levels below the requirement matter (domain.gap is 0 otherwise); filtered here rather than by a join
        # to position_requirements, whose plan depends on fresh table statistics.
        if value < required.get(position_of.get(cs_id), {}).get(code, 0):
            assessed[cs_id][code] = value
    ids: list[str] = []
    batch = []
    counts = {"competency_gap": 0, "standard": 0}
    for row in people:
        person = _person(row, leadership)
        commune = communes[row.unit_code]
        province = provinces.get(commune, "CM")
        for draft in domain.needs_of(person, required.get(row.position_code, {}), assessed.get(row.id, {}),
                                     topics, standards, weights, today, set(row.wished_topics or ())):
            if (row.id, draft.topic_code) in planned:
                continue
            if not ids:
                ids = _uuid4_strings(4096)
            batch.append({"id": ids.pop(), "civil_servant_id": row.id,
                          "campaign_id": campaign_id,
                          "year": campaign.year, "kind": draft.kind, "topic_code": draft.topic_code,
                          "competency_code": draft.competency_code, "standard_code": draft.standard_code,
                          "required_level": draft.required_level, "assessed_level": draft.assessed_level,
                          "gap": draft.gap, "deadline": draft.deadline, "priority_score": draft.priority_score,
                          "reasons": draft.reasons, "status": "open", "unit_code": row.unit_code,
                          "commune_code": commune, "province_code": province,
                          "position_code": row.position_code, "plan_line_id": None, "met_by": None,
                          "created_at": now, "met_at": None})
            counts[draft.kind] += 1
    bulk_insert(session, Need.__table__, batch)
    job.cursor = last_id
    job.people_done += len(people)
    job.needs += len(batch)
    job.competency_gap += counts["competency_gap"]
    job.standard += counts["standard"]
    session.flush()
    return False


# --- competency record --------------------------------------------------------------------------------------------------

def get_close_progress(session: Session, campaign_id: str) -> dict | None:
    """Return the progress of a campaign's close (None if it was never asked to close)."""
    return _close_job_view(session.get(CloseJob, campaign_id), jobs.find(session, JOBS_TABLE, _close_key(campaign_id)))


def competency_profile(session: Session, cs_id: str) -> dict:
    """Return a civil servant's current level per competency (the latest record) and the full history."""
    cs, commune = get_civil_servant(session, cs_id)
    history = list(session.scalars(sa.select(CompetencyRecord).where(CompetencyRecord.civil_servant_id == cs_id)
                                   .order_by(CompetencyRecord.assessed_at, CompetencyRecord.id)))
    current: dict[str, CompetencyRecord] = {}
    for rec in history:
        current[rec.competency_code] = rec  # ordered by assessment time: the last one wins
    fw = current_framework(session)
    required = _requirements(session, fw.id).get(cs.position_code, {})
    return {"civil_servant_id": cs.id, "commune_code": commune, "position_code": cs.position_code,
            "current": [{"competency_code": c, "level": r.level, "required_level": required.get(c),
                         "gap": domain.gap(required.get(c), r.level), "source": r.source, "assessed_at": r.assessed_at}
                        for c, r in sorted(current.items())],
            "history": history}


def record_assessed_levels(session: Session, envelope) -> int:
    """evaluation.course_evaluated: append the post-training levels to the competency record (and its history).

    History rows are append-only and ordered by the evaluation time, so an older evaluation arriving late never
    becomes the current level. An assessed level never marks a need met (domain.meets_training_need): only a
    certified completion does, so the arrival order of course_completed and course_evaluated does not matter.
    """
    payload = envelope.payload
    at = payload["evaluated_at"]
    at = at if isinstance(at, datetime) else datetime.fromisoformat(at)
    known = set(session.scalars(sa.select(CivilServant.id).where(
        CivilServant.id.in_({a["civil_servant_id"] for a in payload.get("assessed_levels", [])}))))
    # Second guard beside the inbox: the same evaluation re-published under a new event id adds no history twice.
    recorded = set(session.execute(sa.select(CompetencyRecord.civil_servant_id, CompetencyRecord.competency_code)
                                   .where(CompetencyRecord.source == "evaluation",
                                          CompetencyRecord.source_ref == payload["course_id"],
                                          CompetencyRecord.assessed_at == at)).all())
    added = 0
    for item in payload.get("assessed_levels", []):
        if item["civil_servant_id"] not in known:
            continue  # not a civil servant of this registry (e.g. a guest trainee)
        if (item["civil_servant_id"], item["competency_code"]) in recorded:
            continue
        recorded.add((item["civil_servant_id"], item["competency_code"]))
        session.add(CompetencyRecord(civil_servant_id=item["civil_servant_id"], competency_code=item["competency_code"],
                                     level=item["level"], source="evaluation", source_ref=payload["course_id"],
                                     assessed_at=at, recorded_at=utcnow()))
        added += 1
    session.flush()
    return added


def record_course_completed(session: Session, envelope) -> int:
    """courses.course_completed: a certified participant's matching needs become met (by need_ids, else topic)."""
    payload = envelope.payload
    met = 0
    now = utcnow()
    for p in payload["participants"]:
        if not domain.meets_training_need(domain.Evidence.CERTIFIED_COMPLETION, completed=p["completed"],
                                          certified=p.get("certified")):
            continue
        stmt = sa.select(Need).where(Need.civil_servant_id == p["civil_servant_id"], Need.status.in_(OPEN_STATUSES))
        if p.get("need_ids"):
            matching = list(session.scalars(stmt.where(Need.id.in_(p["need_ids"]))))
        else:
            # The plan line the course came from names the needs best; the topic is the fallback.
            matching = list(session.scalars(stmt.where(Need.plan_line_id == payload["plan_line_id"]))) \
                if payload.get("plan_line_id") else []
            if not matching and payload.get("topic_code"):
                matching = list(session.scalars(stmt.where(Need.topic_code == payload["topic_code"])))
        for need in matching:
            need.status, need.met_at, need.met_by = "met", now, payload["course_id"]
            met += 1
    session.flush()
    return met


# --- needs ------------------------------------------------------------------------------------------------------------

def list_needs(session: Session, *, civil_servant_id=None, commune_code=None, unit_code=None, topic_code=None,
               position_code=None, status=None, kind=None, page: int = 1,
               page_size: int = 50) -> tuple[list[Need], int]:
    """Return one page of needs, highest priority first."""
    stmt = sa.select(Need)
    for column, value in ((Need.civil_servant_id, civil_servant_id), (Need.commune_code, commune_code),
                          (Need.unit_code, unit_code),
                          (Need.topic_code, topic_code), (Need.position_code, position_code),
                          (Need.status, status), (Need.kind, kind)):
        if value:
            stmt = stmt.where(column == value)
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))
    rows = list(session.scalars(stmt.order_by(Need.priority_score.desc(), Need.id)
                                .offset((page - 1) * page_size).limit(page_size)))
    return rows, total


# unit_code is the unit registered (a former unit for people registered before the 2025 merger): the issue wants
# every civil servant reportable both by today's commune and by the unit they belonged to.
ROLLUP_KEYS = ("topic_code", "commune_code", "unit_code", "position_code", "province_code")


def needs_rollup(session: Session, *, group_by: list[str], province_code=None, commune_code=None, topic_code=None,
                 unit_code=None, statuses: tuple[str, ...] = OPEN_STATUSES) -> list[dict]:
    """Aggregate needs by any of topic / commune / former unit / position / province: counts, mandatory, priority."""
    keys = [k for k in ROLLUP_KEYS if k in group_by] or ["topic_code"]
    cols = [getattr(Need, k) for k in keys]
    stmt = sa.select(*cols, sa.func.count().label("needs"),
                     sa.func.sum(sa.case((Need.kind == "standard", 1), else_=0)).label("mandatory"),
                     sa.func.sum(sa.case((Need.status == "planned", 1), else_=0)).label("planned"),
                     sa.func.avg(Need.priority_score).label("mean_priority"),
                     sa.func.max(Need.priority_score).label("max_priority")).group_by(*cols).order_by(*cols)
    stmt = stmt.where(Need.status.in_(statuses))
    if province_code:
        stmt = stmt.where(Need.province_code == province_code)
    if commune_code:
        stmt = stmt.where(Need.commune_code == commune_code)
    if topic_code:
        stmt = stmt.where(Need.topic_code == topic_code)
    if unit_code:
        stmt = stmt.where(Need.unit_code == unit_code)
    if is_postgres(session):
        # A country-wide roll-up groups ~10⁶ needs: give the hash aggregate room instead of spilling to disk.
        session.execute(sa.text("SET LOCAL work_mem = '64MB'"))
    names = (*keys, "needs", "mandatory", "planned", "mean_priority", "max_priority")
    n = len(keys)
    return [dict(zip(names, (*r[:n], r[n], int(r[n + 1] or 0), int(r[n + 2] or 0), round(float(r[n + 3] or 0), 2),
                             float(r[n + 4] or 0)))) for r in session.execute(stmt)]


def below_standard(session: Session, commune_code: str | None = None, unit_code: str | None = None) -> list[dict]:
    """Civil servants not meeting their position's standard: unmet qualifications and competencies below required."""
    standards = _standards(session)
    fw = current_framework(session)
    required = _requirements(session, fw.id)
    leadership = {p.code: p.leadership for p in session.scalars(sa.select(Position))}
    communes = _commune_map(session)
    current: dict[str, dict[str, tuple]] = defaultdict(dict)
    for rec in session.scalars(sa.select(CompetencyRecord).order_by(CompetencyRecord.assessed_at, CompetencyRecord.id)):
        current[rec.civil_servant_id][rec.competency_code] = rec.level
    out = []
    people = sa.select(CivilServant).where(CivilServant.employment_status != "left").order_by(CivilServant.code)
    if unit_code:
        people = people.where(CivilServant.unit_code == unit_code)
    for cs in session.scalars(people):
        commune = communes[cs.unit_code]
        if commune_code and commune != commune_code:
            continue
        unmet = domain.unmet_standards(_person(cs, leadership), standards)
        below = [c for c, lvl in sorted(required.get(cs.position_code, {}).items())
                 if (have := current[cs.id].get(c)) is not None and have < lvl]
        if unmet or below:
            out.append({"civil_servant_id": cs.id, "code": cs.code, "full_name": cs.full_name,
                        "unit_code": cs.unit_code, "commune_code": commune, "position_code": cs.position_code,
                        "unmet_standards": ", ".join(u.rule.code for u in unmet),
                        "deadline": min((u.deadline for u in unmet if u.deadline), default=None),
                        "competencies_below": ", ".join(below)})
    return out


# --- plans ---------------------------------------------------------------------------------------------------------------

def _plan(session: Session, plan_id: str) -> Plan:
    plan = session.get(Plan, plan_id)
    if plan is None:
        raise NotFound("Không tìm thấy kế hoạch.", field="plan_id")
    return plan


def create_plan(session: Session, data: dict) -> Plan:
    """Draft a yearly plan; with from_needs, lines topic × commune × position are drafted from the open needs."""
    if not 2025 <= data["year"] <= 2030:
        raise Invalid("Năm kế hoạch phải trong giai đoạn đề án 2025–2030.", field="year")
    plan = Plan(id=str(uuid.uuid4()), year=data["year"], scheme_code=SCHEME_CODE, title=data["title"],
                status="draft", created_at=utcnow())
    session.add(plan)
    session.flush()
    if data.get("from_needs", True):
        stmt = sa.select(Need).where(Need.status == "open", Need.priority_score >= data.get("min_priority", 0))
        if data.get("commune_codes"):
            stmt = stmt.where(Need.commune_code.in_(data["commune_codes"]))
        if data.get("topic_codes"):
            stmt = stmt.where(Need.topic_code.in_(data["topic_codes"]))
        # A need already in another plan's line is not drafted again.
        stmt = stmt.where(Need.plan_line_id.is_(None))
        needs = [domain.OpenNeed(n.id, n.civil_servant_id, n.topic_code, n.competency_code, n.commune_code,
                                 n.position_code, n.priority_score) for n in session.scalars(stmt)]
        for line in domain.draft_lines(needs, class_size=data.get("class_size", 40),
                                       by_position=data.get("by_position", False)):
            _add_line(session, plan, line.topic_code, line.competency_codes, line.commune_code, line.position_code,
                      line.quarter, line.candidates)
    _check_targets(session, data.get("targets", []))
    session.add_all([PlanTarget(plan_id=plan.id, commune_code=t["commune_code"], target_share=t["target_share"])
                     for t in data.get("targets", [])])
    session.flush()
    return plan


def _check_targets(session: Session, targets: list[dict]) -> None:
    """A target is set once per commune in force today."""
    communes = set(_commune_map(session).values())
    seen = set()
    for t in targets:
        if t["commune_code"] not in communes:
            raise Invalid(f"Không phải xã đang có hiệu lực: {t['commune_code']}.", field="targets")
        if t["commune_code"] in seen:
            raise Invalid(f"Xã {t['commune_code']} có hai chỉ tiêu.", field="targets")
        seen.add(t["commune_code"])


def _add_line(session, plan, topic_code, competency_codes, commune_code, position_code, quarter, candidates,
              headcount=None) -> PlanLine:
    line = PlanLine(id=str(uuid.uuid4()), plan_id=plan.id, topic_code=topic_code, competency_codes=competency_codes,
                    unit_code=commune_code, position_code=position_code,
                    headcount=len(candidates) if headcount is None else headcount, quarter=quarter)
    session.add(line)
    session.flush()
    for c in candidates:
        session.add(PlanCandidate(line_id=line.id, civil_servant_id=c["civil_servant_id"],
                                  commune_code=c["commune_code"], priority_score=c["priority_score"],
                                  need_ids=list(c["need_ids"])))
    if candidates:
        need_ids = [n for c in candidates for n in c["need_ids"]]
        for start in range(0, len(need_ids), 500):
            session.execute(sa.update(Need).where(Need.id.in_(need_ids[start:start + 500]))
                            .values(plan_line_id=line.id))
    return line


def add_plan_line(session: Session, plan_id: str, data: dict) -> PlanLine:
    """Add a line by hand: topic × commune (× position), named civil servants and/or a head-count."""
    plan = _plan(session, plan_id)
    if plan.status != "draft":
        raise Conflict("Chỉ sửa được kế hoạch ở trạng thái dự thảo.", field="status")
    communes = _commune_map(session)
    if data["unit_code"] not in set(communes.values()):
        raise Invalid("Không phải xã đang có hiệu lực.", field="unit_code")
    if data.get("position_code") and session.get(Position, data["position_code"]) is None:
        raise Invalid("Vị trí việc làm không có trong danh mục.", field="position_code")
    ids = data.get("civil_servant_ids", [])
    if len(set(ids)) != len(ids):
        raise Invalid("Một công chức được kê hai lần.", field="civil_servant_ids")
    candidates = []
    for cs_id in ids:
        cs = session.get(CivilServant, cs_id)
        if cs is None or cs.employment_status == "left":
            raise Invalid(f"Không tìm thấy công chức đang làm việc «{cs_id}».", field="civil_servant_ids")
        needs = list(session.scalars(sa.select(Need).where(Need.civil_servant_id == cs_id,
                                                           Need.topic_code == data["topic_code"],
                                                           Need.status == "open",
                                                           Need.plan_line_id.is_(None))))  # not in another plan
        candidates.append({"civil_servant_id": cs_id, "commune_code": communes[cs.unit_code],
                           "priority_score": max((n.priority_score for n in needs), default=0.0),
                           "need_ids": [n.id for n in needs]})
    headcount = max(data.get("headcount") or 0, len(candidates))
    if headcount == 0:
        raise Invalid("Dòng kế hoạch phải có số lượng hoặc danh sách công chức.", field="headcount")
    return _add_line(session, plan, data["topic_code"], data.get("competency_codes", []), data["unit_code"],
                     data.get("position_code"), data.get("quarter"), candidates, headcount)


def delete_plan(session: Session, plan_id: str) -> None:
    """Discard a draft plan; the needs its lines held become free for another plan."""
    plan = _plan(session, plan_id)
    if plan.status != "draft":
        raise Conflict("Chỉ xóa được kế hoạch ở trạng thái dự thảo.", field="status")
    lines = sa.select(PlanLine.id).where(PlanLine.plan_id == plan_id)
    session.execute(sa.update(Need).where(Need.plan_line_id.in_(lines), Need.status == "open")
                    .values(plan_line_id=None))
    session.execute(sa.delete(PlanCandidate).where(PlanCandidate.line_id.in_(lines)))
    session.execute(sa.delete(PlanLine).where(PlanLine.plan_id == plan_id))
    session.execute(sa.delete(PlanTarget).where(PlanTarget.plan_id == plan_id))
    session.delete(plan)
    session.flush()


def set_plan_targets(session: Session, plan_id: str, targets: list[dict]) -> Plan:
    """Set the per-commune targets (share of active civil servants trained) of a draft plan."""
    plan = _plan(session, plan_id)
    if plan.status != "draft":
        raise Conflict("Chỉ sửa được kế hoạch ở trạng thái dự thảo.", field="status")
    _check_targets(session, targets)
    session.execute(sa.delete(PlanTarget).where(PlanTarget.plan_id == plan_id))
    session.add_all([PlanTarget(plan_id=plan_id, commune_code=t["commune_code"], target_share=t["target_share"])
                     for t in targets])
    session.flush()
    return plan


def transition_plan(session: Session, plan_id: str, action: str, data: dict | None = None) -> Plan:
    """Move a plan through draft → submitted → approved (or back to draft); approval publishes needs.plan_approved."""
    plan = _plan(session, plan_id)
    data = data or {}
    try:
        target = domain.next_status(plan.status, action)
    except ValueError:
        raise Conflict(f"Kế hoạch đang ở trạng thái «{plan.status}», không thể thực hiện.", field="status") from None
    lines = list(session.scalars(sa.select(PlanLine).where(PlanLine.plan_id == plan_id).order_by(PlanLine.id)))
    if action == "submit" and not lines:
        raise Conflict("Kế hoạch chưa có dòng nào.", field="lines")
    now = utcnow()
    plan.status = target
    if action == "submit":
        plan.submitted_at, plan.return_reason = now, None
    elif action == "return":
        plan.return_reason = data.get("reason")
    elif action == "approve":
        plan.approved_at, plan.decision_no = now, data.get("decision_no")
        candidates, left = defaultdict(list), defaultdict(int)
        gone = set(session.scalars(sa.select(CivilServant.id).where(CivilServant.employment_status == "left")))
        for c in session.scalars(sa.select(PlanCandidate).where(PlanCandidate.line_id.in_([ln.id for ln in lines]))):
            if c.civil_servant_id in gone:
                left[c.line_id] += 1  # left since drafting: no longer trained under this plan
                session.delete(c)
            else:
                candidates[c.line_id].append(c)
        for ln in lines:
            ln.headcount = max(len(candidates[ln.id]), ln.headcount - left[ln.id])
        need_ids = [n for cs in candidates.values() for c in cs for n in c.need_ids]
        for start in range(0, len(need_ids), 500):
            session.execute(sa.update(Need).where(Need.id.in_(need_ids[start:start + 500]), Need.status == "open")
                            .values(status="planned"))
        OUTBOX.emit(session, "needs.plan_approved", {
            "plan_id": plan.id, "year": plan.year, "scheme_code": plan.scheme_code, "approved_at": now,
            "lines": [{"line_id": ln.id, "topic_code": ln.topic_code, "competency_codes": ln.competency_codes or [],
                       "unit_code": ln.unit_code, "position_code": ln.position_code, "headcount": ln.headcount,
                       "quarter": ln.quarter,
                       "candidates": [{"civil_servant_id": c.civil_servant_id, "commune_code": c.commune_code,
                                       "priority_score": c.priority_score, "need_ids": c.need_ids or []}
                                      for c in sorted(candidates[ln.id], key=lambda c: -c.priority_score)]}
                      for ln in lines]})
    session.flush()
    return plan


def get_plan(session: Session, plan_id: str) -> dict:
    """Return a plan with its lines (and named candidates) and targets."""
    plan = _plan(session, plan_id)
    lines = list(session.scalars(sa.select(PlanLine).where(PlanLine.plan_id == plan_id)
                                 .order_by(PlanLine.quarter, PlanLine.topic_code, PlanLine.unit_code)))
    cands = defaultdict(list)
    for c in session.scalars(sa.select(PlanCandidate).where(PlanCandidate.line_id.in_([ln.id for ln in lines]))):
        cands[c.line_id].append(c)
    targets = list(session.scalars(sa.select(PlanTarget).where(PlanTarget.plan_id == plan_id)))
    return {"plan": plan, "targets": targets,
            "lines": [{"line": ln, "candidates": sorted(cands[ln.id], key=lambda c: -c.priority_score)}
                      for ln in lines]}


def list_plans(session: Session, year: int | None = None) -> list[Plan]:
    """Return plans, newest first."""
    stmt = sa.select(Plan).order_by(Plan.year.desc(), Plan.created_at.desc())
    if year:
        stmt = stmt.where(Plan.year == year)
    return list(session.scalars(stmt))


def plan_coverage(session: Session, plan_id: str) -> list[dict]:
    """Coverage per commune: planned head-count vs people trained (needs of the plan met) vs the target share."""
    plan = _plan(session, plan_id)
    communes = _commune_map(session)
    active: dict[str, int] = defaultdict(int)
    for unit, n in session.execute(sa.select(CivilServant.unit_code, sa.func.count())
                                   .where(CivilServant.employment_status == "active").group_by(CivilServant.unit_code)):
        active[communes[unit]] += n
    planned: dict[str, int] = defaultdict(int)
    line_ids = []
    for line in session.scalars(sa.select(PlanLine).where(PlanLine.plan_id == plan.id)):
        planned[line.unit_code] += line.headcount
        line_ids.append(line.id)
    trained: dict[str, int] = defaultdict(int)
    if line_ids:
        for commune, n in session.execute(
                sa.select(Need.commune_code, sa.func.count(sa.distinct(Need.civil_servant_id)))
                .where(Need.plan_line_id.in_(line_ids), Need.status == "met").group_by(Need.commune_code)):
            trained[commune] += n
    targets = {t.commune_code: t.target_share for t in
               session.scalars(sa.select(PlanTarget).where(PlanTarget.plan_id == plan.id))}
    codes = sorted(set(planned) | set(targets) | {c for c in trained})
    return [{"commune_code": c, **domain.coverage(active.get(c, 0), planned.get(c, 0), trained.get(c, 0),
                                                  targets.get(c))} for c in codes]
