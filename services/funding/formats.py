"""Files the funding service reads and writes: the cost-norm table (columns and cell parsers), the payee list, the
report tables and the budget-burn workbook with its native Excel chart. Pure: no session, no web framework."""
from __future__ import annotations

from services.funding import domain
from shared import tabular
from shared.tabular import Column, text_up_to

PAYEE_KINDS = {"lecturer": "Giảng viên", "trainee": "Học viên"}
MONTHS = [f"T{m}" for m in range(1, 13)]
GROUP_LABELS = {"source": "NGUỒN KINH PHÍ", "item": "KHOẢN CHI", "commune": "ĐƠN VỊ", "course": "LỚP HỌC",
                "year": "NĂM"}


# --- cell parsers ----------------------------------------------------------------------------------------------

def int_between(low: int, high: int):
    """A cell parser for a whole number within [low, high] (the same bounds as the JSON API)."""
    def parse(text: str) -> int:
        value = tabular.parse_int(text)
        if not low <= value <= high:
            raise ValueError(f"Giá trị phải từ {low} đến {high}.")
        return value
    return parse


def date_in_range(text: str):
    """A cell parser for a date between 2000 and 2100 (outside it: a typing mistake, or beyond date arithmetic)."""
    value = tabular.parse_date(text)
    if not 2000 <= value.year <= 2100:
        raise ValueError("Ngày phải trong khoảng 2000–2100.")
    return value


# --- cost norms (import and export share the columns) ----------------------------------------------------------

NORM_COLUMNS = [
    Column("item", "Khoản chi", tabular.one_of(domain.ITEM_UNITS), required=True, width=22),
    Column("unit", "Đơn vị tính", tabular.one_of(domain.UNITS), required=True),
    Column("lecturer_tier", "Hạng giảng viên", int_between(1, 10)),
    Column("province_code", "Tỉnh", text_up_to(20), required=True, width=8),
    Column("amount", "Mức chi (đồng)", int_between(0, 10**15), required=True),
    Column("legal_basis", "Căn cứ pháp lý", text_up_to(300), required=True, width=50),
    Column("valid_from", "Hiệu lực từ", date_in_range, required=True, width=12),
    Column("valid_to", "Hiệu lực đến", date_in_range, width=12),
    Column("is_sample", "Mẫu", tabular.parse_bool, default=False, width=6),
]
NORM_SHEET = {"title": "Định mức", "heading": "ĐỊNH MỨC CHI ĐÀO TẠO, BỒI DƯỠNG"}


def norm_rows(norms) -> list[dict]:
    """Cost norm versions as rows of NORM_COLUMNS."""
    return [{c.key: getattr(n, c.key) for c in NORM_COLUMNS} for n in norms]


def read_norms(data: bytes, filename: str, errors: tabular.RowErrors) -> list[dict]:
    """Parse a cost-norm file; the cells that fail to read are collected in `errors` (refused with the use case's
    checks of every row, in one answer)."""
    return tabular.read_table(data, filename, NORM_COLUMNS, errors=errors)


# --- payee list ------------------------------------------------------------------------------------------------

def payee_columns(sheet: dict) -> list[Column]:
    """The payee list's columns: who, one column per item paid, the total and a signature box."""
    columns = [Column("no", "STT", width=6), Column("payee_kind", "Đối tượng", width=12),
               Column("payee_code", "Mã cán bộ", width=14), Column("payee_ref", "Mã định danh", width=38),
               Column("owner_unit_code", "Đơn vị", width=14)]
    columns += [Column(item, sheet["item_labels"][item], width=16) for item in sheet["items"]]
    return columns + [Column("total", "Tổng cộng (đồng)", width=16), Column("signature", "Ký nhận", width=18)]


def payee_rows(sheet: dict) -> list[dict]:
    """One row per payee, then the totals row."""
    rows = [{"no": r["no"], "payee_kind": PAYEE_KINDS.get(r["payee_kind"], r["payee_kind"]),
             "payee_code": r["payee_code"], "payee_ref": r["payee_ref"], "owner_unit_code": r["owner_unit_code"],
             **r["amounts"], "total": r["total"], "signature": ""} for r in sheet["payees"]]
    rows.append({"payee_ref": "TỔNG CỘNG", **sheet["totals"], "total": sheet["total"]})
    return rows


def payee_sheet(sheet: dict) -> dict:
    """The payee list's file name and XLSX heading and footer."""
    return {"filename": f"danh-sach-ky-nhan-{sheet['course_code']}", "title": "Ký nhận",
            "heading": f"DANH SÁCH CHI TRẢ VÀ KÝ NHẬN – LỚP {sheet['course_code']}",
            "footer": ["Người lập biểu                Kế toán                Thủ trưởng đơn vị"]}


# --- reports ---------------------------------------------------------------------------------------------------

SPENDING_COLUMNS = [Column("key", "Mã", width=24), Column("label", "Nội dung", width=44),
                    Column("amount", "Số tiền (đồng)", width=18)]
PLAN_COLUMNS = [Column("source_label", "Nguồn", width=40), Column("owner_unit_code", "Đơn vị", width=14),
                Column("allocated", "Dự toán giao", width=16), Column("reserved", "Đang giữ chỗ", width=16),
                Column("spent", "Đã chi", width=16), Column("balance", "Còn lại", width=16),
                Column("spent_percent", "Tỷ lệ chi (%)", width=12)]


def spending_chart_title(group_by: str, fiscal_year: int | None) -> str:
    year = f" năm {fiscal_year}" if fiscal_year else ""
    return f"Chi đào tạo, bồi dưỡng theo {GROUP_LABELS[group_by].lower()}{year}"


def spending_heading(group_by: str) -> str:
    return f"TỔNG HỢP CHI ĐÀO TẠO, BỒI DƯỠNG THEO {GROUP_LABELS[group_by]}"


def burn_title(year: int) -> str:
    return f"Lũy kế chi theo nguồn năm {year}"


def labelled_series(series: dict[str, list[int]]) -> dict[str, list[int]]:
    """The burn series keyed by the sources' Vietnamese labels (chart legends)."""
    return {domain.SOURCE_LABELS.get(k, k): v for k, v in series.items()}


def burn_columns(series: dict[str, list[int]]) -> list[Column]:
    """The burn table's columns: the month, then one per source (cumulative VND)."""
    return [Column("month", "Tháng", width=8)] + [Column(source, domain.SOURCE_LABELS.get(source, source), width=22)
                                                  for source in series]


def burn_rows(series: dict[str, list[int]]) -> list[dict]:
    """One row per month: the cumulative spending of each source to the end of that month."""
    return [{"month": month, **{source: values[m] for source, values in series.items()}}
            for m, month in enumerate(MONTHS)]


def burn_sheet(year: int) -> dict:
    """The burn workbook's file name, sheet title and native Excel line chart (tabular.to_xlsx draws it)."""
    return {"filename": f"luy-ke-chi-{year}", "title": "Lũy kế chi",
            "chart": tabular.SheetChart(burn_title(year), y_title="Đồng", x_title="Tháng")}
