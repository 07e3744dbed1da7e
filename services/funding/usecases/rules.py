"""Cost norms as versioned rules (shared.rules): add a version, import a file all-or-nothing, list them, the
versions in force for the pure rules."""
from __future__ import annotations

import uuid
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.funding import domain
from services.funding.models import CostNorm
from shared import rules
from shared.errors import Invalid
from shared.localtime import local_today
from shared.rules import Version, supersede


NORM_KEY = ("item", "unit", "province_code", "lecturer_tier")  # one rule: its versions never overlap


def _norm_key(t, data: dict) -> list:
    tier = data.get("lecturer_tier")
    return [t.item == data["item"], t.unit == data["unit"], t.province_code == data["province_code"],
            t.lecturer_tier.is_(None) if tier is None else t.lecturer_tier == tier]


def create_norm(session: Session, data: dict) -> CostNorm:
    """Add a cost norm version (shared.rules): it supersedes (closes the day before) an open-ended earlier version of
    the same item, unit, tier and province; any other overlap is refused."""
    if data["unit"] not in domain.UNITS:
        raise Invalid("Đơn vị tính không hợp lệ.", field="unit")
    wrong = domain.norm_problems(data["item"], data["unit"], data.get("lecturer_tier"))
    if wrong:
        field, message = next(iter(wrong.items()))
        raise Invalid(message, field=field)
    key = {k: data.get(k) for k in NORM_KEY}
    return rules.add_version(session, CostNorm, {k: v for k, v in data.items() if k not in NORM_KEY}, **key)


def import_norms(session: Session, rows: list[dict], errors=None) -> dict:
    """Load parsed norm rows all-or-nothing: a row supersedes an open-ended earlier version (in the database or
    earlier in the file); any real overlap rejects the file (TableError, answered by the shared handler).

    `errors` (a tabular.RowErrors) holds the cells that failed to read: those rows are checked for what they have,
    and every problem of every row is refused in one answer."""
    from shared.tabular import RowErrors

    errors = RowErrors() if errors is None else errors
    key_cells = ("item", "unit", "lecturer_tier", "province_code", "valid_from", "valid_to")
    versions: dict[tuple, list[dict]] = {}  # key → [{id, from, to, line | row}] database rows, then file rows
    to_close: dict[str, date] = {}  # database norm id → its new valid_to
    for row in rows:
        line = row["_line"]
        if not errors.usable(row, *key_cells):
            continue  # a key cell did not read: its version cannot be placed (the cell's problem is reported)
        if row["valid_to"] and row["valid_to"] < row["valid_from"]:
            errors.add(line, "valid_to", "Ngày hết hiệu lực trước ngày bắt đầu hiệu lực.")
            continue
        wrong = domain.norm_problems(row["item"], row["unit"], row["lecturer_tier"])
        if wrong:
            for f, m in wrong.items():
                errors.add(line, f, m)
            continue
        key = (row["item"], row["unit"], row["lecturer_tier"], row["province_code"])
        if key not in versions:
            versions[key] = [{"id": n.id, "from": n.valid_from, "to": n.valid_to, "norm": n} for n in session.scalars(
                sa.select(CostNorm).where(*_norm_key(CostNorm, row)).with_for_update())]
        known = versions[key]
        close, clash = supersede([Version(v["id"], v["from"], v["to"]) for v in known],
                                        row["valid_from"], row["valid_to"])
        if clash is not None:
            other = next(v for v in known if v["id"] == clash.id)
            where = f"dòng {other['line']} của tệp" if "line" in other else "một định mức đã có"
            errors.add(line, "valid_from", f"Trùng thời gian hiệu lực với {where}.")
            continue
        for v in known:
            if v["id"] in close:
                v["to"] = row["valid_from"] - timedelta(days=1)
                if "norm" in v:
                    to_close[v["id"]] = v["to"]
                else:
                    v["row"]["valid_to"] = v["to"]
        known.append({"id": f"line-{line}", "from": row["valid_from"], "to": row["valid_to"],
                      "line": line, "row": row})
    errors.raise_if_any()
    for key, known in versions.items():
        for v in known:
            if v["id"] in to_close:
                v["norm"].valid_to = to_close[v["id"]]
    for row in rows:
        session.add(CostNorm(id=str(uuid.uuid4()), **{k: v for k, v in row.items() if k != "_line"}))
    session.flush()
    return {"imported": len(rows), "superseded": len(to_close)}


def list_norms(session: Session, item: str | None = None, on: date | None = None, *,
               province_code: str | None = None) -> list[CostNorm]:
    """Cost norm versions, optionally of one item, in force on a day and/or of one province."""
    stmt = sa.select(CostNorm).order_by(CostNorm.item, CostNorm.lecturer_tier, CostNorm.valid_from)
    if item:
        stmt = stmt.where(CostNorm.item == item)
    if province_code:
        stmt = stmt.where(CostNorm.province_code == province_code)
    if on:
        stmt = stmt.where(CostNorm.valid_from <= on, sa.or_(CostNorm.valid_to.is_(None), CostNorm.valid_to >= on))
    return list(session.scalars(stmt))


RULE_KINDS = {"cost-norms": "Định mức chi đào tạo, bồi dưỡng"}


def list_rules(session: Session, *, province_code: str, today: date | None = None) -> list[dict]:
    """Every rule kind of the service with the versions in force today (each with its legal basis)."""
    today = today or local_today()
    return [{"kind": "cost-norms", "label": RULE_KINDS["cost-norms"], "on": today,
             "in_force": list_norms(session, on=today, province_code=province_code)}]


def norms_of(session: Session, province_code: str) -> list[domain.Norm]:
    """Every version of the province's cost norms, for the pure rules to pick the one in force on a day."""
    # Read as rows, not CostNorm objects (issue 16: building and tracking ~50 ORM instances for every batch a
    # consumer settles cost more than the statement itself)
    return [domain.Norm(*row) for row in session.execute(sa.select(
        CostNorm.id, CostNorm.item, CostNorm.unit, CostNorm.amount, CostNorm.valid_from, CostNorm.valid_to,
        CostNorm.lecturer_tier).where(CostNorm.province_code == province_code))]
