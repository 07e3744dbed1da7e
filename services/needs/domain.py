"""Pure rules of the needs service: units over time, combining assessments, gaps, standards, priority, plans."""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from datetime import date

from shared.notify.quiet import QUIET_RULE, check_window
# Units over time live in shared/units.py (pure); re-exported for the service's modules
from shared.units import Succession, Unit, check_reorganisation, unit_on, units_valid_on  # noqa: F401

COMMUNE_KINDS = ("xa", "phuong", "thi_tran")
SCHEME_CODE = "DA-2025-2030"  # the district's 2025–2030 training scheme the yearly plans sit in
OPEN_STATUSES = ("open", "planned")
# URL kind (kebab-case, /api/v1/rules/<kind>) → the rule's stored code.
RULE_KINDS = {"combination": "combination", "priority-weights": "priority_weights", "standards": "standards",
              "quiet-hours": QUIET_RULE}  # no SMS/Zalo at night (shared/notify/quiet.py)
RULE_KIND_OF = {code: kind for kind, code in RULE_KINDS.items()}
QUALIFICATION_FIELDS = ("degree_level", "llct_level", "qlnn_level", "it_level", "foreign_language_level")
# Their code lists, lowest first: standards rank by them; the registry file and the HTTP contract accept only these.
DEGREE_SCALE = ["none", "intermediate", "college", "bachelor", "master", "doctor"]
LLCT_SCALE = ["none", "so_cap", "trung_cap", "cao_cap"]
QLNN_SCALE = ["none", "chuyen_vien", "chuyen_vien_chinh", "chuyen_vien_cao_cap"]
IT_SCALE = ["none", "basic", "advanced"]
LANGUAGE_SCALE = ["none", "A1", "A2", "B1", "B2", "C1", "C2"]
PLAN_TRANSITIONS = {"submit": ("draft", "submitted"), "approve": ("submitted", "approved"),
                    "return": ("submitted", "draft")}


# --- combining self and supervisor assessment --------------------------------------------------------------------
@dataclass(frozen=True)
class CombinationRule:
    """How one assessed level comes out of a self- and a supervisor assessment (rule as data). Methods: "minimum" the
    lower of the two; "supervisor_else_self" the supervisor's level when given, else the self-assessment; "weighted"
    (w_self·self + w_sup·supervisor) / (w_self + w_sup) over the levels present, rounded half-up (2.5 → 3)."""
    method: str = "supervisor_else_self"
    self_weight: float = 0.3
    supervisor_weight: float = 0.7

    @classmethod
    def from_data(cls, data: dict) -> "CombinationRule":
        return cls(method=data.get("method", "supervisor_else_self"), self_weight=float(data.get("self_weight", 0.3)),
                   supervisor_weight=float(data.get("supervisor_weight", 0.7)))


def combine(self_level: int | None, supervisor_level: int | None, rule: CombinationRule) -> int | None:
    """Return the assessed level (1–5) by the rule, or None when neither assessment was given."""
    if self_level is None and supervisor_level is None:
        return None
    if rule.method == "supervisor_else_self":
        return supervisor_level if supervisor_level is not None else self_level
    if rule.method == "minimum":
        return min(v for v in (self_level, supervisor_level) if v is not None)
    if rule.method == "weighted":
        pairs = [(v, w) for v, w in ((self_level, rule.self_weight), (supervisor_level, rule.supervisor_weight))
                 if v is not None and w > 0]
        if not pairs:
            return None
        mean = sum(v * w for v, w in pairs) / sum(w for _, w in pairs)
        return max(1, min(5, math.floor(mean + 0.5)))  # explicit half-up rounding
    raise ValueError(f"unknown combination method {rule.method}")


def gap(required: int | None, assessed: int | None) -> int:
    """Gap = required − assessed (never negative; nothing required or nothing assessed means no measured gap)."""
    return 0 if not required or assessed is None else max(0, required - assessed)


