"""Pure funding rules: the cost norm in force, estimate and settlement lines, caps, reservations, repayments.

Rounding rules (money is whole VND, integers only, never floats):
- R1 every cost line is quantity × a whole-VND rate from a norm: exact, no rounding arises;
- R2 a cap lowers a rate to the whole-VND amount left under the cap: exact, no rounding arises;
- R3 totals are sums of line amounts (per item, per source, per budget line): exact;
- R4 the only division is the degree-training repayment S = F / T1 × (T1 − T2), computed as one integer
  division of F × (T1 − T2) by T1 and rounded half up to the whole VND (`round_half_up`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from shared.localtime import vn_date

SOURCES = ("state_dtbd", "unit_regular", "individual", "sponsorship", "programme")
LEGACY_SOURCES = {"dtbd_state": "state_dtbd"}  # the walking skeleton's spelling: accepted on input, stored anew
SOURCE_LABELS = {
    "state_dtbd": "Ngân sách nhà nước – kinh phí ĐT-BD",
    "unit_regular": "Kinh phí thường xuyên của cơ quan cử đi học", "individual": "Cá nhân",
    "sponsorship": "Tài trợ", "programme": "Chương trình, đề án",
}
UNITS = ("per_buoi", "per_day", "per_km", "per_person", "per_person_day", "per_course", "per_night",
         "cap_per_person_day", "cap_per_person", "threshold_km", "factor")
ITEM_LABELS = {  # the last four are limits, thresholds or factors rather than amounts paid
    "lecturer_fee": "Thù lao giảng viên", "materials": "Tài liệu học tập",
    "hall_rental": "Thuê hội trường, thiết bị", "opening_closing": "Khai giảng, bế giảng",
    "certificate": "In cấp chứng chỉ", "water_stationery": "Nước uống, văn phòng phẩm",
    "class_management": "Quản lý lớp", "learner_support": "Hỗ trợ tiền ăn học viên",
    "support_female": "Hỗ trợ thêm học viên nữ",
    "support_ethnic_minority": "Hỗ trợ thêm học viên người dân tộc thiểu số",
    "support_child_u36": "Hỗ trợ thêm học viên nuôi con dưới 36 tháng", "travel": "Hỗ trợ tiền đi lại",
    "lodging": "Hỗ trợ tiền nghỉ", "reward_excellent": "Khen thưởng học viên xuất sắc",
    "support_cap_per_day": "Mức trần hỗ trợ học viên/ngày (chế độ công tác phí)",
    "reward_cap": "Mức trần khen thưởng/học viên",
    "lodging_min_km": "Khoảng cách tối thiểu được hỗ trợ tiền nghỉ (km)",
    "commitment_multiplier": "Hệ số thời gian cam kết phục vụ sau đào tạo",
}
# The unit each item's amount is written in, as cost_lines applies it: a norm in another unit (e.g. learner support
# "per_km") would be multiplied by the wrong quantity, so it is refused on input (API and import).
ITEM_UNITS = {
    "lecturer_fee": "per_buoi", "materials": "per_person", "hall_rental": "per_day", "opening_closing": "per_course",
    "certificate": "per_person", "water_stationery": "per_person_day", "class_management": "per_day",
    "learner_support": "per_day", "support_female": "per_day", "support_ethnic_minority": "per_day",
    "support_child_u36": "per_day", "travel": "per_km", "lodging": "per_night", "reward_excellent": "per_person",
    "support_cap_per_day": "cap_per_person_day", "reward_cap": "cap_per_person", "lodging_min_km": "threshold_km",
    "commitment_multiplier": "factor",
}
TIERED_ITEMS = ("lecturer_fee",)  # provincial resolutions set the lecturer fee per tier; nothing else has tiers
CLASS_ITEMS = ("lecturer_fee", "materials", "hall_rental", "opening_closing", "certificate", "water_stationery",
               "class_management")
# Per-day support items, in the order a cap is applied (meals first, then the extras).
DAILY_SUPPORT_ITEMS = ("learner_support", "support_ethnic_minority", "support_child_u36", "support_female")
DAILY_SUPPORT_FLAGS = {"support_ethnic_minority": "ethnic_minority", "support_child_u36": "child_under_36_months",
                       "support_female": "female"}
LEARNER_ITEMS = DAILY_SUPPORT_ITEMS + ("travel", "lodging")
LECTURER_ITEMS = ("lecturer_fee",)
REPORT_GROUPS = ("source", "item", "commune", "course", "year")
IN_PERSON_FORMS = ("in_person", "blended", "field_trip", None)


def norm_problems(item: str, unit: str, tier: int | None) -> dict[str, str]:
    """Field → Vietnamese message for a norm the rules could not apply as written (unknown item, wrong unit, tier)."""
    if item not in ITEM_UNITS:
        return {"item": f"Khoản chi «{item}» không có trong danh mục ({', '.join(ITEM_UNITS)})."}
    problems = {}
    if unit != ITEM_UNITS[item]:
        problems["unit"] = f"Khoản chi {item} tính theo đơn vị {ITEM_UNITS[item]}, không phải {unit}."
    if item in TIERED_ITEMS and tier is None:
        problems["lecturer_tier"] = "Thù lao giảng viên phải ghi hạng giảng viên."
    elif item not in TIERED_ITEMS and tier is not None:
        problems["lecturer_tier"] = f"Khoản chi {item} không phân theo hạng giảng viên; để trống cột hạng."
    return problems


class NormNotFound(Exception):
    """No cost norm in force for an item on a date: the amount cannot be computed."""

    def __init__(self, item: str, day: date, tier: int | None = None):
        super().__init__(f"no norm for {item} tier={tier} on {day.isoformat()}")  # operators (logs, DLQ reason)
        self.item, self.day, self.tier = item, day, tier

    def vietnamese(self) -> str:
        """The same fact for officers: which item (and lecturer tier) has no norm on which day."""
        tier = f" hạng {self.tier}" if self.tier is not None else ""
        return (f"Chưa có định mức «{ITEM_LABELS.get(self.item, self.item)}»{tier} áp dụng cho ngày "
                f"{vn_date(self.day)}.")


@dataclass(frozen=True)
class Norm:
    id: str
    item: str
    unit: str
    amount: int  # whole VND (or km / factor for threshold and factor norms)
    valid_from: date
    valid_to: date | None
    lecturer_tier: int | None = None

    def in_force(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


def select_norm(norms: list[Norm], item: str, day: date, tier: int | None = None) -> Norm:
    """Return the norm for `item` (and lecturer tier) in force on `day`; the latest valid_from wins."""
    candidates = [n for n in norms if n.item == item and n.lecturer_tier == tier and n.in_force(day)]
    if not candidates:
        raise NormNotFound(item, day, tier)
    return max(candidates, key=lambda n: n.valid_from)


def optional_norm(norms: list[Norm], item: str, day: date, tier: int | None = None) -> Norm | None:
    """The norm in force, or None when the province defines none for that item (the item is then not paid)."""
    try:
        return select_norm(norms, item, day, tier)
    except NormNotFound:
        return None


def round_half_up(numerator: int, denominator: int) -> int:
    """Integer numerator / denominator rounded half up to a whole number (R4); both non-negative, d > 0."""
    if denominator <= 0 or numerator < 0:
        raise ValueError("round_half_up needs numerator >= 0 and denominator > 0")
    return (2 * numerator + denominator) // (2 * denominator)


@dataclass(frozen=True)
class Line:
    item: str
    payee_kind: str  # lecturer | trainee | organiser
    payee_ref: str
    source: str
    owner_unit_code: str  # whose budget line pays
    quantity: int
    unit_amount: int
    norm_id: str
    cap_norm_id: str | None = None  # the cap that lowered unit_amount, if any
    detail: str = ""

    @property
    def amount(self) -> int:
        return self.quantity * self.unit_amount  # R1: integers, no rounding arises


def course_days(sessions: list[dict]) -> int:
    """Number of distinct days with at least one session."""
    return len({s["date"] for s in sessions})


def venue_km(venue: dict | None) -> dict[str, int]:
    """One-way whole km from the venue to each commune."""
    return {d["commune_code"]: int(d["km"]) for d in (venue or {}).get("distances", [])}


def cost_lines(course: dict, participants: list[dict], norms: list[Norm]) -> list[Line]:
    """Compute a course's cost lines, used both for the estimate (planned) and the settlement (actual).

    `participants`: civil_servant_id, commune_code, days_attended, certified, female, ethnic_minority,
    child_under_36_months. The norms in force on the course's first day apply to the whole course.
    - Class costs → the organiser's ĐT-BD line (TT 36/2018/TT-BTC, TT 100/2025/TT-BTC): lecturer fee per buổi by
      tier; materials and certificates per trainee; hall rental and class management per course day;
      opening/closing per course; water/stationery per trainee-day attended.
    - Learner support → the sending commune's regular budget (MoF answer citing TT 36/2018 Art. 4), only for days
      attended: meals per day; extra support per day for the flags the norms define; everything per day capped by
      the work-trip regime (TT 40/2017/TT-BTC); travel per km both ways; lodging per night only from the
      threshold distance.
    """
    day = course["start_date"]
    org = course["organizer_unit_code"]
    form = course.get("form")
    lines: list[Line] = []

    taught: dict[tuple[str, int], int] = {}
    for s in course["sessions"]:
        key = (s["lecturer_id"], s["lecturer_tier"])
        taught[key] = taught.get(key, 0) + 1
    for (lecturer_id, tier), buoi in sorted(taught.items()):
        norm = select_norm(norms, "lecturer_fee", day, tier)
        lines.append(Line("lecturer_fee", "lecturer", lecturer_id, "state_dtbd", org, buoi, norm.amount, norm.id,
                          detail=f"hạng {tier}: {buoi} buổi"))

    attending = [p for p in participants if p["days_attended"] > 0]
    days = course_days(course["sessions"])
    in_person = form in IN_PERSON_FORMS

    def class_line(item: str, quantity: int, detail: str) -> None:
        norm = optional_norm(norms, item, day)
        if norm is not None and quantity > 0:
            lines.append(Line(item, "organiser", org, "state_dtbd", org, quantity, norm.amount, norm.id,
                              detail=detail))

    class_line("materials", len(attending), f"{len(attending)} học viên")
    certified = sum(1 for p in attending if p.get("certified", p.get("completed", True)) is not False)
    class_line("certificate", certified, f"{certified} chứng chỉ")
    class_line("opening_closing", 1, "1 lớp")
    class_line("class_management", days, f"{days} ngày")
    if in_person:
        class_line("hall_rental", days, f"{days} ngày")
        trainee_days = sum(p["days_attended"] for p in attending)
        class_line("water_stationery", trainee_days, f"{trainee_days} lượt người-ngày")

    if not attending:
        return lines
    meal = select_norm(norms, "learner_support", day)  # the one support item every province defines
    daily = {meal.item: meal}
    for item in DAILY_SUPPORT_ITEMS[1:]:
        norm = optional_norm(norms, item, day)
        if norm is not None:
            daily[item] = norm
    cap = optional_norm(norms, "support_cap_per_day", day)
    travel = optional_norm(norms, "travel", day) if in_person else None
    lodging = optional_norm(norms, "lodging", day) if in_person else None
    threshold = optional_norm(norms, "lodging_min_km", day)
    km_of = venue_km(course.get("venue"))
    for p in attending:
        cs, commune, n = p["civil_servant_id"], p["commune_code"], p["days_attended"]
        left = cap.amount if cap else None
        for item in DAILY_SUPPORT_ITEMS:
            norm = daily.get(item)
            if norm is None or (item in DAILY_SUPPORT_FLAGS and not p.get(DAILY_SUPPORT_FLAGS[item])):
                continue
            rate, capped = norm.amount, None
            if left is not None and rate > left:  # R2: the work-trip cap lowers the rate to what is left
                rate, capped = left, cap.id
            if left is not None:
                left -= rate
            if rate > 0:
                lines.append(Line(item, "trainee", cs, "unit_regular", commune, n, rate, norm.id, capped,
                                  detail=f"{n} ngày"))
        km = km_of.get(commune, 0)
        lodged = bool(lodging and threshold and km >= threshold.amount and n > 1)
        if lodged:
            nights = n - 1  # arrives on the first day, goes home after the last
            lines.append(Line("lodging", "trainee", cs, "unit_regular", commune, nights, lodging.amount, lodging.id,
                              threshold.id, detail=f"{nights} đêm, cách {km} km"))
        if travel and km > 0:
            trips = 1 if lodged else n  # one round trip when lodged; otherwise every day attended
            lines.append(Line("travel", "trainee", cs, "unit_regular", commune, km * 2 * trips, travel.amount,
                              travel.id, detail=f"{km} km × 2 chiều × {trips} lượt"))
    return lines


def settlement_lines(course: dict, norms: list[Norm]) -> list[Line]:
    """Actual costs of a completed course from its participants' actual attendance."""
    return cost_lines(course, course["participants"], norms)


