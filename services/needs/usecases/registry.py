"""The job-position catalogue and the civil-servant registry: register, update, leave, import, export."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.needs import domain, events, formats
from services.needs.domain import OPEN_STATUSES
from services.needs.formats import ETHNIC_GROUPS, REGISTRY_COLUMNS, _GENDER_SHOWN
from services.needs.models import OUTBOX, CivilServant, Need, Position, Unit
from services.needs.usecases.scope import OUTSIDE, check_within
from services.needs.usecases.contacts import check_contact_rows, contact_columns, import_contact_rows, set_contact
from services.needs.usecases.units import _commune_map, commune_of, successions
from shared import tabular
from shared.db import bulk_insert
from shared.errors import Conflict, Invalid, NotFound
from shared.localtime import local_today, utcnow


@dataclass(frozen=True)
class CivilServantView:
    """What the registry use cases answer: a civil servant with today's commune; unpacks as (cs, commune)."""

    civil_servant: CivilServant
    commune_code: str

    def __iter__(self):
        return iter((self.civil_servant, self.commune_code))


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


REGISTRY_FIELDS = ("full_name", "gender", "birth_year", "ethnicity", "unit_code", "position_code", "hard_area",
                   "child_under_36_months", "rank", "degree_level", "major", "llct_level", "qlnn_level", "it_level",
                   "foreign_language_level", "employed_from", "employment_status")  # as given (ethnicity: see below)


SHARED_FIELDS = {"unit_code", "position_code", "gender", "ethnic_minority", "hard_area", "child_under_36_months",
                 "employment_status"}  # the fields whose change other services hear about


def _with_ethnicity(data: dict) -> dict:
    """`ethnicity` as given (a code 01–54, an official name or a known other name, formats.ethnicity_code) becomes
    the stored `ethnicity_code` and the `ethnic_minority` derived from it (domain.is_ethnic_minority). The flag is
    never an input of its own: one that contradicts the code, or comes without an ethnicity, is refused."""
    out = {k: v for k, v in data.items() if k not in ("ethnicity", "ethnic_minority")}
    if "ethnicity" in data:
        code = formats.ethnicity_code(data["ethnicity"])
        if code is None:
            raise Invalid(formats.ETHNICITY_UNKNOWN, field="ethnicity")
        out["ethnicity_code"], out["ethnic_minority"] = code, domain.is_ethnic_minority(code)
    if "ethnic_minority" in data and data["ethnic_minority"] != out.get("ethnic_minority"):
        raise Invalid("Người dân tộc thiểu số được xác định theo dân tộc (mọi dân tộc trừ Kinh); không nhập riêng.",
                      field="ethnic_minority")
    return out


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


def register_civil_servant(session: Session, data: dict, history: list[domain.Succession] | None = None,
                           within: frozenset[str] | None = None) -> CivilServantView:
    """Add a civil servant to the registry and publish needs.civil_servant_registered.

    Returns the civil servant and today's commune. `history` (the merger history) may be passed in by a
    caller registering many at once, so it is read once. `within`: the caller's units (scope.units_within).
    """
    check_within(within, data.get("unit_code"))
    data = dict(data)
    contact = data.pop("contact", None)
    data = _with_ethnicity(data)
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
    if contact is not None:
        set_contact(session, cs.id, contact)
    commune = domain.unit_on(cs.unit_code, local_today(), successions(session) if history is None else history)
    OUTBOX.emit(session, "needs.civil_servant_registered", events.civil_servant_registered(cs, commune))
    return CivilServantView(cs, commune)


def update_civil_servant(session: Session, cs_id: str, changes: dict,
                         within: frozenset[str] | None = None) -> CivilServantView:
    """Change registry fields of a civil servant; publish needs.civil_servant_updated when something changed."""
    cs = _person(session, cs_id, within)
    if "unit_code" in changes:
        check_within(within, changes["unit_code"])  # nobody moves a person out of their own scope
    if cs.employment_status == "left":
        raise Conflict("Công chức đã nghỉ việc; không sửa được hồ sơ.", field="employment_status")
    if changes.get("employment_status") == "left":
        raise Invalid("Dùng thao tác «nghỉ việc» để ghi nhận công chức thôi việc.", field="employment_status")
    changes = dict(changes)
    contact = changes.pop("contact", None)
    if contact is not None:
        set_contact(session, cs.id, contact)  # not a shared field: no event
    changes = _with_ethnicity(changes)
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
        OUTBOX.emit(session, "needs.civil_servant_updated", events.civil_servant_updated(cs, commune, changed))
    return CivilServantView(cs, commune)


def _follow_person(session: Session, cs: CivilServant, commune: str) -> None:
    """A moved or re-posted civil servant's open and planned needs are reported under their new unit and position
    (met needs stay where they were met)."""
    province = session.scalar(sa.select(Unit.province_code).where(Unit.code == commune)) or "CM"
    session.execute(sa.update(Need).where(Need.civil_servant_id == cs.id, Need.status.in_(OPEN_STATUSES)).values(
        unit_code=cs.unit_code, commune_code=commune, province_code=province, position_code=cs.position_code))


