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
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable, Iterable, Sequence
from zoneinfo import ZoneInfo


LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
CSV_MIME = "text/csv; charset=utf-8"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = ("json", "csv", "xlsx")


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


def _raw_rows(data: bytes, filename: str) -> Iterable[list[str]]:
    name = (filename or "").lower()
    if name.endswith(".xlsx"):
        from openpyxl import load_workbook  # imported here: only uploads need it

        try:
            workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many types for a damaged file
            raise TableError([{"line": 0, "field": "file", "message": f"Không đọc được tệp XLSX ({exc.__class__.__name__})."}]) from None
        sheet = workbook.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield [_cell_text(v) for v in row]
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
        yield from ([c.strip() for c in row] for row in csv.reader(io.StringIO(text), dialect))
        return
    raise TableError([{"line": 0, "field": "file", "message": "Chỉ nhận tệp .csv hoặc .xlsx."}])


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
        lookup[column.key.lower()] = column
        lookup[column.header.lower()] = column
    rows = iter(_raw_rows(data, filename))
    # The header is the first of the top rows naming a known column, so our own exports (heading above the
    # table) read back as they are.
    header, header_line = None, 0
    for header_line, candidate in enumerate(rows, start=1):
        if any((name or "").strip().lower() in lookup for name in candidate) or header_line >= 10:
            header = candidate
            break
    if not header:
        raise TableError([{"line": 1, "field": "file", "message": "Tệp trống hoặc thiếu dòng tiêu đề."}])
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        column = lookup.get((name or "").strip().lower())
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
            continue
        if len(out) >= max_rows:
            raise TableError([{"line": line, "field": "file", "message": f"Tệp vượt quá {max_rows} dòng."}])
        record: dict[str, Any] = {"_line": line}
        for column in columns:
            index = positions.get(column.key)
            text = raw[index] if index is not None and index < len(raw) else ""
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


# --- writing ----------------------------------------------------------------------------------------------------

def _display(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(LOCAL_TZ).strftime("%d/%m/%Y %H:%M") if value.tzinfo else value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, bool):
        return "x" if value else ""
    return value


def to_csv(rows: Iterable[dict], columns: Sequence[Column]) -> bytes:
    """Render rows as CSV with a Vietnamese header row (UTF-8 with BOM for Excel)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([c.header for c in columns])
    for row in rows:
        writer.writerow(["" if (v := _display(row.get(c.key))) is None else v for c in columns])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(rows: Iterable[dict], columns: Sequence[Column], *, title: str = "Báo cáo", heading: str | None = None,
            footer: Sequence[str] = ()) -> bytes:
    """Render rows as an XLSX sheet: optional heading line, bold header, the rows, optional footer lines."""
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
        sheet.cell(row=1, column=1, value=heading).font = Font(bold=True, size=13)
        row_index = 3
    for col, column in enumerate(columns, start=1):
        cell = sheet.cell(row=row_index, column=col, value=column.header)
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
        cell.border = border
        sheet.column_dimensions[get_column_letter(col)].width = column.width
    for row in rows:
        row_index += 1
        for col, column in enumerate(columns, start=1):
            cell = sheet.cell(row=row_index, column=col, value=_display(row.get(column.key)))
            cell.border = border
        sheet.row_dimensions[row_index].height = 24  # room to sign by hand
    for line in footer:
        row_index += 2
        sheet.cell(row=row_index, column=1, value=line)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
