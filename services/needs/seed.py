"""Seed data: the Thới Bình units and their 2025 merger, the position catalogue, 111 synthetic civil servants.

The civil servants are SYNTHETIC (deterministic, random.Random(2025)): names are made up, never real people.
"""
from __future__ import annotations

import random
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.needs.domain import DEGREE_SCALE, LLCT_SCALE, QLNN_SCALE
from services.needs.models import (
    Campaign, CivilServant, FrameworkVersion, Position, Rule, SurveyResponse, Unit, UnitSuccession,
)

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
    ("LD-CT-UBND", "Chủ tịch Ủy ban nhân dân xã", False),
    ("LD-PCT-UBND", "Phó Chủ tịch Ủy ban nhân dân xã", False),
    ("LD-TP", "Trưởng phòng chuyên môn thuộc UBND xã", False),
]
LEADERSHIP_POSITIONS = {"LD-CT-UBND", "LD-PCT-UBND", "LD-TP"}  # leadership group of CV 7415/BNV-CCVC [S]
PROVINCE = ("CM", "Tỉnh Cà Mau", "tinh")  # parent of the 5 communes (districts abolished 2025-07-01) [S]
DISTRICT = ("TB-HUYEN", "Huyện Thới Bình", "huyen")  # parent of the 12 former units until 2025-06-30 [V]
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


# --- competency framework, requirements and rules (SAMPLE DATA: the national framework is a 2026 draft [S]) -------

FRAMEWORK = ("KNL-2025", "Khung năng lực chung công chức cấp xã (mẫu, theo dự thảo 2025)", date(2025, 7, 1),
             "Dự thảo khung năng lực công chức (Bộ Nội vụ, dự kiến 2026) [S] — dữ liệu mẫu")
_LEVELS = ["Mức 1: biết, cần hướng dẫn", "Mức 2: làm được việc đơn giản", "Mức 3: thành thạo công việc thường xuyên",
           "Mức 4: xử lý được việc phức tạp, hướng dẫn người khác", "Mức 5: chuyên gia, dẫn dắt đổi mới"]
# (code, name, topic) — the seven common competencies of domain.md §3, each mapped to its topic (DEVELOPERS.md)
COMPETENCIES = [
    ("CM01", "Đạo đức công vụ, bản lĩnh chính trị", "KN-DAODUC"),
    ("CM02", "Tổ chức thực hiện công việc", "KN-TOCHUC"),
    ("CM03", "Soạn thảo văn bản hành chính", "KN-VANBAN"),
    ("CM04", "Giao tiếp, ứng xử", "KN-GIAOTIEP"),
    ("CM05", "Phối hợp công tác", "KN-PHOIHOP"),
    ("CM06", "Sử dụng công nghệ thông tin", "KN-CNTT"),
    ("CM07", "Sử dụng ngoại ngữ", "KN-NGOAINGU"),
]
# Required level per competency: professional positions 3 (CM07: 2), leadership one level higher (sample data)
BASE_REQUIREMENT = {"CM01": 3, "CM02": 3, "CM03": 3, "CM04": 3, "CM05": 3, "CM06": 3, "CM07": 2}
SPECIFIC_REQUIREMENT = {"VPTK": {"CM03": 4, "CM06": 4}, "VP-TONGHOP": {"CM03": 4, "CM06": 4},
                        "HCC-MC": {"CM04": 4, "CM06": 4}, "TCKT": {"CM06": 4}, "KT-TCKT": {"CM06": 4}}


def requirements_for(position_code: str) -> dict[str, int]:
    """Sample required levels of a position (leadership +1, capped at 5)."""
    req = {**BASE_REQUIREMENT, **SPECIFIC_REQUIREMENT.get(position_code, {})}
    if position_code in LEADERSHIP_POSITIONS:
        req = {k: min(5, v + 1) for k, v in req.items()}
    return req


