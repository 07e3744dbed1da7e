"""Pure funding rules: choosing the cost norm in force, and computing a course settlement in whole VND."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

SOURCES = ("dtbd_state", "unit_regular", "individual", "sponsorship", "programme")
SOURCE_LABELS = {
    "dtbd_state": "Ngân sách nhà nước – kinh phí ĐT-BD",
    "unit_regular": "Kinh phí thường xuyên của cơ quan cử đi học",
    "individual": "Cá nhân",
    "sponsorship": "Tài trợ",
    "programme": "Chương trình, đề án",
}
ITEM_LABELS = {"lecturer_fee": "Thù lao giảng viên", "learner_support": "Hỗ trợ tiền ăn học viên"}


class NormNotFound(Exception):
    """No cost norm in force for an item on a date: the settlement cannot be computed."""


@dataclass(frozen=True)
class Norm:
    id: str
    item: str
    unit: str
    amount: int  # whole VND
    valid_from: date
    valid_to: date | None
    lecturer_tier: int | None = None

    def in_force(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


def select_norm(norms: list[Norm], item: str, day: date, tier: int | None = None) -> Norm:
    """Return the norm for `item` (and lecturer tier) in force on `day`; the latest valid_from wins."""
    candidates = [n for n in norms if n.item == item and n.lecturer_tier == tier and n.in_force(day)]
    if not candidates:
        raise NormNotFound(f"no norm for {item} tier={tier} on {day.isoformat()}")
    return max(candidates, key=lambda n: n.valid_from)


@dataclass(frozen=True)
class Line:
    item: str
    payee_kind: str  # lecturer | trainee
    payee_ref: str
    source: str
    owner_unit_code: str  # whose budget line pays
    quantity: int
    unit_amount: int
    norm_id: str

    @property
    def amount(self) -> int:
        return self.quantity * self.unit_amount  # integers: no rounding arises


def settlement_lines(course: dict, norms: list[Norm]) -> list[Line]:
    """Compute a completed course's actual costs from actual attendance.

    - Lecturer fee per buổi taught, by lecturer tier, from the ĐT-BD line of the organiser (TT 36/2018/TT-BTC).
    - Learner support per day actually attended, charged to the sending commune's regular budget
      (MoF answer citing TT 36/2018 Art. 4: paid by the sending unit, for days attended).
    The norm applied is the one in force on the course's first day.
    """
    day = course["start_date"]
    lines: list[Line] = []
    taught: dict[tuple[str, int], int] = {}
    for s in course["sessions"]:
        key = (s["lecturer_id"], s["lecturer_tier"])
        taught[key] = taught.get(key, 0) + 1
    for (lecturer_id, tier), buoi in sorted(taught.items()):
        norm = select_norm(norms, "lecturer_fee", day, tier)
        lines.append(Line("lecturer_fee", "lecturer", lecturer_id, "dtbd_state", course["organizer_unit_code"],
                          buoi, norm.amount, norm.id))
    support = None
    for p in course["participants"]:
        if p["days_attended"] <= 0:
            continue
        support = support or select_norm(norms, "learner_support", day)
        lines.append(Line("learner_support", "trainee", p["civil_servant_id"], "unit_regular", p["commune_code"],
                          p["days_attended"], support.amount, support.id))
    return lines


def totals(lines: list[Line]) -> dict[str, int]:
    """Sum the lines per item and overall."""
    out = {"lecturer_fee": 0, "learner_support": 0}
    for line in lines:
        out[line.item] = out.get(line.item, 0) + line.amount
    out["total"] = sum(line.amount for line in lines)
    return out