# --- position standards (mandatory needs) ------------------------------------------------------------------------
@dataclass(frozen=True)
class StandardRule:
    """A qualification a position's standard requires (data with a legal basis, not a constant): `field` of the
    civil servant, ranked on `scale`, at least `minimum`; `hard_area_only` limits it to hard-area staff, who get
    `deadline_years` from `employed_from` to obtain it; `positions` (empty = all) limits it to some positions."""
    code: str
    label: str
    field: str
    scale: tuple[str, ...]
    minimum: str
    topic_code: str
    basis: str = ""
    hard_area_only: bool = False
    deadline_years: int | None = None
    positions: tuple[str, ...] = ()
    exempt_hard_area: bool = False  # the rule for other staff: hard-area staff get the deadline rule instead

    @classmethod
    def from_data(cls, data: dict) -> "StandardRule":
        if data["minimum"] not in data["scale"]:
            raise ValueError(f"minimum {data['minimum']!r} is not on the scale")
        return cls(code=data["code"], label=data["label"], field=data["field"], scale=tuple(data["scale"]),
                   minimum=data["minimum"], topic_code=data["topic_code"], basis=data.get("basis", ""),
                   hard_area_only=bool(data.get("hard_area_only", False)),
                   deadline_years=data.get("deadline_years"), positions=tuple(data.get("positions") or ()),
                   exempt_hard_area=bool(data.get("exempt_hard_area", False)))


@dataclass(frozen=True)
class Person:
    """What the needs rules read about one civil servant (no names)."""
    id: str
    position_code: str
    leadership: bool = False
    hard_area: bool = False
    ethnic_minority: bool = False
    qualifications: dict = field(default_factory=dict)  # field → value, e.g. {"llct_level": "none"}
    employed_from: date | None = None


@dataclass(frozen=True)
class UnmetStandard:
    rule: StandardRule
    current: str | None
    deadline: date | None


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def unmet_standards(person: Person, rules: list[StandardRule]) -> list[UnmetStandard]:
    """Return the standards the person's position requires that their qualifications do not meet."""
    out = []
    for rule in rules:
        if ((rule.positions and person.position_code not in rule.positions)
                or (rule.hard_area_only and not person.hard_area) or (rule.exempt_hard_area and person.hard_area)):
            continue  # the rule is not for this person
        current = person.qualifications.get(rule.field)
        rank = rule.scale.index(current) if current in rule.scale else -1
        if rank >= rule.scale.index(rule.minimum):
            continue
        deadline = (_add_years(person.employed_from, int(rule.deadline_years))
                    if rule.deadline_years and person.employed_from else None)
        out.append(UnmetStandard(rule, current, deadline))
    return out


# --- priority and the needs of one civil servant ----------------------------------------------------------------
def is_ethnic_minority(ethnicity_code: str) -> bool:
    """Every group but 01 Kinh is an ethnic minority (codes: formats.ETHNIC_GROUPS, QĐ 121-TCTK/PPCĐ ngày 2/3/1979)."""
    return ethnicity_code != "01"


@dataclass(frozen=True)
class PriorityWeights:
    """Points of each reason in the priority score (weights as data; see the service card)."""
    per_gap_level: float = 10
    mandatory: float = 30
    leadership: float = 10
    hard_area: float = 8
    ethnic_minority: float = 5
    deadline_within_12_months: float = 20
    deadline_within_24_months: float = 10
    deadline_passed: float = 25
    wished: float = 5

    @classmethod
    def from_data(cls, data: dict) -> "PriorityWeights":
        return cls(**{k: float(v) for k, v in data.items() if k in cls.__dataclass_fields__})


REASON_LABELS = {
    "gap": "Thiếu hụt {n} mức năng lực so với yêu cầu vị trí", "mandatory": "Chưa đạt tiêu chuẩn bắt buộc của vị trí",
    "leadership": "Vị trí lãnh đạo, quản lý", "hard_area": "Công tác tại vùng khó khăn",
    "ethnic_minority": "Công chức người dân tộc thiểu số", "deadline_passed": "Đã quá hạn hoàn thành tiêu chuẩn",
    "deadline_within_12_months": "Hạn hoàn thành tiêu chuẩn trong vòng 12 tháng",
    "deadline_within_24_months": "Hạn hoàn thành tiêu chuẩn trong vòng 24 tháng",
    "wished": "Công chức đăng ký nguyện vọng chuyên đề này"}


