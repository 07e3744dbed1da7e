"""Property test of the CSV/XLSX readers with hostile bytes (issue 12, standing guard): whatever the bytes, reading
either returns rows of NFC text without control characters or raises TableError — never another exception."""
from __future__ import annotations

import io
import unicodedata
import zipfile

from hypothesis import HealthCheck, given, settings, strategies as st

from shared.tabular import Column, TableError, parse_bool, parse_int, read_table

COLUMNS = [Column("code", "Mã", required=True), Column("name", "Họ và tên"), Column("n", "Số", parse=parse_int),
           Column("flag", "Có/Không", parse=parse_bool)]
HEADER = "Mã,Họ và tên,Số,Có/Không\n".encode()
HOSTILE_TEXT = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(
    ["\x00", "\x0b", "\x85", "\r", "\n", '"', ",", ";", "\t", "=", "\ufeff", "\u0303"]), max_size=200)


def _check(rows):
    for row in rows:
        for key, value in row.items():
            if isinstance(value, str):
                assert unicodedata.is_normalized("NFC", value)
                assert not any(ord(c) < 32 and c not in "\t\n\r" for c in value)


def _read(data: bytes, name: str):
    try:
        _check(read_table(data, name, COLUMNS, max_rows=1_000))
    except TableError as exc:
        assert exc.problems and all({"line", "field", "message"} <= set(p) for p in exc.problems)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2_000))
def test_any_bytes_as_csv(data):
    _read(data, "a.csv")
    _read(HEADER + data, "a.csv")


@settings(max_examples=300, deadline=None)
@given(HOSTILE_TEXT)
def test_any_text_after_a_header_as_csv(text):
    _read(HEADER + text.encode("utf-8", "surrogatepass"), "a.csv")


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2_000))
def test_any_bytes_as_xlsx(data):
    _read(data, "a.xlsx")
    _read(b"PK\x03\x04" + data, "a.xlsx")


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=500), st.sampled_from(["xl/worksheets/sheet1.xml", "xl/sharedStrings.xml",
                                                 "xl/workbook.xml", "[Content_Types].xml"]))
def test_an_xlsx_with_one_member_replaced_by_hostile_bytes(junk, member):
    from openpyxl import Workbook
    wb = Workbook()
    wb.active.append(["Mã", "Họ và tên", "Số", "Có/Không"])
    wb.active.append(["A1", "Lan", 3, "x"])
    good = io.BytesIO()
    wb.save(good)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good.getvalue())) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, junk if info.filename == member else src.read(info.filename))
    _read(out.getvalue(), "a.xlsx")
