"""Files the needs service reads and writes: the registry's CSV/XLSX columns and cell parsers, report columns.

Pure: no session, no web framework."""
from __future__ import annotations

from services.needs import seed
from shared import tabular


_GENDERS = {"nam": "male", "male": "male", "nữ": "female", "nu": "female", "female": "female"}


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


def _max_len(n: int):
    def parse(text: str) -> str:
        if len(text) > n:
            raise ValueError(f"Dài quá {n} ký tự.")
        return text
    return parse


REGISTRY_COLUMNS = [
    tabular.Column("code", "Mã công chức", _max_len(40), required=True),
    tabular.Column("full_name", "Họ và tên", _max_len(200), required=True, width=28),
    tabular.Column("gender", "Giới tính", _gender, required=True, width=10),
    tabular.Column("birth_year", "Năm sinh", _year, required=True, width=10),
    tabular.Column("ethnicity", "Dân tộc", _max_len(60), required=True, width=12),
    tabular.Column("unit_code", "Mã đơn vị", _max_len(40), required=True, width=20),
    tabular.Column("commune_code", "Xã hiện nay", width=16),  # export only: today's commune
    tabular.Column("position_code", "Mã vị trí việc làm", _max_len(40), required=True, width=16),
    tabular.Column("rank", "Ngạch", _max_len(60)),
    tabular.Column("degree_level", "Trình độ chuyên môn", tabular.one_of(seed.DEGREE_SCALE)),
    tabular.Column("major", "Chuyên ngành", _max_len(200)),
    tabular.Column("llct_level", "Lý luận chính trị", tabular.one_of(seed.LLCT_SCALE)),
    tabular.Column("qlnn_level", "Quản lý nhà nước", tabular.one_of(seed.QLNN_SCALE)),
    tabular.Column("it_level", "Tin học", tabular.one_of(seed.IT_SCALE)),
    tabular.Column("foreign_language_level", "Ngoại ngữ", tabular.one_of(seed.LANGUAGE_SCALE)),
    tabular.Column("hard_area", "Vùng khó khăn", tabular.parse_bool, width=10),
    tabular.Column("child_under_36_months", "Nuôi con dưới 36 tháng", tabular.parse_bool, width=12),
    tabular.Column("employment_status", "Tình trạng", tabular.one_of(["active", "on_leave"]), width=10),
    tabular.Column("employed_from", "Ngày tuyển dụng", tabular.parse_date, width=12),
]


_GENDER_SHOWN = {"male": "Nam", "female": "Nữ"}  # as district officers write it (and the import reads it back)
