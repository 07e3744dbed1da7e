"""Files the needs service reads and writes: the registry's CSV/XLSX columns and cell parsers, the report columns
and the charts' series.

Pure: no session, no web framework."""
from __future__ import annotations

import re
import unicodedata

from services.needs import domain
from shared import tabular
from shared.tabular import Column, text_up_to

_GENDERS = {"nam": "male", "male": "male", "nữ": "female", "nu": "female", "female": "female"}

# --- ethnic groups -------------------------------------------------------------------------------------------------
# Danh mục các thành phần dân tộc Việt Nam, Tổng cục Thống kê, Quyết định 121-TCTK/PPCĐ ngày 2/3/1979: code → name.
# The registry stores the code; domain.is_ethnic_minority derives the flag from it (everything but 01 Kinh).
ETHNIC_GROUPS = dict(item.split(" ", 1) for item in (
    "01 Kinh|02 Tày|03 Thái|04 Hoa|05 Khơ-me|06 Mường|07 Nùng|08 Mông|09 Dao|10 Gia-rai|11 Ngái|12 Ê-đê|13 Ba-na|"
    "14 Xơ-đăng|15 Sán Chay|16 Cơ-ho|17 Chăm|18 Sán Dìu|19 Hrê|20 Ra-glai|21 Mnông|22 Xtiêng|23 Bru-Vân Kiều|24 Thổ|"
    "25 Giáy|26 Cơ-tu|27 Giẻ-Triêng|28 Mạ|29 Khơ-mú|30 Co|31 Tà-ôi|32 Chơ-ro|33 Kháng|34 Xinh-mun|35 Hà Nhì|"
    "36 Chu-ru|37 Lào|38 La Chí|39 La Ha|40 Phù Lá|41 La Hủ|42 Lự|43 Lô Lô|44 Chứt|45 Mảng|46 Pà Thẻn|47 Cờ Lao|"
    "48 Cống|49 Bố Y|50 Si La|51 Pu Péo|52 Rơ-măm|53 Brâu|54 Ơ Đu").split("|"))
# Other names in use (the decision's «tên gọi khác» that registries most often carry) → code; matched like the names.
ETHNIC_ALIASES = {text: code for code, text in (item.split(" ", 1) for item in (
    "01 Việt|01 Kinh (Việt)|04 Hán|04 Hoa (Hán)|05 Khmer|05 Khmer Krôm|05 Miên|08 H'Mông|08 Mèo|10 Jrai|10 Giơ-rai|"
    "12 Ra-đê|13 Bahnar|14 Sedang|15 Cao Lan|15 Sán Chỉ|16 K'Ho|17 Chàm|19 H're|21 M'Nông|22 X'Tiêng|22 Stiêng|"
    "23 Bru|23 Vân Kiều|26 Ca-tu|29 Khmu|31 Pa Cô|36 Churu|47 Cơ Lao").split("|"))}


def ethnic_name_key(text: str) -> str:
    """A name as compared: case, NFC/NFD, tone marks, spaces, hyphens, apostrophes and a leading «người» or
    «dân tộc» do not count («Khơ-me», «khơ me», "Khome", «Người Khơ Me» are one name)."""
    folded = "".join(c for c in unicodedata.normalize("NFD", text.casefold()) if not unicodedata.combining(c))
    words = [w for w in re.split(r"[^0-9a-z]+", folded.replace("đ", "d")) if w]
    while words[:1] == ["nguoi"] or words[:2] == ["dan", "toc"]:
        words = words[1:] if words[0] == "nguoi" else words[2:]
    return "".join(words)


_ETHNIC_INDEX = {ethnic_name_key(text): code for code, name in ETHNIC_GROUPS.items()
                 for text in (code, str(int(code)), name)}
_ETHNIC_INDEX.update({ethnic_name_key(text): code for text, code in ETHNIC_ALIASES.items()})


def ethnicity_code(text: str | None) -> str | None:
    """The code of the ethnic group `text` names (its code, official name or a known other name), else None."""
    return _ETHNIC_INDEX.get(ethnic_name_key(text)) if text and len(text) <= 60 else None


def ethnic_group_list() -> list[dict]:
    """The code list as GET /api/v1/ethnic-groups answers it: code, name, other names, minority flag."""
    aliases: dict[str, list[str]] = {}
    for text, code in ETHNIC_ALIASES.items():
        aliases.setdefault(code, []).append(text)
    return [{"code": code, "name": name, "other_names": aliases.get(code, []),
             "ethnic_minority": domain.is_ethnic_minority(code)} for code, name in ETHNIC_GROUPS.items()]