def planned_participants(planned_trainees: list[dict], sessions: list[dict]) -> list[dict]:
    """The estimate assumes every planned trainee attends every course day and is certified."""
    days = course_days(sessions)
    return [{**t, "days_attended": days, "certified": True} for t in planned_trainees]


def totals(lines: list[Line]) -> dict[str, int]:
    """Sum the lines per item, per group (lecturer fees, learner support, class costs) and overall (R3)."""
    out: dict[str, int] = {"lecturer_fee": 0, "learner_support": 0}
    for line in lines:
        out[line.item] = out.get(line.item, 0) + line.amount
    out["lecturer_fees"] = sum(x.amount for x in lines if x.item in LECTURER_ITEMS)
    out["learner_support_total"] = sum(x.amount for x in lines if x.item in LEARNER_ITEMS)
    out["class_costs"] = sum(x.amount for x in lines if x.item in CLASS_ITEMS and x.item not in LECTURER_ITEMS)
    out["total"] = sum(line.amount for line in lines)
    return out


def needs_by_budget(lines: list[Line]) -> dict[tuple[str, str], int]:
    """Sum the lines per (source, owner unit): what each budget line must cover."""
    out: dict[tuple[str, str], int] = {}
    for line in lines:
        key = (line.source, line.owner_unit_code)
        out[key] = out.get(key, 0) + line.amount
    return out


