"""CSV/XLSX reading and writing shared by the services: row-by-row errors, round trips, Vietnamese text."""
from datetime import date

import pytest

from shared import charts
from shared.tabular import (Column, TableError, one_of, parse_bool, parse_date, parse_int, read_table, to_csv,
                            to_xlsx)

COLUMNS = [
    Column("code", "Mã", required=True),
    Column("name", "Họ và tên", required=True),
    Column("amount", "Số tiền", parse=parse_int),
    Column("born", "Ngày sinh", parse=parse_date),
    Column("minority", "Dân tộc thiểu số", parse=parse_bool, default=False),
    Column("kind", "Loại", parse=one_of(["a", "b"])),
]
ROWS = [
    {"code": "CC-001", "name": "Nguyễn Thị Hồng Nhung", "amount": 1_200_000, "born": date(1990, 7, 1),
     "minority": True, "kind": "a"},
    {"code": "CC-002", "name": "Trần Văn Đức", "amount": 0, "born": None, "minority": False, "kind": None},
]


def _strip_line(rows):
    return [{k: v for k, v in row.items() if k != "_line"} for row in rows]


def test_csv_round_trip_keeps_diacritics_and_types():
    assert _strip_line(read_table(to_csv(ROWS, COLUMNS), "danh-sach.csv", COLUMNS)) == ROWS


def test_xlsx_round_trip_with_heading_above_the_table():
    body = to_xlsx(ROWS, COLUMNS, heading="Danh sách công chức xã")  # footers are for printed sheets only
    rows = read_table(body, "danh-sach.xlsx", COLUMNS)
    assert _strip_line(rows) == ROWS
    assert rows[0]["_line"] == 4  # heading on line 1, blank line 2, header line 3


def test_reports_every_bad_cell_with_its_line_and_field_and_returns_nothing():
    text = "Mã,Họ và tên,Số tiền,Ngày sinh\nCC-1,An,12a,01/07/1990\n,Bình,5,2025-13-40\nCC-3,Chi,1.000.000,\n"
    with pytest.raises(TableError) as caught:
        read_table(text.encode(), "x.csv", COLUMNS)
    problems = {(p["line"], p["field"]) for p in caught.value.problems}
    assert problems == {(2, "amount"), (3, "code"), (3, "born")}


def test_accepts_semicolon_csv_and_vietnamese_number_and_date_formats():
    text = "Mã;Họ và tên;Số tiền;Ngày sinh\nCC-1;An;1.200.000;01/07/1990\n"
    [row] = read_table(text.encode("utf-8"), "x.csv", COLUMNS)
    assert row["amount"] == 1_200_000 and row["born"] == date(1990, 7, 1)


def test_missing_required_column_is_named():
    with pytest.raises(TableError) as caught:
        read_table("Họ và tên\nAn\n".encode(), "x.csv", COLUMNS)
    assert caught.value.problems[0]["field"] == "code"


def test_rejects_other_file_types_and_non_utf8():
    with pytest.raises(TableError):
        read_table(b"x", "x.pdf", COLUMNS)
    with pytest.raises(TableError):
        read_table("Mã,Họ và tên\nA,Đức\n".encode("cp1258", errors="replace") + b"\xff", "x.csv", COLUMNS)


@pytest.mark.parametrize("fmt, magic", [("svg", b"<?xml"), ("png", b"\x89PNG")])
def test_charts_render_svg_and_png(fmt, magic):
    body = charts.bar_chart(["Nội dung", "Giảng viên"], {"Trước": [5.0, 6.5], "Sau": [7.0, 8.5]},
                            title="Mức độ hài lòng", ylim=(0, 10), fmt=fmt)
    assert body.startswith(magic)
    line = charts.line_chart(["T1", "T2"], {"ĐT-BD": [0, 1_000_000]}, title="Tiến độ giải ngân", fmt=fmt)
    assert line.startswith(magic)