ETHNICITY_UNKNOWN = "Dân tộc không có trong danh mục 54 dân tộc Việt Nam (ghi tên, ví dụ «Tày», hoặc mã 01–54)."


def _ethnicity(text: str) -> str:
    code = ethnicity_code(text)
    if code is None:
        raise ValueError(ETHNICITY_UNKNOWN)  # the value itself is personal data: not echoed
    return code


def _gender(text: str) -> str:
    value = _GENDERS.get(text.strip().lower())
    if value is None:
        raise ValueError(f"«{text}» phải là Nam hoặc Nữ.")
    return value


def _year(text: str) -> int:
    value = tabular.parse_int(text)
    if not 1940 <= value <= 2010:
        raise ValueError(f"Năm sinh «{text}» ngoài khoảng 1940–2010.")
    return value


CONTACT_KEYS = ("email", "phone", "preferred_channel", "supervisor_code", "supervisor_position_code")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{2,63}$")
_PHONE = re.compile(r"^(\+?84|0)[0-9]{9,10}$")  # ASCII digits only (\d would take any script's)


def contact_email(text: str) -> str:
    """An e-mail address as stored (trimmed); ValueError with a Vietnamese reason (never echoing the value)."""
    value = text.strip()
    if not _EMAIL.match(value):
        raise ValueError("Địa chỉ thư điện tử không hợp lệ.")
    return value


def contact_phone(text: str) -> str:
    """A Vietnamese phone number without spaces, dots or dashes (0912345678, 84912345678, +84…)."""
    value = re.sub(r"[\s.\-()]", "", text)
    if not _PHONE.match(value):
        raise ValueError("Số điện thoại không hợp lệ (ví dụ 0912345678).")
    return value


REGISTRY_COLUMNS = [
    Column("code", "Mã công chức", text_up_to(40), required=True),
    Column("full_name", "Họ và tên", text_up_to(200), required=True, width=28),
    Column("gender", "Giới tính", _gender, required=True, width=10),
    Column("birth_year", "Năm sinh", _year, required=True, width=10),
    Column("ethnicity", "Dân tộc", _ethnicity, required=True, width=12),  # read: a name or code → the code
    Column("ethnicity_code", "Mã dân tộc", width=8),  # export only (the file shows the name under «Dân tộc»)
    Column("unit_code", "Mã đơn vị", text_up_to(40), required=True, width=20),
    Column("commune_code", "Xã hiện nay", width=16),  # export only: today's commune
    Column("position_code", "Mã vị trí việc làm", text_up_to(40), required=True, width=16),
    Column("rank", "Ngạch", text_up_to(60)),
    Column("degree_level", "Trình độ chuyên môn", tabular.one_of(domain.DEGREE_SCALE)),
    Column("major", "Chuyên ngành", text_up_to(200)),
    Column("llct_level", "Lý luận chính trị", tabular.one_of(domain.LLCT_SCALE)),
    Column("qlnn_level", "Quản lý nhà nước", tabular.one_of(domain.QLNN_SCALE)),
    Column("it_level", "Tin học", tabular.one_of(domain.IT_SCALE)),
    Column("foreign_language_level", "Ngoại ngữ", tabular.one_of(domain.LANGUAGE_SCALE)),
    Column("hard_area", "Vùng khó khăn", tabular.parse_bool, width=10),
    Column("child_under_36_months", "Nuôi con dưới 36 tháng", tabular.parse_bool, width=12),
    Column("employment_status", "Tình trạng", tabular.one_of(["active", "on_leave"]), width=10),
    Column("employed_from", "Ngày tuyển dụng", tabular.parse_date, width=12),
    # contacts (issue 13): personal data, Law 91/2025/QH15; every cell optional
    Column("email", "Thư điện tử", contact_email, width=28),
    Column("phone", "Điện thoại", contact_phone, width=14),
    Column("preferred_channel", "Kênh nhận thông báo", tabular.one_of(["email", "sms", "zalo"]), width=12),
    Column("supervisor_code", "Mã người quản lý trực tiếp", text_up_to(40), width=16),
    Column("supervisor_position_code", "Vị trí người quản lý trực tiếp", text_up_to(40), width=16),
]

REGISTRY_FILE = {"filename": "danh-sach-cong-chuc", "title": "Công chức", "heading": "DANH SÁCH CÔNG CHỨC CẤP XÃ"}