@dataclass(frozen=True)
class Short:
    source: str
    owner_unit_code: str
    budget_line_id: str | None
    required: int
    available: int


def check_cover(needs: dict[tuple[str, str], int], available: dict[tuple[str, str], tuple[str, int]]) -> list[Short]:
    """Return the lines that cannot cover their need (available maps key → (line id, money free for this course))."""
    shorts = []
    for key, required in sorted(needs.items()):
        if required <= 0:
            continue
        line_id, free = available.get(key, (None, 0))
        if free < required:
            shorts.append(Short(key[0], key[1], line_id, required, free))
    return shorts


def vnd(amount: int) -> str:
    """Whole VND written the Vietnamese way: 1.500.000."""
    return f"{amount:,}".replace(",", ".")


def rejection_reason(shorts: list[Short], year: int) -> str:
    """Vietnamese reason naming each short line, shown to the officers."""
    parts = []
    for s in shorts:
        name = f"{SOURCE_LABELS.get(s.source, s.source)} của {s.owner_unit_code} năm {year}"
        if s.budget_line_id is None:
            parts.append(f"chưa có dòng dự toán {name} (cần {vnd(s.required)} đồng)")
        else:
            parts.append(f"dòng {name} còn {vnd(s.available)} đồng, cần {vnd(s.required)} đồng")
    return "Không đủ kinh phí để giữ chỗ: " + "; ".join(parts) + "."