RULES_FROM = date(2025, 7, 1)
# (code, value, legal basis) — every rule is data, valid from RULES_FROM, clearly sample where not verified
RULES = [
    ("combination", {"method": "supervisor_else_self", "self_weight": 0.3, "supervisor_weight": 0.7},
     "Quy tắc kết hợp tự đánh giá và đánh giá của cấp trên (cấu hình của huyện, dữ liệu mẫu) [C]"),
    ("priority_weights", {"per_gap_level": 10, "mandatory": 30, "leadership": 10, "hard_area": 8,
                          "ethnic_minority": 5, "deadline_passed": 25, "deadline_within_12_months": 20,
                          "deadline_within_24_months": 10, "wished": 5},
     "Trọng số điểm ưu tiên (cấu hình của huyện, dữ liệu mẫu) [C]"),
    ("standards", {"rules": [
        {"code": "STD-LLCT", "label": "Chưa có chứng chỉ lý luận chính trị sơ cấp", "field": "llct_level",
         "scale": LLCT_SCALE, "minimum": "so_cap", "topic_code": "LLCT-SOCAP",
         "basis": "Tiêu chuẩn công chức cấp xã, NĐ 33/2023/NĐ-CP Điều 10 [S]"},
        {"code": "STD-QLNN", "label": "Chưa có chứng chỉ bồi dưỡng QLNN ngạch chuyên viên", "field": "qlnn_level",
         "scale": QLNN_SCALE, "minimum": "chuyen_vien", "topic_code": "QLNN-CV",
         "basis": "Tiêu chuẩn ngạch chuyên viên, TT 2/2021/TT-BNV [S]"},
        {"code": "STD-DEGREE", "label": "Chưa có trình độ đại học theo tiêu chuẩn vị trí", "field": "degree_level",
         "scale": DEGREE_SCALE, "minimum": "bachelor", "topic_code": "VTVL-CHUYENMON",
         "basis": "NĐ 33/2023/NĐ-CP Điều 10 [S]", "exempt_hard_area": True},
        {"code": "STD-DEGREE-HARD", "label": "Vùng khó khăn: phải đạt trình độ đại học trong thời hạn",
         "field": "degree_level", "scale": DEGREE_SCALE, "minimum": "bachelor", "topic_code": "VTVL-CHUYENMON",
         "basis": "NĐ 33/2023/NĐ-CP: vùng khó khăn được tuyển trình độ trung cấp, hoàn thiện trong 5 năm [S]",
         "hard_area_only": True, "deadline_years": 5},
    ]}, "Tiêu chuẩn vị trí/chức danh công chức cấp xã (dữ liệu mẫu) [S]"),
]


def synthetic_qualifications(code: str, seed: int = 2025) -> dict:
    """Deterministic qualifications and recruitment date of one synthetic civil servant (own stream per code)."""
    rng = random.Random(f"{seed}:{code}:qual")
    return {
        "rank": rng.choice(["Chuyên viên", "Chuyên viên", "Cán sự", "Chuyên viên chính"]),
        "degree_level": rng.choices(["intermediate", "college", "bachelor", "master"], [15, 10, 65, 10])[0],
        "llct_level": rng.choices(["none", "so_cap", "trung_cap"], [25, 30, 45])[0],
        "qlnn_level": rng.choices(["none", "chuyen_vien", "chuyen_vien_chinh"], [30, 60, 10])[0],
        "it_level": rng.choice(["basic", "basic", "advanced", "none"]),
        "foreign_language_level": rng.choice(["none", "A2", "B1", "B1"]),
        "employed_from": date(rng.randint(2008, 2024), rng.randint(1, 12), 1),
    }


def synthetic_levels(code: str, competency: str, seed: int = 2025) -> tuple[int, int]:
    """Deterministic (self, supervisor) levels 1–5 of one synthetic civil servant for one competency."""
    rng = random.Random(f"{seed}:{code}:{competency}")
    supervisor = rng.choices([1, 2, 3, 4, 5], [5, 25, 40, 25, 5])[0]
    self_level = max(1, min(5, supervisor + rng.choice([-1, 0, 0, 1, 1])))  # people rate themselves a little higher
    return self_level, supervisor


def synthetic_wishes(code: str, seed: int = 2025) -> dict:
    """Deterministic wishes (nguyện vọng) of one synthetic civil servant."""
    rng = random.Random(f"{seed}:{code}:wish")
    return {"wished_topics": rng.sample([t for _, _, t in COMPETENCIES], 2),
            "preferred_form": rng.choice(["in_person", "online", "blended"]),
            "preferred_time": rng.choice(["Quý II", "Quý III", "Cuối tuần", "Buổi chiều"])}


# --- seeding (idempotent): admin /seed, the CLI, make seed, the demo and tests ---------------------------------

