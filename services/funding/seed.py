"""Reference and sample data of the funding service, labelled MẪU: sample cost norms with their legal bases and
ample sample budget lines, and `seed_samples` (idempotent) used by the admin endpoint, the CLI, the demo and tests."""
from __future__ import annotations

import uuid
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.funding.models import BudgetLine, CostNorm
from services.funding.settings import DEFAULT_PROVINCE
from services.funding.usecases.budget_lines import create_budget_line


SAMPLE_BASIS = "MẪU – giá trị minh họa, không phải định mức của tỉnh Cà Mau; nạp định mức thật trước khi dùng"

OLD, NEW = (date(2018, 1, 1), date(2025, 10, 27)), (date(2025, 10, 28), None)


SAMPLE_NORMS = [
    # (item, unit, tier, amount, (valid_from, valid_to)) — SAMPLE values, tiers shaped like Quảng Nam NQ 52/2018
    ("lecturer_fee", "per_buoi", 1, 2_000_000, OLD), ("lecturer_fee", "per_buoi", 2, 1_800_000, OLD),
    ("lecturer_fee", "per_buoi", 3, 1_400_000, OLD), ("lecturer_fee", "per_buoi", 4, 1_000_000, OLD),
    ("lecturer_fee", "per_buoi", 5, 600_000, OLD),
    ("lecturer_fee", "per_buoi", 1, 2_200_000, NEW), ("lecturer_fee", "per_buoi", 2, 2_000_000, NEW),
    ("lecturer_fee", "per_buoi", 3, 1_600_000, NEW), ("lecturer_fee", "per_buoi", 4, 1_100_000, NEW),
    ("lecturer_fee", "per_buoi", 5, 700_000, NEW),
    ("learner_support", "per_day", None, 100_000, OLD), ("learner_support", "per_day", None, 150_000, NEW),
    ("materials", "per_person", None, 50_000, OLD), ("materials", "per_person", None, 60_000, NEW),
    ("certificate", "per_person", None, 20_000, OLD), ("certificate", "per_person", None, 25_000, NEW),
    ("opening_closing", "per_course", None, 1_000_000, OLD), ("opening_closing", "per_course", None, 1_200_000, NEW),
    ("hall_rental", "per_day", None, 1_000_000, OLD), ("hall_rental", "per_day", None, 1_200_000, NEW),
    ("water_stationery", "per_person_day", None, 20_000, OLD),
    ("water_stationery", "per_person_day", None, 25_000, NEW),
    ("class_management", "per_day", None, 200_000, OLD), ("class_management", "per_day", None, 250_000, NEW),
    ("support_ethnic_minority", "per_day", None, 30_000, OLD),
    ("support_ethnic_minority", "per_day", None, 50_000, NEW),
    ("support_child_u36", "per_day", None, 30_000, OLD), ("support_child_u36", "per_day", None, 50_000, NEW),
    ("support_cap_per_day", "cap_per_person_day", None, 150_000, OLD),
    ("support_cap_per_day", "cap_per_person_day", None, 230_000, NEW),
    ("travel", "per_km", None, 1_500, OLD), ("travel", "per_km", None, 2_000, NEW),
    ("lodging", "per_night", None, 200_000, OLD), ("lodging", "per_night", None, 250_000, NEW),
    ("lodging_min_km", "threshold_km", None, 15, OLD), ("lodging_min_km", "threshold_km", None, 15, NEW),
    ("reward_excellent", "per_person", None, 200_000, OLD), ("reward_excellent", "per_person", None, 200_000, NEW),
    ("reward_cap", "cap_per_person", None, 200_000, OLD), ("reward_cap", "cap_per_person", None, 200_000, NEW),
    ("commitment_multiplier", "factor", None, 2, (date(2017, 9, 1), date(2025, 6, 30))),
    ("commitment_multiplier", "factor", None, 3, (date(2025, 7, 1), None)),
]


SAMPLE_BASES = {
    date(2018, 1, 1): "TT 36/2018/TT-BTC, TT 06/2023/TT-BTC; TT 40/2017/TT-BTC (trần công tác phí)",
    date(2025, 10, 28): "TT 100/2025/TT-BTC; TT 40/2017/TT-BTC (trần công tác phí)",
    date(2017, 9, 1): "NĐ 101/2017/NĐ-CP (cam kết gấp 2 lần thời gian đào tạo)",
    date(2025, 7, 1): "NĐ 171/2025/NĐ-CP (cam kết gấp 3 lần thời gian đào tạo)",
}


COMMUNES = ["CM-THOIBINH", "CM-BIENBACH", "CM-TRIPHAI", "CM-TANLOC", "CM-HOTHIKY"]


SEED_YEARS = range(2025, 2031)


SAMPLE_STATE_DTBD = 5_000_000_000  # ample, so that the demo's courses are confirmed


SAMPLE_UNIT_REGULAR = 2_000_000_000


def _overlapping(session: Session, data: dict) -> str | None:
    t = CostNorm
    far = date(9999, 12, 31)
    return session.scalar(sa.select(t.id).where(
        t.item == data["item"], t.unit == data["unit"], t.province_code == data["province_code"],
        t.lecturer_tier.is_(None) if data.get("lecturer_tier") is None else t.lecturer_tier == data["lecturer_tier"],
        t.valid_from <= (data.get("valid_to") or far), sa.func.coalesce(t.valid_to, far) >= data["valid_from"]))


def seed_samples(session: Session, fiscal_year: int, organizer_unit_code: str = "CM-THOIBINH",
                 communes: list[str] | None = None, *, province_code: str = DEFAULT_PROVINCE) -> dict:
    """Load the clearly labelled sample norms (missing items only) and ample sample budget lines (idempotent).

    Lines: state ĐT-BD for each commune and the province (CM), and the regular budget of each commune, for the
    fiscal years 2025–2030 and `fiscal_year`.
    """
    added = {"norms": 0, "budget_lines": 0}
    province = province_code
    for item, unit, tier, amount, (start, end) in SAMPLE_NORMS:
        data = {"item": item, "unit": unit, "lecturer_tier": tier, "province_code": province, "amount": amount,
                "valid_from": start, "valid_to": end, "is_sample": True,
                "legal_basis": f"{SAMPLE_BASES[start]} – {SAMPLE_BASIS}"[:300]}
        if not _overlapping(session, data):
            session.add(CostNorm(id=str(uuid.uuid4()), **data))
            session.flush()
            added["norms"] += 1
    units = sorted(set(COMMUNES) | set(communes or []) | {organizer_unit_code})
    wanted = [("state_dtbd", u, SAMPLE_STATE_DTBD) for u in units + [province]] + \
        [("unit_regular", u, SAMPLE_UNIT_REGULAR) for u in units]
    years = sorted(set(SEED_YEARS) | {fiscal_year})
    have = {(b.fiscal_year, b.source, b.owner_unit_code) for b in session.scalars(
        sa.select(BudgetLine).where(BudgetLine.fiscal_year.in_(years)))}
    for year in years:
        for source, owner, amount in wanted:
            if (year, source, owner) not in have:
                create_budget_line(session, {"fiscal_year": year, "source": source, "owner_unit_code": owner,
                                             "allocated": amount, "decision_no": f"MẪU-{year}/QĐ-UBND",
                                             "decision_date": date(year, 1, 5)})
                added["budget_lines"] += 1
    return added