@dataclass(frozen=True)
class LineSettlement:
    consumed: int  # taken from the course's reservation
    extra: int  # taken from the line's free balance beyond the reservation
    unfunded: int  # owed but not covered by the line: booked as unfunded, to be covered by an amendment
    released: int  # reserved and not spent, given back to the line


def settle_against(actual: int, reserved: int, free: int) -> LineSettlement:
    """Split an actual amount over the reservation, then the free balance; release what was reserved and unused."""
    consumed = min(actual, reserved)
    extra = min(actual - consumed, max(free, 0))
    return LineSettlement(consumed, extra, actual - consumed - extra, reserved - consumed)


def reward_amount(norms: list[Norm], day: date) -> tuple[int, str, str | None]:
    """Reward per excellent learner from the norms, capped by the reward cap (≤ 200,000 VND in the sample)."""
    reward = select_norm(norms, "reward_excellent", day)
    cap = optional_norm(norms, "reward_cap", day)
    if cap is not None and reward.amount > cap.amount:
        return cap.amount, reward.id, cap.id
    return reward.amount, reward.id, None


def whole_months_between(start: date, end: date) -> int:
    """Whole calendar months from start to end (a month counts once its day-of-month is reached)."""
    if end <= start:
        return 0
    months = (end.year - start.year) * 12 + (end.month - start.month)
    if end.day < start.day:
        months -= 1
    return max(months, 0)