_GENDER_SHOWN = {"male": "Nam", "female": "Nữ"}  # as district officers write it (and the import reads it back)


# --- reports --------------------------------------------------------------------------------------------------

ROLLUP_KEY_COLUMNS = {
    "province_code": Column("province_code", "Tỉnh"),
    "topic_code": Column("topic_code", "Chuyên đề"),
    "commune_code": Column("commune_code", "Xã hiện nay"),
    "unit_code": Column("unit_code", "Đơn vị (trước sắp xếp)", width=20),
    "position_code": Column("position_code", "Vị trí việc làm"),
}
ROLLUP_FIGURES = [Column("needs", "Số nhu cầu"), Column("mandatory", "Bắt buộc (tiêu chuẩn)"),
                  Column("planned", "Đã đưa vào kế hoạch"), Column("mean_priority", "Điểm ưu tiên TB"),
                  Column("max_priority", "Điểm ưu tiên cao nhất")]
ROLLUP_FILE = "nhu-cau-boi-duong", "TỔNG HỢP NHU CẦU BỒI DƯỠNG"


# unit_code is the unit registered (a former unit for people registered before the 2025 merger): the issue wants
# every civil servant reportable both by today's commune and by the unit they belonged to.
ROLLUP_KEYS = ("topic_code", "commune_code", "unit_code", "position_code", "province_code")


def rollup_columns(group_by: list[str]) -> list[Column]:
    """The roll-up's columns: its grouping keys in ROLLUP_KEYS order (the topic when none), then the figures."""
    keys = [k for k in ROLLUP_KEYS if k in group_by] or ["topic_code"]
    return [ROLLUP_KEY_COLUMNS[k] for k in keys] + ROLLUP_FIGURES


COVERAGE_COLUMNS = [Column("commune_code", "Xã"), Column("active", "Số công chức"),
                    Column("planned", "Kế hoạch (lượt)"), Column("trained", "Đã bồi dưỡng (người)"),
                    Column("target_share", "Chỉ tiêu (tỷ lệ)"), Column("target", "Chỉ tiêu (người)"),
                    Column("trained_share", "Tỷ lệ đã bồi dưỡng"), Column("target_met", "Đạt chỉ tiêu")]
COVERAGE_FILE = "bao-phu-ke-hoach", "MỨC ĐỘ THỰC HIỆN KẾ HOẠCH"

BELOW_COLUMNS = [Column("code", "Mã công chức"), Column("full_name", "Họ và tên", width=28),
                 Column("unit_code", "Đơn vị (cũ)", width=20), Column("commune_code", "Xã hiện nay"),
                 Column("position_code", "Vị trí việc làm"),
                 Column("unmet_standards", "Tiêu chuẩn chưa đạt", width=28),
                 Column("deadline", "Hạn hoàn thành"),
                 Column("competencies_below", "Năng lực dưới yêu cầu", width=28)]
BELOW_FILE = "cong-chuc-chua-dat-chuan", "CÔNG CHỨC CHƯA ĐẠT TIÊU CHUẨN VỊ TRÍ VIỆC LÀM"


def report_options(file: tuple[str, str]) -> dict:
    """respond_as keywords of a report: its file name and the sheet's title and heading."""
    filename, heading = file
    return {"filename": filename, "title": heading[:31], "heading": heading}


# --- charts (shared.charts draws them) -------------------------------------------------------------------------

def needs_chart(rows: list[dict]) -> dict:
    """shared.charts.bar_chart arguments of the needs-per-topic chart (open and planned needs)."""
    return {"labels": [r["topic_code"] for r in rows], "series": {"Số nhu cầu": [r["needs"] for r in rows]},
            "title": "Nhu cầu bồi dưỡng theo chuyên đề (đang mở và đã đưa vào kế hoạch)", "ylabel": "Số nhu cầu",
            "horizontal": True}


def coverage_chart(rows: list[dict]) -> dict:
    """shared.charts.bar_chart arguments of the plan-coverage chart: target, planned and trained per commune."""
    return {"labels": [r["commune_code"] for r in rows],
            "series": {"Chỉ tiêu": [r["target"] or 0 for r in rows], "Kế hoạch": [r["planned"] for r in rows],
                       "Đã bồi dưỡng": [r["trained"] for r in rows]},
            "title": "Thực hiện kế hoạch bồi dưỡng theo xã", "ylabel": "Người"}
