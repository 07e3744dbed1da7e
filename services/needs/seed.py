"""Seed data: the Thới Bình units and their 2025 merger, the position catalogue, 111 synthetic civil servants.

The civil servants are SYNTHETIC (deterministic, random.Random(2025)): names are made up, never real people.
"""
from __future__ import annotations

import random
from datetime import date

MERGER_DATE = date(2025, 7, 1)  # NQ 1655/NQ-UBTVQH15 (Cà Mau), in force 2025-07-01 [S]
MERGER_BASIS = "NQ 1655/NQ-UBTVQH15 (sắp xếp ĐVHC cấp xã tỉnh Cà Mau năm 2025)"
BEFORE_RECORDS = date(1990, 1, 1)  # the old units' start is not tracked; this marks "before our records"

# (code, name, kind, new commune code) — the 12 units of Thới Bình district before 2025-07-01 [V]
FORMER_UNITS = [
    ("TB-TT-THOIBINH", "Thị trấn Thới Bình", "thi_tran", "CM-THOIBINH"),
    ("TB-X-THOIBINH", "Xã Thới Bình", "xa", "CM-THOIBINH"),
    ("TB-X-BIENBACH", "Xã Biển Bạch", "xa", "CM-BIENBACH"),
    ("TB-X-BIENBACHDONG", "Xã Biển Bạch Đông", "xa", "CM-BIENBACH"),
    ("TB-X-TANBANG", "Xã Tân Bằng", "xa", "CM-BIENBACH"),
    ("TB-X-TRIPHAI", "Xã Trí Phải", "xa", "CM-TRIPHAI"),
    ("TB-X-TRILUC", "Xã Trí Lực", "xa", "CM-TRIPHAI"),
    ("TB-X-TANPHU", "Xã Tân Phú", "xa", "CM-TRIPHAI"),
    ("TB-X-TANLOC", "Xã Tân Lộc", "xa", "CM-TANLOC"),
    ("TB-X-TANLOCBAC", "Xã Tân Lộc Bắc", "xa", "CM-TANLOC"),
    ("TB-X-TANLOCDONG", "Xã Tân Lộc Đông", "xa", "CM-TANLOC"),
    ("TB-X-HOTHIKY", "Xã Hồ Thị Kỷ", "xa", "CM-HOTHIKY"),
]
# The 5 communes of Cà Mau province formed on 2025-07-01 [S]
COMMUNES = [
    ("CM-THOIBINH", "Xã Thới Bình", "xa"),
    ("CM-BIENBACH", "Xã Biển Bạch", "xa"),
    ("CM-TRIPHAI", "Xã Trí Phải", "xa"),
    ("CM-TANLOC", "Xã Tân Lộc", "xa"),
    ("CM-HOTHIKY", "Xã Hồ Thị Kỷ", "xa"),
]

# (code, name, legacy) — 6 titles of NĐ 33/2023 [S] and the main commune positions of CV 7415/BNV-CCVC [S]
POSITIONS = [
    ("CHQS", "Chỉ huy trưởng quân sự", True),
    ("VPTK", "Văn phòng – thống kê", True),
    ("DCXD", "Địa chính – xây dựng – nông nghiệp – môi trường", True),
    ("TCKT", "Tài chính – kế toán", True),
    ("TPHT", "Tư pháp – hộ tịch", True),
    ("VHXH", "Văn hóa – xã hội", True),
    ("VP-TONGHOP", "Chuyên viên tổng hợp (Văn phòng HĐND và UBND)", False),
    ("KT-NNMT", "Chuyên viên quản lý nông nghiệp, môi trường (Phòng Kinh tế)", False),
    ("KT-TCKT", "Chuyên viên tài chính – kế toán (Phòng Kinh tế)", False),
    ("VHXH-CV", "Chuyên viên văn hóa – xã hội (Phòng Văn hóa – Xã hội)", False),
    ("TP-HT", "Chuyên viên tư pháp – hộ tịch", False),
    ("HCC-MC", "Chuyên viên một cửa (Trung tâm phục vụ hành chính công)", False),
]
LEGACY_TITLES = [p[0] for p in POSITIONS if p[2]]

_FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Võ", "Đặng", "Bùi", "Đỗ", "Ngô", "Dương", "Lý", "Trương", "Lâm"]
_MALE_MIDDLE = ["Văn", "Minh", "Thanh", "Quốc", "Hoàng", "Hữu", "Công"]
_FEMALE_MIDDLE = ["Thị", "Ngọc", "Thanh", "Kim", "Thu", "Mỹ"]
_MALE_GIVEN = ["An", "Bình", "Dũng", "Hải", "Hùng", "Khoa", "Long", "Nam", "Phúc", "Quân", "Tâm", "Tuấn", "Vinh", "Toàn"]
_FEMALE_GIVEN = ["Châu", "Hà", "Hạnh", "Lan", "Linh", "Mai", "Ngân", "Phương", "Thảo", "Trang", "Vy", "Yến", "Nhung"]
_MINORITIES = ["Khmer", "Hoa"]


def synthetic_civil_servants(count: int = 111, seed: int = 2025) -> list[dict]:
    """Return `count` synthetic civil servants spread over the 12 former units and the 6 legacy titles."""
    rng = random.Random(seed)
    people = []
    for i in range(count):
        unit = FORMER_UNITS[i % len(FORMER_UNITS)][0]
        female = rng.random() < 0.45
        family = rng.choice(_FAMILY)
        middle = rng.choice(_FEMALE_MIDDLE if female else _MALE_MIDDLE)
        given = rng.choice(_FEMALE_GIVEN if female else _MALE_GIVEN)
        minority = rng.random() < 0.1
        people.append({
            "code": f"TB-{i + 1:04d}",
            "full_name": f"{family} {middle} {given}",
            "gender": "female" if female else "male",
            "birth_year": rng.randint(1970, 2000),
            "ethnicity": rng.choice(_MINORITIES) if minority else "Kinh",
            "unit_code": unit,
            "position_code": LEGACY_TITLES[(i // len(FORMER_UNITS)) % len(LEGACY_TITLES)],
            "hard_area": unit in ("TB-X-TANLOCBAC", "TB-X-BIENBACHDONG") or rng.random() < 0.05,
            "child_under_36_months": rng.random() < 0.08,
        })
    return people
