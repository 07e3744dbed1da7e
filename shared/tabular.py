"""CSV and XLSX in and out, the same way in all four services: typed columns, row-by-row validation, downloads.

Reading returns every row with its line number, or raises TableError listing every bad cell (line + column), so a
caller can refuse a whole file before writing anything. An upload whose rows are also checked against the database
(unknown codes, duplicates) collects both kinds in one RowErrors: `read_table(..., errors=errors)` records the bad
cells there and still returns every row, the use case adds its reference problems for every row, and
`errors.raise_if_any()` refuses the file listing all of them — one answer, not one bad line per attempt. Writing builds CSV (UTF-8 with BOM, which Excel opens with
the Vietnamese diacritics intact) or XLSX (openpyxl) from a list of Column and a list of dicts.
"""
from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable, Iterable, Sequence
from zoneinfo import ZoneInfo


LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
CSV_MIME = "text/csv; charset=utf-8"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = ("json", "csv", "xlsx")

# Limits of what an upload may make us read (the body itself is capped by shared.web/nginx before it gets here).
MAX_COLUMNS = 200               # columns read per row
MAX_BLANK_LINES = 1_000         # empty lines tolerated beyond the row cap (a sheet "used" far below its data)
MAX_XLSX_BYTES_PER_ROW = 2_048  # uncompressed XML allowed per allowed row (a zip bomb is refused unopened)
MAX_XLSX_UNCOMPRESSED = 256 << 20
MAX_XLSX_MEMBERS = 1_000
CSV_FIELD_LIMIT = csv.field_size_limit()  # 131,072 characters: a longer field refuses the file naming its line


# --- text: one definition of acceptable characters, used by shared.web for every request too ----------------------

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_MULTILINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def clean_text(value: str, *, multiline: bool = False) -> str:
    """Return `value` NFC-normalised (macOS sends NFD), or raise ValueError naming the first refused character:
    C0 controls (tab, newline and CR allowed when `multiline`), DEL, C1 controls, lone surrogates."""
    bad = (_CONTROL_MULTILINE if multiline else _CONTROL).search(value)
    if bad:
        raise ValueError(f"Có ký tự không hợp lệ (U+{ord(bad.group()):04X}).")
    return unicodedata.normalize("NFC", value)


def escape_text(value: str) -> str:
    """`value` with every refused character (as clean_text, multi-line) replaced by U+FFFD: never raises."""
    return _CONTROL_MULTILINE.sub("\ufffd", value)


_FORMULA_START = tuple("=+-@\t\r")
_PLAIN_NUMBER = re.compile(r"-?\d+([.,]\d+)*")


def safe_cell(value: Any) -> Any:
    """A value as a spreadsheet cell that cannot run: text starting with = + - @ tab or CR gets a leading
    apostrophe (OWASP CSV injection), except text that is a plain (negative) number; numbers stay numbers;
    characters no spreadsheet holds are replaced; other types become text."""
    if value is None or isinstance(value, (bool, int, float, datetime, date)):
        return value
    text = escape_text(value if isinstance(value, str) else str(value))
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


@dataclass(frozen=True)
class Column:
    """One column: the dict key, the Vietnamese header people see, and how to parse/format the cell."""

    key: str
    header: str
    parse: Callable[[str], Any] | None = None  # reading: str → value; raise ValueError with a Vietnamese reason
    required: bool = False
    width: int = 16  # XLSX column width, in characters
    default: Any = None  # the value of an empty cell (e.g. False for a yes/no column)


@dataclass
class TableError(Exception):
    """A file that cannot be taken as a whole: every problem with its line (1 = header) and column key."""

    problems: list[dict] = field(default_factory=list)
    message: str = "Tệp có dòng không hợp lệ; không dòng nào được ghi."

    def __str__(self) -> str:
        return f"{self.message} ({len(self.problems)} problems)"


