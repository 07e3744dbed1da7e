"""Read models of the reports: spending by group, plan against actual, the budget burn. Reads only."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.funding import domain
from services.funding.formats import MONTHS
from services.funding.models import FundingCourse, IncentivePayment, Settlement, SettlementLine
from services.funding.usecases.budget_lines import list_budget_lines


@dataclass
class BurnSeries:
    """Cumulative spending per month (1–12) of one source: the budget-burn chart."""

    source: str
    monthly: list[int] = field(default_factory=lambda: [0] * 12)

    def cumulative(self) -> list[int]:
        out, run = [], 0
        for v in self.monthly:
            run += v
            out.append(run)
        return out


def _spending_rows(session: Session, fiscal_year: int | None) -> list[dict]:
    """Every spent amount (settlement lines and rewards) with its source, item, commune, course and year."""
    s, x = Settlement, SettlementLine
    stmt = (sa.select(x.source, x.item, x.owner_unit_code, s.course_id, s.course_code, FundingCourse.start_date,
                      s.settled_at, sa.func.sum(x.amount))
            .join(s, s.id == x.settlement_id).join(FundingCourse, FundingCourse.course_id == s.course_id,
                                                    isouter=True)
            .group_by(x.source, x.item, x.owner_unit_code, s.course_id, s.course_code, FundingCourse.start_date,
                      s.settled_at))
    rows = []
    for source, item, owner, course_id, code, start, settled_at, amount in session.execute(stmt):
        day = start or settled_at.date()
        rows.append({"source": source, "item": item, "commune": owner, "course": course_id, "course_code": code,
                     "year": day.year, "month": day.month, "amount": int(amount)})
    r = IncentivePayment
    for source, item, owner, course_id, code, year, created, amount in session.execute(
            sa.select(r.source, r.item, r.owner_unit_code, r.course_id, FundingCourse.code, r.fiscal_year,
                      r.created_at, sa.func.sum(r.amount))
            .join(FundingCourse, FundingCourse.course_id == r.course_id, isouter=True)
            .group_by(r.source, r.item, r.owner_unit_code, r.course_id, FundingCourse.code, r.fiscal_year,
                      r.created_at)):
        rows.append({"source": source, "item": item, "commune": owner, "course": course_id,
                     "course_code": code or course_id, "year": year,
                     "month": created.month if created.year == year else 12, "amount": int(amount)})
    return [row for row in rows if fiscal_year is None or row["year"] == fiscal_year]


def spending_report(session: Session, group_by: str, fiscal_year: int | None = None) -> dict:
    """Actual spending grouped by source, item, commune, course or year (rows in whole VND, largest first), with the
    total."""
    sums: dict[str, int] = defaultdict(int)
    codes: dict[str, str] = {}
    for row in _spending_rows(session, fiscal_year):
        sums[str(row[group_by])] += row["amount"]
        codes[row["course"]] = row["course_code"]
    labels = domain.SOURCE_LABELS if group_by == "source" else domain.ITEM_LABELS if group_by == "item" else \
        codes if group_by == "course" else {}
    rows = [{"key": k, "label": labels.get(k, k), "amount": v}
            for k, v in sorted(sums.items(), key=lambda kv: (-kv[1], kv[0]))]
    return {"group_by": group_by, "fiscal_year": fiscal_year, "rows": rows, "total": sum(r["amount"] for r in rows)}


def plan_vs_actual(session: Session, fiscal_year: int) -> dict:
    """Plan against actual for a fiscal year: per budget line and per settled course."""
    return {"fiscal_year": fiscal_year, "budget_lines": _line_plan_vs_actual(session, fiscal_year),
            "courses": course_plan_vs_actual(session, fiscal_year)}


def _line_plan_vs_actual(session: Session, fiscal_year: int) -> list[dict]:
    """Per budget line of a year: allocated (plan), reserved, spent (actual), balance, and spent as a share."""
    out = []
    for x in list_budget_lines(session, fiscal_year):
        share = round(100 * x["spent"] / x["allocated"], 1) if x["allocated"] else None  # display only
        out.append({"budget_line_id": x["id"], "source": x["source"], "source_label": x["source_label"],
                    "owner_unit_code": x["owner_unit_code"], "allocated": x["allocated"], "reserved": x["reserved"],
                    "spent": x["spent"], "balance": x["balance"], "spent_percent": share})
    return out


def course_plan_vs_actual(session: Session, fiscal_year: int | None = None) -> list[dict]:
    """Per settled course: estimate, actual, variance, released.

    A course belongs to the fiscal year of its first day, like its budget lines and spending (not to the year it was
    settled in: a December course settled in January is last year's).
    """
    stmt = (sa.select(Settlement, FundingCourse.start_date)
            .join(FundingCourse, FundingCourse.course_id == Settlement.course_id, isouter=True)
            .order_by(Settlement.settled_at))
    rows = []
    for s, start in session.execute(stmt):
        year = (start or s.settled_at.date()).year
        if fiscal_year and year != fiscal_year:
            continue
        rows.append({"course_id": s.course_id, "course_code": s.course_code, "estimate_total": s.estimate_total,
                     "actual_total": s.total, "variance": s.variance, "released": s.released,
                     "unfunded": s.unfunded})
    return rows


def budget_burn(session: Session, fiscal_year: int) -> dict:
    """Cumulative spending per month of a fiscal year, per source (the budget-burn chart's data)."""
    series: dict[str, BurnSeries] = {}
    for row in _spending_rows(session, fiscal_year):
        series.setdefault(row["source"], BurnSeries(row["source"])).monthly[row["month"] - 1] += row["amount"]
    return {"fiscal_year": fiscal_year, "months": MONTHS,
            "series": {source: s.cumulative() for source, s in sorted(series.items())}}
