"""L4 unit indicators: values per commune, indicator and period (entered, imported, corrected), compared
before and after each course by queries.indicator_comparison."""
from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.evaluation import domain, formats
from services.evaluation.models import UnitIndicator
from services.evaluation.usecases.rules import active_rule
from shared import tabular
from shared.errors import Forbidden, NotFound
from shared.localtime import local_today, utcnow


def upsert_indicators(session: Session, rows: list[dict], source: str, errors=None,
                      now: datetime | None = None, within: str | None = None) -> int:
    """Insert or replace unit indicator values (commune, indicator, period); all or none.

    `errors` is the tabular.RowErrors of an imported file (see record_test_scores): every row is checked and the
    file refused with all its problems; JSON input is refused at its first bad item (`items.n.field`)."""
    now = now or utcnow()
    _check_communes(rows, within, "items.{n}.commune_code" if errors is None else "file")
    catalogue = active_rule(session, "unit_indicators", local_today(now))["indicators"]
    prepared = {}
    for n, r in enumerate(rows):
        def usable(key: str) -> bool:
            return errors is None or errors.usable(r, key)
        ok = True
        if usable("commune_code") and not 1 <= len(r["commune_code"] or "") <= 40:  # the column's width
            formats.row_problem(errors, "items", n, r, "commune_code", "Mã xã từ 1 đến 40 ký tự.")
            ok = False
        if usable("indicator_code") and r["indicator_code"] not in catalogue:
            formats.row_problem(errors, "items", n, r, "indicator_code",
                         f"Chỉ số «{r['indicator_code']}» không có trong danh mục.")
            ok = False
        start = end = None
        if usable("period"):
            try:
                start, end = domain.parse_period(r["period"])
            except ValueError as exc:
                formats.row_problem(errors, "items", n, r, "period", str(exc))
                ok = False
        if usable("value") and not 0 <= r["value"] <= 100:
            formats.row_problem(errors, "items", n, r, "value", "Giá trị phải trong khoảng 0–100 (%).")
            ok = False
        if not ok or start is None or not usable("value"):
            continue  # reported: this row is refused, the others are still checked
        # One spelling per period ("2025-q1", "2025-Q01" → "2025-Q1"): the unique key must not hold it twice.
        period = (f"{start.year}-Q{(start.month + 2) // 3}" if end.month - start.month == 2
                  else f"{start.year}-{start.month:02d}")
        prepared[(r["commune_code"], r["indicator_code"], period)] = (start, end, float(r["value"]))
    if errors is not None:
        errors.raise_if_any()
    for (commune, ind, period), (start, end, value) in prepared.items():
        u = UnitIndicator
        row = session.scalar(sa.select(u).where(u.commune_code == commune, u.indicator_code == ind, u.period == period))
        if row is None:
            session.add(UnitIndicator(id=str(uuid.uuid4()), commune_code=commune, indicator_code=ind, period=period,
                                      period_start=start, period_end=end, value=value, source=source,
                                      updated_at=now))
        else:
            row.value, row.source, row.updated_at = value, source, now
    session.flush()
    return len(prepared)


OUTSIDE = "Xã ngoài phạm vi quản lý của bạn."


def _check_communes(rows: list[dict], within: str | None, field: str) -> None:
    """A caller confined to a unit (issue 14, shared.auth.unit_scope) writes only its own commune's values."""
    for n, r in enumerate(rows):
        if within is not None and r.get("commune_code") != within:
            raise Forbidden(OUTSIDE, field=field.format(n=n))


def delete_indicator(session: Session, indicator_id: str, within: str | None = None) -> None:
    """Remove one unit indicator value (entered by mistake)."""
    row = session.get(UnitIndicator, indicator_id)
    if row is None:
        raise NotFound("Không tìm thấy giá trị chỉ số.", field="indicator_id")
    _check_communes([{"commune_code": row.commune_code}], within, "indicator_id")
    session.delete(row)


def import_indicators(session: Session, data: bytes, filename: str, now: datetime | None = None,
                      within: str | None = None) -> int:
    """Import unit indicator values from a CSV/XLSX file; a file with any bad line writes nothing."""
    errors = tabular.RowErrors()  # bad cells and unknown codes of every line, refused together
    rows = tabular.read_table(data, filename, formats.INDICATOR_COLUMNS[:4], errors=errors)
    return upsert_indicators(session, rows, "import", errors, now, within)  # TableError → 422 (shared/web.py)