def repayment(cost: int, committed_months: int, served_months: int) -> int:
    """S = F / T1 × (T1 − T2) in whole VND, rounded half up (R4); 0 once the committed time is served."""
    if committed_months <= 0:
        raise ValueError("committed_months must be positive")
    remaining = committed_months - max(served_months, 0)
    if remaining <= 0:
        return 0
    return round_half_up(cost * remaining, committed_months)


# --- ledger accounts (per budget line L: allocation:L, budget:L = the free balance, reserved:L, spent:L; so from the
# entries alone balance(budget:L) = allocated − reserved − spent; unfunded:<source>:<unit>:<year>; receivable:<id>)
def budget_account(line_id: str) -> str:
    """The ledger account holding a budget line's free balance."""
    return f"budget:{line_id}"


def unfunded_account(source: str, owner: str, year: int) -> str:
    """The ledger account of money owed beyond (or without) a budget line, to be covered by a decision."""
    return f"unfunded:{source}:{owner}:{year}"


def balanced_entries(entries: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """The (account, debit, credit) entries of one journal without the zero ones; refuses (ValueError) a journal
    whose debits and credits differ or that has a negative amount: the ledger's invariant."""
    entries = [(a, d, c) for a, d, c in entries if d or c]
    if sum(d for _, d, _ in entries) != sum(c for _, _, c in entries):
        raise ValueError("unbalanced journal")
    if any(d < 0 or c < 0 for _, d, c in entries):
        raise ValueError("negative ledger amount")
    return entries


# --- lifecycles (status → the statuses it may move to): FundingCourse (what funding knows of a course from its
# events; a new revision keeps it scheduled, and a completion is settled even after a cancellation: it happened),
# Reservation, DegreeCommitment, Receivable.
COURSE_TRANSITIONS = {"new": ("scheduled", "cancelled", "completed"), "scheduled": ("scheduled", "cancelled", "completed"),
                      "cancelled": ("cancelled", "completed"), "completed": ("completed",)}
RESERVATION_TRANSITIONS = {"active": ("superseded", "rejected", "released", "settled"),
                           "superseded": (), "rejected": (), "released": (), "settled": ()}
COMMITMENT_TRANSITIONS = {"open": ("repayable", "waived", "fulfilled"), "repayable": (), "waived": (), "fulfilled": ()}
RECEIVABLE_TRANSITIONS = {"open": ("waived",), "waived": ()}


def next_status(transitions: dict[str, tuple[str, ...]], current: str, new: str) -> str:
    """`new`, when the lifecycle allows moving there from `current`; otherwise ValueError (a bug, not input)."""
    if new not in transitions.get(current, ()):
        raise ValueError(f"status {current!r} cannot become {new!r}")
    return new


# NĐ 101/2017 Art. 7 (as amended): due when the trainee quits or is dismissed before serving the committed time.
REPAYABLE_REASONS = ("resigned", "dismissed", "other")  # retirement, death, a transfer in the state: not repayable