def _deadline_reason(deadline: date | None, today: date) -> str | None:
    days = None if deadline is None else (deadline - today).days
    return (None if days is None else "deadline_passed" if days < 0 else "deadline_within_12_months" if days <= 365
            else "deadline_within_24_months" if days <= 730 else None)


def priority(person: Person, weights: PriorityWeights, today: date, *, gap_levels: int = 0,
             mandatory: bool = False, deadline: date | None = None, wished: bool = False) -> tuple[float, list[dict]]:
    """(score, reasons): the sum of the points of every reason that applies. Memoised, since it depends only on a
    few flags: a national campaign scores ~10⁶ needs from a few hundred combinations (do not mutate the reasons)."""
    return _priority(weights, gap_levels, mandatory, person.leadership, person.hard_area, person.ethnic_minority,
                     _deadline_reason(deadline, today), wished)


@functools.lru_cache(maxsize=4096)
def _priority(weights: PriorityWeights, gap_levels: int, mandatory: bool, leadership: bool, hard_area: bool,
              ethnic_minority: bool, deadline_reason: str | None, wished: bool) -> tuple[float, list[dict]]:
    reasons: list[dict] = []

    def add(code: str, points: float, **fmt) -> None:
        if points:
            reasons.append({"code": code, "label": REASON_LABELS[code].format(**fmt), "points": round(points, 2)})

    if gap_levels > 0:
        add("gap", weights.per_gap_level * gap_levels, n=gap_levels)
    for code, applies in (("mandatory", mandatory), ("leadership", leadership), ("hard_area", hard_area),
                          ("ethnic_minority", ethnic_minority), (deadline_reason, deadline_reason), ("wished", wished)):
        if applies:  # every other reason's code is also the name of its weight
            add(code, getattr(weights, code))
    return round(sum(r["points"] for r in reasons), 2), reasons


@dataclass(frozen=True)
class NeedDraft:
    kind: str  # competency_gap | standard
    topic_code: str
    competency_code: str | None
    standard_code: str | None
    required_level: int | None
    assessed_level: int | None
    gap: int
    deadline: date | None
    priority_score: float
    reasons: list


def needs_of(person: Person, required: dict[str, int], assessed: dict[str, int | None],
             competency_topics: dict[str, str], standards: list[StandardRule], weights: PriorityWeights,
             today: date, wished_topics: set[str] = frozenset()) -> list[NeedDraft]:
    """Return the person's needs: one per competency below the position's required level, one per unmet standard."""
    out = []
    for code in sorted(required):
        level = assessed.get(code)
        size, topic = gap(required[code], level), competency_topics.get(code)
        if size <= 0 or topic is None:
            continue
        score, reasons = priority(person, weights, today, gap_levels=size, wished=topic in wished_topics)
        out.append(NeedDraft("competency_gap", topic, code, None, required[code], level, size, None, score, reasons))
    for unmet in unmet_standards(person, standards):
        score, reasons = priority(person, weights, today, mandatory=True, deadline=unmet.deadline,
                                  wished=unmet.rule.topic_code in wished_topics)
        out.append(NeedDraft("standard", unmet.rule.topic_code, None, unmet.rule.code, None, None, 0,
                             unmet.deadline, score, reasons))
    return out


# --- when a training need is met ----------------------------------------------------------------------------------
class Evidence:
    """What an event tells about a need: the one kind that meets a training need, and the one that does not."""
    CERTIFIED_COMPLETION = "certified_completion"  # courses.course_completed, participant certified
    ASSESSED_LEVEL = "assessed_level"  # evaluation.course_evaluated (or a survey): a level, not training


def is_certified(completed: bool, certified: bool | None) -> bool:
    """A participant's result in course_completed: the certificate decides (None from an older producer: completion)."""
    return bool(completed if certified is None else certified)