def seed_reference_data(session: Session) -> dict:
    """Insert the Thới Bình units, the 2025 merger, positions, the sample framework and rules; skip what exists."""
    from services.needs.usecases import create_framework_version, successions
    added = {"units": 0, "successions": 0, "positions": 0, "frameworks": 0, "rules": 0}
    existing = set(session.scalars(sa.select(Unit.code)))
    last_day = date.fromordinal(MERGER_DATE.toordinal() - 1)
    wanted = [(PROVINCE, BEFORE_RECORDS, None, None), (DISTRICT, BEFORE_RECORDS, last_day, "CM")]
    wanted += [((code, name, kind), MERGER_DATE, None, "CM") for code, name, kind in COMMUNES]
    wanted += [((code, name, kind), BEFORE_RECORDS, last_day, DISTRICT[0])
               for code, name, kind, _ in FORMER_UNITS]
    for (code, name, kind), start, end, parent in wanted:
        if code not in existing:
            session.add(Unit(code=code, name=name, kind=kind, province_code="CM", valid_from=start, valid_to=end,
                             parent_code=parent))
            added["units"] += 1
    session.flush()
    known = {(s.predecessor, s.successor) for s in successions(session)}
    for code, _, _, successor in FORMER_UNITS:
        if (code, successor) not in known:
            session.add(UnitSuccession(predecessor_code=code, successor_code=successor,
                                       effective_date=MERGER_DATE, legal_basis=MERGER_BASIS))
            added["successions"] += 1
    have = set(session.scalars(sa.select(Position.code)))
    for code, name, legacy in POSITIONS:
        if code not in have:
            session.add(Position(code=code, name=name, legacy=legacy, active=True,
                                 category="leadership" if code in LEADERSHIP_POSITIONS else "professional"))
            added["positions"] += 1
    session.flush()
    fw_code, fw_name, fw_from, fw_basis = FRAMEWORK
    if session.scalar(sa.select(FrameworkVersion.id).where(FrameworkVersion.code == fw_code)) is None:
        create_framework_version(session, {
            "code": fw_code, "name": fw_name, "valid_from": fw_from, "legal_basis": fw_basis,
            "competencies": [{"code": c, "name": n, "category": "common", "topic_code": t, "levels": _LEVELS}
                             for c, n, t in COMPETENCIES],
            "requirements": [{"position_code": p, "competency_code": c, "required_level": lvl}
                             for p, _, _ in POSITIONS for c, lvl in requirements_for(p).items()]})
        added["frameworks"] += 1
    for code, value, basis in RULES:
        if session.get(Rule, (code, RULES_FROM)) is None:
            session.add(Rule(code=code, valid_from=RULES_FROM, valid_to=None, value=value, legal_basis=basis,
                             sample=True))
            added["rules"] += 1
    session.flush()
    return added


def seed_civil_servants(session: Session, count: int = 111) -> int:
    """Register the deterministic synthetic civil servants not registered yet; return how many were added."""
    from services.needs.usecases import register_civil_servant, successions
    have = set(session.scalars(sa.select(CivilServant.code)))
    history = successions(session)
    added = 0
    for person in synthetic_civil_servants(count):
        if person["code"] not in have:
            register_civil_servant(session, {**person, **synthetic_qualifications(person["code"])}, history)
            added += 1
    return added


def seed_survey(session: Session, year: int) -> dict:
    """Open the sample campaign of `year` over the 5 communes and fill every answer deterministically.

    Idempotent: a campaign with the sample title of that year is reused. The campaign is left open so the
    closing (which computes needs) can be shown.
    """
    from services.needs.usecases import open_campaign, submit_response
    title = f"Khảo sát nhu cầu bồi dưỡng năm {year} (dữ liệu mẫu)"
    campaign = session.scalar(sa.select(Campaign).where(Campaign.year == year, Campaign.title == title))
    if campaign is None:
        campaign = open_campaign(session, {"year": year, "title": title, "unit_codes": [c for c, _, _ in COMMUNES],
                                           "deadline": date(year, 12, 31)})
    answered = 0
    if campaign.status == "open":
        people = session.execute(sa.select(CivilServant.id, CivilServant.code).join(
            SurveyResponse, SurveyResponse.civil_servant_id == CivilServant.id).where(
            SurveyResponse.campaign_id == campaign.id, SurveyResponse.supervisor_submitted_at.is_(None))).all()
        codes = [c for c, _, _ in COMPETENCIES]
        for cs_id, code in people:
            levels = {c: synthetic_levels(code, c) for c in codes}
            submit_response(session, campaign.id, {"civil_servant_id": cs_id, "role": "self",
                                                   "levels": {c: s for c, (s, _) in levels.items()},
                                                   **synthetic_wishes(code)})
            submit_response(session, campaign.id, {"civil_servant_id": cs_id, "role": "supervisor",
                                                   "levels": {c: p for c, (_, p) in levels.items()}})
            answered += 1
    return {"campaign_id": campaign.id, "answered": answered, "status": campaign.status}


def seed(session: Session, civil_servants: int = 111, survey_year: int | None = None) -> dict:
    """Seed the reference data and `civil_servants` synthetic civil servants (and, with `survey_year`, that year's
    filled sample campaign); return what was added. Idempotent."""
    added = seed_reference_data(session)
    added["civil_servants"] = seed_civil_servants(session, civil_servants)
    if survey_year:
        added["survey"] = seed_survey(session, survey_year)
    return added