def leave_civil_servant(session: Session, cs_id: str, data: dict,
                        within: frozenset[str] | None = None) -> CivilServantView:
    """Record that a civil servant left; publish needs.civil_servant_left (funding opens receivables)."""
    cs = _person(session, cs_id, within)
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
    OUTBOX.emit(session, "needs.civil_servant_left", events.civil_servant_left(cs, commune))
    return CivilServantView(cs, commune)


def list_civil_servants(session: Session, *, unit_code=None, commune_code=None, position_code=None,
                        employment_status=None, page: int = 1, page_size: int = 50, within=None) -> dict:
    """Return one page of civil servants (with today's commune) and the total; `within` the caller's units."""
    stmt = _registry_query(session, unit_code, commune_code, position_code, employment_status, within)
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))
    rows = list(session.scalars(stmt.order_by(CivilServant.code).offset((page - 1) * page_size).limit(page_size)))
    communes = _commune_map(session)
    return {"total": total, "page": page, "page_size": page_size,
            "items": [CivilServantView(cs, communes[cs.unit_code]) for cs in rows]}


def _registry_query(session, unit_code, commune_code, position_code, employment_status, within=None):
    stmt = sa.select(CivilServant)
    if within is not None:
        stmt = stmt.where(CivilServant.unit_code.in_(sorted(within)))
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


def _person(session: Session, cs_id: str, within: frozenset[str] | None) -> CivilServant:
    cs = session.get(CivilServant, cs_id)
    if cs is None:
        raise NotFound("Không tìm thấy công chức.", field="id")
    check_within(within, cs.unit_code, field="id")
    return cs


def get_civil_servant(session: Session, cs_id: str, within: frozenset[str] | None = None) -> CivilServantView:
    """Return one civil servant and today's commune (Forbidden outside the caller's units `within`)."""
    cs = _person(session, cs_id, within)
    return CivilServantView(cs, commune_of(session, cs.unit_code))


def import_registry(session: Session, data: bytes, filename: str, within: frozenset[str] | None = None) -> dict:
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
        elif row["unit_code"] and within is not None and row["unit_code"] not in within:
            errors.add(line, "unit_code", OUTSIDE)
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
        elif within is not None and cs.unit_code not in within:
            errors.add(seen[cs.code], "code", OUTSIDE)
    check_contact_rows(session, rows, errors, set(seen))
    errors.raise_if_any()
    communes = _commune_map(session)
    now, new_rows, published, updated = utcnow(), [], [], 0
    for row in rows:
        values = _with_ethnicity({k: row.get(k) for k in REGISTRY_FIELDS})  # the file's «Dân tộc» read as a code
        values["hard_area"] = bool(values["hard_area"])
        values["child_under_36_months"] = bool(values["child_under_36_months"])
        values["employment_status"] = values["employment_status"] or "active"
        cs = existing.get(row["code"])
        if cs is None:
            record = {"id": str(uuid.uuid4()), "code": row["code"], **values, "created_at": now, "updated_at": now,
                      "status_since": values["employed_from"], "left_on": None, "left_reason": None}
            new_rows.append(record)
            shown = CivilServant(**record)
            published.append(("needs.civil_servant_registered",
                              events.civil_servant_registered(shown, communes[shown.unit_code]), None))
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
        published.append(("needs.civil_servant_updated",
                          events.civil_servant_updated(cs, communes[cs.unit_code], changed), None))
    session.flush()
    bulk_insert(session, CivilServant.__table__, new_rows)
    for start in range(0, len(published), 1000):
        OUTBOX.emit_many(session, published[start:start + 1000])
    import_contact_rows(session, rows, now)
    return {"rows": len(rows), "registered": len(new_rows), "updated": updated,
            "unchanged": len(rows) - len(new_rows) - updated}


def export_registry(session: Session, *, unit_code=None, commune_code=None, position_code=None,
                    employment_status=None, within=None, format=None) -> list[dict]:  # noqa: A002
    """Return the registry as rows of REGISTRY_COLUMNS (with today's commune), ordered by code (`format`: the
    file the caller writes them to, not read here; `within`: the caller's units)."""
    communes = _commune_map(session)
    stmt = _registry_query(session, unit_code, commune_code, position_code, employment_status, within)
    people = list(session.scalars(stmt.order_by(CivilServant.code)))
    contacts = contact_columns(session, [cs.id for cs in people])
    return [{**{c.key: getattr(cs, c.key, None) for c in REGISTRY_COLUMNS}, "commune_code": communes[cs.unit_code],
             "gender": _GENDER_SHOWN.get(cs.gender, cs.gender), "ethnicity": ETHNIC_GROUPS.get(cs.ethnicity_code),
             **contacts.get(cs.id, {})}
            for cs in people]