def meets_training_need(evidence: str, *, completed: bool = False, certified: bool | None = None) -> bool:
    """The one rule that marks a training need met: a certified completion of a course answering the need. An
    assessed level, however high, updates the competency record and its history but never meets a need: a
    trainee who attended 3 of 4 buổi (no certificate) and scored well has not been trained. Since only
    course_completed can meet a need, the needs met do not depend on which of it and course_evaluated comes first."""
    if evidence == Evidence.CERTIFIED_COMPLETION:
        return is_certified(completed, certified)
    if evidence == Evidence.ASSESSED_LEVEL:
        return False
    raise ValueError(f"unknown evidence {evidence!r}")


# --- plans and rule values ----------------------------------------------------------------------------------------
def next_status(current: str, action: str) -> str:
    """Return the plan status after `action` (draft → submitted → approved; submitted → draft when returned)."""
    source, target = PLAN_TRANSITIONS[action]
    if current != source:
        raise ValueError(f"cannot {action} a plan that is {current}")
    return target


@dataclass(frozen=True)
class OpenNeed:
    id: str
    civil_servant_id: str
    topic_code: str
    competency_code: str | None
    commune_code: str
    position_code: str
    priority_score: float


@dataclass
class LineDraft:
    topic_code: str
    commune_code: str
    position_code: str | None
    competency_codes: list[str]
    quarter: int
    candidates: list[dict]  # {civil_servant_id, commune_code, priority_score, need_ids}

    @property
    def headcount(self) -> int:
        return len(self.candidates)


def draft_lines(needs: list[OpenNeed], *, class_size: int = 40, by_position: bool = False) -> list[LineDraft]:
    """Group open needs into plan lines topic × commune (× position), one candidate per civil servant scored by their
    highest need in the line; a group over `class_size` is split; the most urgent lines get the earliest quarters."""
    groups: dict[tuple, dict[str, dict]] = {}
    comps: dict[tuple, set[str]] = {}
    for need in needs:
        key = (need.topic_code, need.commune_code, need.position_code if by_position else None)
        people = groups.setdefault(key, {})
        cand = people.setdefault(need.civil_servant_id, {"civil_servant_id": need.civil_servant_id,
                                                         "commune_code": need.commune_code,
                                                         "priority_score": 0.0, "need_ids": []})
        cand["priority_score"] = max(cand["priority_score"], need.priority_score)
        cand["need_ids"].append(need.id)
        if need.competency_code:
            comps.setdefault(key, set()).add(need.competency_code)
    lines = []
    for key, people in groups.items():
        ranked = sorted(people.values(), key=lambda c: (-c["priority_score"], c["civil_servant_id"]))
        for start in range(0, len(ranked), max(1, class_size)):
            chunk = ranked[start:start + class_size]
            lines.append(LineDraft(key[0], key[1], key[2], sorted(comps.get(key, ())), 0, chunk))
    lines.sort(key=lambda line: (-sum(c["priority_score"] for c in line.candidates) / len(line.candidates),
                                 line.topic_code, line.commune_code, line.position_code or ""))
    for index, line in enumerate(lines):
        line.quarter = 1 + index * 4 // len(lines)
    return lines


def coverage(active: int, planned: int, trained: int, target_share: float | None) -> dict:
    """Coverage of one commune: planned vs trained vs the target (a share of its active civil servants)."""
    target = math.ceil(active * target_share) if target_share is not None else None  # a person is not divisible
    return {"active": active, "planned": planned, "trained": trained, "target_share": target_share, "target": target,
            "trained_share": round(trained / active, 4) if active else None,
            "target_met": (trained >= target) if target is not None else None}


def check_rule_value(code: str, value: dict) -> None:
    """Raise ValueError (or KeyError/TypeError/AttributeError) when `value` is not a usable value of rule `code`:
    the same parsing the closing (the sender, for quiet hours) does, so a version that would be misread is refused
    when it is added."""
    if code == QUIET_RULE:
        check_window(value)
    elif code == "combination":
        combine(3, 3, CombinationRule.from_data(value))
    elif code == "priority_weights":
        PriorityWeights.from_data(value)
    elif code == "standards":
        for r in value["rules"]:
            rule = StandardRule.from_data(r)
            if rule.field not in QUALIFICATION_FIELDS:
                raise ValueError(f"field {rule.field!r} is not one of {', '.join(QUALIFICATION_FIELDS)}")