class RowErrors:
    """The problems of an upload's rows, collected in one place: format problems found while reading and reference
    problems found by the use case, for every row, so the refusal lists them all.

    A cell that failed to parse reads as None; `usable(row, *keys)` tells a check whether the cells it looks at
    parsed, so a row already refused for its format is not refused again for a value it never had.
    """

    def __init__(self) -> None:
        self.problems: list[dict] = []
        self._bad: set[tuple[int, str]] = set()

    def add(self, line: int, field: str, message: str) -> None:
        self.problems.append({"line": line, "field": field, "message": message})
        self._bad.add((line, field))

    def usable(self, row: dict, *keys: str) -> bool:
        """True when none of `keys` of `row` has a problem yet (a check can trust their values)."""
        line = row.get("_line")
        return not any((line, key) in self._bad for key in keys)

    def __bool__(self) -> bool:
        return bool(self.problems)

    def __len__(self) -> int:
        return len(self.problems)

    def raise_if_any(self, message: str | None = None) -> None:
        """Refuse the file with every problem, by line (the order found within a line), when there is any."""
        if self.problems:
            problems = sorted(self.problems, key=lambda p: p["line"])
            raise TableError(problems, message) if message else TableError(problems)


# --- reading ----------------------------------------------------------------------------------------------------

def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _file_error(message: str, line: int = 0) -> TableError:
    return TableError([{"line": line, "field": "file", "message": message}])


def _check_xlsx_archive(data: bytes, max_rows: int) -> None:
    """Refuse an XLSX whose zip would expand past what `max_rows` rows can need, before any XML is parsed."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise _file_error("Không đọc được tệp XLSX (không phải tệp zip).") from None
    allowed = min(MAX_XLSX_UNCOMPRESSED, (1 << 20) + max_rows * MAX_XLSX_BYTES_PER_ROW)
    total = sum(m.file_size for m in members)
    if len(members) > MAX_XLSX_MEMBERS or total > allowed:
        raise _file_error(f"Tệp XLSX giải nén quá lớn ({total // (1 << 20)} MB; tối đa {allowed // (1 << 20)} MB "
                          f"cho {max_rows} dòng).")


def _raw_rows(data: bytes, filename: str, max_rows: int = 300_000) -> Iterable[list[str]]:
    name = (filename or "").lower()
    if name.endswith(".xlsx"):
        from openpyxl import load_workbook  # imported here: only uploads need it

        _check_xlsx_archive(data, max_rows)
        try:
            workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            sheet = workbook.worksheets[0]
            declared_rows, declared_cols = sheet.max_row, sheet.max_column  # the sheet's <dimension>, if any
        except Exception as exc:  # openpyxl raises many types for a damaged file
            raise _file_error(f"Không đọc được tệp XLSX ({exc.__class__.__name__}).") from None
        if (declared_rows or 0) > max_rows + MAX_BLANK_LINES + 10:
            workbook.close()
            raise _file_error(f"Tệp vượt quá {max_rows} dòng (trang tính khai báo {declared_rows} dòng).")
        if (declared_cols or 0) > MAX_COLUMNS:
            # Wide only by formatting is common: read the first MAX_COLUMNS columns, never more.
            declared_cols = MAX_COLUMNS
        try:
            for row in sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS):
                yield [_cell_text(v) for v in row[:MAX_COLUMNS]]
        except TableError:
            raise
        except Exception as exc:  # damaged XML inside a valid zip
            raise _file_error(f"Không đọc được tệp XLSX ({exc.__class__.__name__}).") from None
        finally:
            workbook.close()
        return
    if name.endswith(".csv") or not name:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise TableError([{"line": 0, "field": "file", "message": "Tệp CSV phải mã hóa UTF-8."}]) from None
        sample = text[:4096]
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t") if sample else csv.excel
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(io.StringIO(text), dialect)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error:  # a field over CSV_FIELD_LIMIT characters, or a NUL byte
                raise _file_error(f"Dòng {reader.line_num}: ô quá dài (tối đa {CSV_FIELD_LIMIT} ký tự) hoặc có "
                                  "ký tự không hợp lệ.", line=reader.line_num) from None
            yield [c.strip() for c in row[:MAX_COLUMNS]]
    raise TableError([{"line": 0, "field": "file", "message": "Chỉ nhận tệp .csv hoặc .xlsx."}])


def _header_key(name: Any) -> str:
    """A header as matched: NFC (NFD headers typed on macOS match), stripped, lower-case, controls dropped."""
    return unicodedata.normalize("NFC", escape_text(str(name or ""))).replace("\ufffd", "").strip().lower()


def read_table(data: bytes, filename: str, columns: Sequence[Column], *, max_rows: int = 300_000,
               errors: RowErrors | None = None) -> list[dict]:
    """Parse a CSV/XLSX file into dicts (with '_line'); raise TableError listing every bad cell, or none at all.

    The header row is matched by Vietnamese header or by key, case-insensitively; unknown columns are ignored;
    missing required columns are an error. Empty lines are skipped.

    With `errors`, bad cells are recorded there (their value reads as None) and every row is returned, so the
    caller can add its own checks of every row before `errors.raise_if_any()`. A file that cannot be read as a
    table at all (no header, a missing required column, too many rows) is refused at once either way.
    """
    lookup = {}
    for column in columns:
        lookup[_header_key(column.key)] = column
        lookup[_header_key(column.header)] = column
    rows = iter(_raw_rows(data, filename, max_rows))
    # The header is the first of the top rows naming a known column, so our own exports (heading above the
    # table) read back as they are.
    header, header_line = None, 0
    for header_line, candidate in enumerate(rows, start=1):
        if any(_header_key(name) in lookup for name in candidate) or header_line >= 10:
            header = candidate
            break
    if not header:
        raise TableError([{"line": 1, "field": "file", "message": "Tệp trống hoặc thiếu dòng tiêu đề."}])
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        column = lookup.get(_header_key(name))
        if column is not None and column.key not in positions:
            positions[column.key] = index
    problems = [{"line": header_line, "field": c.key, "message": f"Thiếu cột bắt buộc «{c.header}»."}
                for c in columns if c.required and c.key not in positions]
    if problems:
        raise TableError(problems)
    collect = errors if errors is not None else RowErrors()
    out: list[dict] = []
    for line, raw in enumerate(rows, start=header_line + 1):
        if not any(raw):
            if line - header_line > max_rows + MAX_BLANK_LINES:
                raise TableError([{"line": line, "field": "file", "message": f"Tệp vượt quá {max_rows} dòng."}])
            continue
        if len(out) >= max_rows:
            raise TableError([{"line": line, "field": "file", "message": f"Tệp vượt quá {max_rows} dòng."}])
        record: dict[str, Any] = {"_line": line}
        for column in columns:
            index = positions.get(column.key)
            text = raw[index] if index is not None and index < len(raw) else ""
            try:
                text = clean_text(text, multiline=True)
            except ValueError as exc:
                record[column.key] = None
                collect.add(line, column.key, str(exc))
                continue
            if text == "":
                if column.required:
                    collect.add(line, column.key, f"«{column.header}» không được để trống.")
                record[column.key] = column.default
                continue
            try:
                record[column.key] = column.parse(text) if column.parse else text
            except (ValueError, TypeError) as exc:
                record[column.key] = None
                collect.add(line, column.key, str(exc) or f"«{column.header}» không hợp lệ.")
        out.append(record)
    if errors is None:
        collect.raise_if_any()
    return out


# Parsers for common cell types; each raises ValueError with a Vietnamese message.

def parse_int(text: str) -> int:
    """Parse a whole number, accepting Vietnamese thousands separators (1.200.000 or 1,200,000)."""
    cleaned = text.replace(".", "").replace(",", "").replace(" ", "")
    try:
        return int(cleaned)
    except ValueError:
        raise ValueError(f"«{text}» không phải số nguyên.") from None


def parse_date(text: str) -> date:
    """Parse a date as ISO (2025-07-01) or Vietnamese day/month/year (01/07/2025)."""
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y"):
        try:
            return datetime.strptime(text[:10], fmt).date()
        except ValueError:
            continue
    raise ValueError(f"«{text}» không phải ngày hợp lệ (dd/mm/yyyy).")


_TRUE = {"1", "x", "true", "có", "co", "yes", "c"}
_FALSE = {"0", "", "false", "không", "khong", "no", "k"}


def parse_bool(text: str) -> bool:
    """Parse a yes/no cell: x, 1, có, true / 0, không, false."""
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"«{text}» phải là Có/Không (x, 1, 0).")


def one_of(choices: Iterable[str]) -> Callable[[str], str]:
    """Return a parser that accepts only the given codes."""
    allowed = list(choices)

    def parse(text: str) -> str:
        if text not in allowed:
            raise ValueError(f"«{text}» không thuộc danh mục ({', '.join(allowed[:8])}{'…' if len(allowed) > 8 else ''}).")
        return text
    return parse


def text_up_to(length: int) -> Callable[[str], str]:
    """Return a parser for text of at most `length` characters (the column's size in the database)."""
    def parse(text: str) -> str:
        if len(text) > length:
            raise ValueError(f"Dài quá {length} ký tự.")
        return text
    return parse


# --- writing ----------------------------------------------------------------------------------------------------

def _display(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(LOCAL_TZ).strftime("%d/%m/%Y %H:%M") if value.tzinfo else value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, bool):
        return "x" if value else ""
    return safe_cell(value)


def to_csv(rows: Iterable[dict], columns: Sequence[Column]) -> bytes:
    """Render rows as CSV with a Vietnamese header row (UTF-8 with BOM for Excel)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([safe_cell(c.header) for c in columns])
    for row in rows:
        writer.writerow(["" if (v := _display(row.get(c.key))) is None else v for c in columns])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _text_cell(sheet, row: int, column: int, value: Any):
    """Write one cell; a string is always a string cell (openpyxl would make "=…" a formula)."""
    cell = sheet.cell(row=row, column=column)
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"
    return cell


@dataclass(frozen=True)
class SheetChart:
    """A native Excel line chart beside a table to_xlsx writes: the first column holds the categories (x axis),
    every other column is a series titled by its header (cells written, and neutralised, by to_xlsx)."""
    title: str
    y_title: str = ""
    x_title: str = ""
    anchor: str = "H2"


def _add_line_chart(sheet, spec: SheetChart, n_columns: int, header_row: int, last_row: int) -> None:
    from openpyxl.chart import LineChart, Reference
    chart = LineChart()
    chart.title, chart.y_axis.title, chart.x_axis.title = spec.title, spec.y_title, spec.x_title
    chart.add_data(Reference(sheet, min_col=2, max_col=n_columns, min_row=header_row, max_row=last_row),
                   titles_from_data=True)
    chart.set_categories(Reference(sheet, min_col=1, min_row=header_row + 1, max_row=last_row))
    sheet.add_chart(chart, spec.anchor)


def to_xlsx(rows: Iterable[dict], columns: Sequence[Column], *, title: str = "Báo cáo", heading: str | None = None,
            footer: Sequence[str] = (), chart: SheetChart | None = None) -> bytes:
    """Render rows as an XLSX sheet: optional heading line, bold header, the rows, optional footer lines, and an
    optional line chart of the rows (`chart`; drawn when there are rows and at least one series column)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, Side
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=False)
    sheet = workbook.active
    sheet.title = title[:31]
    thin = Side(style="thin")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    row_index = 1
    if heading:
        _text_cell(sheet, 1, 1, safe_cell(heading)).font = Font(bold=True, size=13)
        row_index = 3
    for col, column in enumerate(columns, start=1):
        cell = _text_cell(sheet, row_index, col, safe_cell(column.header))
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
        cell.border = border
        sheet.column_dimensions[get_column_letter(col)].width = column.width
    for row in rows:
        row_index += 1
        for col, column in enumerate(columns, start=1):
            cell = _text_cell(sheet, row_index, col, _display(row.get(column.key)))
            cell.border = border
        sheet.row_dimensions[row_index].height = 24  # room to sign by hand
    header_row = 3 if heading else 1
    if chart is not None and len(columns) > 1 and row_index > header_row:
        _add_line_chart(sheet, chart, len(columns), header_row, row_index)
    for line in footer:
        row_index += 2
        _text_cell(sheet, row_index, 1, safe_cell(line))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
