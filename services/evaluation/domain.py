"""Pure rules of course evaluation: TT 10/2017/TT-BNV scoring (L1), test gains (L2), levels and excellence, L3/L4.

No framework imports. Every value a regulation or the client sets (the 5 % rule, the bands, the level mapping, the
excellence rule, the window, the follow-up delay, the privacy threshold) arrives as a parameter read from the
versioned `rule_versions` table; the defaults below equal the seeded 2017 values and exist for the pure tests.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from statistics import fmean

# Course survey dimensions commonly used with TT 10/2017 forms; each scored 1–10. They are the indicators of the
# seeded default course template KH-CHUNG v1 (the JSON API's `scores` object).
CRITERIA = ("content", "methods", "lecturer", "organisation", "applicability")
CRITERIA_LABELS = {
    "content": "Nội dung chương trình",
    "methods": "Phương pháp giảng dạy",
    "lecturer": "Giảng viên",
    "organisation": "Tổ chức lớp học",
    "applicability": "Khả năng áp dụng vào công việc",
}
# TT 10/2017 Art. 4: the six objects evaluated.
OBJECTS = ("programme", "learners", "lecturers", "facilities", "organisation", "effectiveness")
OBJECT_LABELS = {
    "programme": "Chương trình và tài liệu",
    "learners": "Học viên",
    "lecturers": "Giảng viên",
    "facilities": "Cơ sở vật chất, phục vụ",
    "organisation": "Tổ chức khóa học",
    "effectiveness": "Hiệu quả sau khóa học",
}
PURPOSES = ("course", "lecturer", "followup_trainee", "followup_supervisor")
# TT 10/2017 (object 6, effectiveness after the course; domain.md §5): measured 3–6 months after the course, in
# days as the `followup` rule's delay_days and the earliest an officer may start the survey by hand.
FOLLOWUP_DELAY_DAYS = (89, 184)
MAX_UNANSWERED_SHARE = 0.05  # TT 10/2017: a form with > 5 % of indicators unanswered is invalid
# TT 10/2017 bands on the 10-point index: [0,2) poor, [2,4) weak, [4,6) average, [6,8) good, [8,10] excellent
BANDS = ((8.0, "excellent", "Xuất sắc"), (6.0, "good", "Tốt"), (4.0, "average", "Trung bình"),
         (2.0, "weak", "Yếu"), (0.0, "poor", "Kém"))
BAND_CODES = ("poor", "weak", "average", "good", "excellent")


class RuleError(ValueError):
    """Rule parameters that cannot be applied; `field` names the offending key."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


# --- L1: forms -------------------------------------------------------------------------------------------------

def form_is_valid(scores: dict[str, int | None], indicators=CRITERIA,
                  max_unanswered_share: float = MAX_UNANSWERED_SHARE) -> bool:
    """A form is valid unless more than 5 % of its indicators are unanswered (an empty indicator list is invalid)."""
    indicators = tuple(indicators)
    if not indicators:
        return False
    unanswered = sum(1 for i in indicators if scores.get(i) is None)
    # Integer comparison (unanswered × 100 ≤ share% × n) so that 1 of 20 is exactly 5 % and still valid.
    return unanswered * 10_000 <= round(max_unanswered_share * 10_000) * len(indicators)


def band(index: float, bands=BANDS) -> tuple[str, str]:
    """Return (code, Vietnamese label) of the band an index falls in (bands: (floor, code, label), high first)."""
    ordered = sorted(bands, key=lambda b: -b[0])
    for floor, code, label in ordered:
        if index >= floor:
            return code, label
    return ordered[-1][1], ordered[-1][2]


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(fmean(values), 2) if values else None


def _raw_mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return fmean(values) if values else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


@dataclass(frozen=True)
class Indicator:
    """One scored item of a form: its code and where it belongs (object → criterion)."""

    code: str
    object: str
    criterion: str


@dataclass(frozen=True)
class Summary:
    """The anonymous aggregate of a set of forms."""

    requests: int
    responses: int
    valid_responses: int
    response_rate: float
    means: dict[str, float | None]
    index: float | None
    band: str | None
    band_label: str | None
    criterion_means: dict[str, float | None] = field(default_factory=dict)
    object_means: dict[str, float | None] = field(default_factory=dict)


def summarise(requests: int, forms: list[dict[str, int | None]], indicators=CRITERIA, *,
              structure: list[Indicator] | None = None, max_unanswered_share: float = MAX_UNANSWERED_SHARE,
              bands=BANDS, index_method: str = "object_mean") -> Summary:
    """Means per indicator over valid forms, then per criterion and object, the general index and its band.

    index_method "object_mean" (seeded default, TT 10/2017: indicator → criterion → object → general index): the
    index is the mean of the object means, each the mean of its criterion means; "indicator_mean": the mean of the
    indicator means, so every indicator weighs the same whatever the grouping. Without a structure both are the
    mean of the indicator means.

    Every level is computed from unrounded values and rounded to 2 decimals only for display, and the band is
    taken from the unrounded index: 7.996 is "good" (shown 8.0), never lifted into "excellent" by rounding.
    """
    if structure is not None:
        indicators = tuple(i.code for i in structure)
    valid = [f for f in forms if form_is_valid(f, indicators, max_unanswered_share)]
    raw = {i: _raw_mean(f.get(i) for f in valid) for i in indicators}
    criterion_raw: dict[tuple[str, str], float | None] = {}
    object_raw: dict[str, float | None] = {}
    criterion_means: dict[str, float | None] = {}
    if structure is not None:
        # Keyed by (object, criterion): the same criterion code under two objects stays two criteria.
        by_criterion: dict[tuple[str, str], list] = {}
        for ind in structure:
            by_criterion.setdefault((ind.object, ind.criterion), []).append(raw[ind.code])
        criterion_raw = {key: _raw_mean(vals) for key, vals in by_criterion.items()}
        by_object: dict[str, list] = {}
        for (obj, _), value in criterion_raw.items():
            by_object.setdefault(obj, []).append(value)
        object_raw = {obj: _raw_mean(vals) for obj, vals in by_object.items()}
        shared = {crit for (_, crit) in criterion_raw
                  if sum(1 for (_, c) in criterion_raw if c == crit) > 1}
        criterion_means = {(f"{obj}.{crit}" if crit in shared else crit): _round(v)
                           for (obj, crit), v in criterion_raw.items()}
    if index_method == "object_mean" and object_raw:
        index_raw = _raw_mean(object_raw.values())
    else:
        index_raw = _raw_mean(raw.values())
    code, label = band(index_raw, bands) if index_raw is not None else (None, None)
    return Summary(requests, len(forms), len(valid), round(len(forms) / requests, 4) if requests else 0.0,
                   {k: _round(v) for k, v in raw.items()}, _round(index_raw), code, label, criterion_means,
                   {k: _round(v) for k, v in object_raw.items()})


def lecturer_scores(forms: list[tuple[str, dict[str, int | None]]], indicators: tuple[str, ...], *,
                    max_unanswered_share: float = MAX_UNANSWERED_SHARE, bands=BANDS) -> list[dict]:
    """Per lecturer: mean over that lecturer's valid forms of all indicator means, its band and form count.

    forms: (lecturer_id, answers) for each lecturer form a trainee filled (a lecturer section left wholly empty
    is not a form and is not passed here).
    """
    by_lecturer: dict[str, list[dict]] = {}
    for lecturer_id, answers in forms:
        by_lecturer.setdefault(lecturer_id, []).append(answers)
    out = []
    for lecturer_id in sorted(by_lecturer):
        s = summarise(len(by_lecturer[lecturer_id]), by_lecturer[lecturer_id], indicators,
                      max_unanswered_share=max_unanswered_share, bands=bands)
        if s.index is None:
            continue
        out.append({"lecturer_id": lecturer_id, "mean": s.index, "band": s.band, "responses": s.valid_responses,
                    "means": s.means})
    return out


def suppress_small(groups: list[dict], count_key: str, min_group_size: int, value_keys: tuple[str, ...],
                   complement: bool = False) -> list[dict]:
    """Blank the values of groups with fewer than `min_group_size` answers, so that nobody can be singled out.

    complement=True for groups published beside their total (communes, topics or courses of a year whose index
    is in the year report): a single hidden group, or hidden groups holding fewer than `min_group_size` answers
    together, would come back by subtraction from the total, so the smallest shown groups are hidden too until
    that is impossible (secondary suppression).
    """
    out = []
    for g in groups:
        if g.get(count_key, 0) < min_group_size:
            g = {**g, **{k: None for k in value_keys}, "suppressed": True}
        else:
            g = {**g, "suppressed": False}
        out.append(g)
    return hide_complements(out, count_key, min_group_size, value_keys) if complement else out


def hide_complements(rows: list[dict], count_key: str, min_group_size: int, value_keys: tuple[str, ...],
                     members=None) -> list[dict]:
    """Secondary suppression among rows already flagged `suppressed` (in place; `members`: the indexes of one
    group that adds up to a published total, all rows by default)."""
    members = list(range(len(rows))) if members is None else list(members)
    while True:
        hidden = [rows[n] for n in members if rows[n]["suppressed"] and rows[n].get(count_key, 0) > 0]
        shown = sorted((n for n in members if not rows[n]["suppressed"]), key=lambda n: rows[n][count_key])
        if not hidden or not shown or (len(hidden) > 1 and sum(g[count_key] for g in hidden) >= min_group_size):
            return rows
        rows[shown[0]] = {**rows[shown[0]], **{k: None for k in value_keys}, "suppressed": True}


# --- L2: tests, gains, levels, excellence ----------------------------------------------------------------------

def learning_gain(scores: list[dict]) -> list[dict]:
    """Pre/post means and gain per competency (None = the course as a whole), over trainees who took both tests.

    scores: [{civil_servant_id, competency_code, kind 'pre'|'post', score}]. The gain only counts trainees with a
    pre and a post score for that competency, so that dropping out does not fake a gain; means over all who took
    each test are reported beside it.
    """
    table: dict[str | None, dict[str, dict[str, float]]] = {}
    for s in scores:
        if s["kind"] not in ("pre", "post"):
            continue
        table.setdefault(s["competency_code"] or None, {}).setdefault(s["civil_servant_id"], {})[s["kind"]] = \
            float(s["score"])
    out = []
    for comp in sorted(table, key=lambda c: (c is not None, c or "")):
        people = table[comp]
        pre_all = [p["pre"] for p in people.values() if "pre" in p]
        post_all = [p["post"] for p in people.values() if "post" in p]
        paired = [p["post"] - p["pre"] for p in people.values() if "pre" in p and "post" in p]
        out.append({"competency_code": comp, "pre_mean": _mean(pre_all), "post_mean": _mean(post_all),
                    "gain": _mean(paired), "paired": len(paired)})
    return out


def validate_level_mapping(params: dict) -> list[tuple[float, int]]:
    """Check a level mapping {"thresholds": [[min_score, level], …]} and return it sorted high first."""
    raw = params.get("thresholds")
    if not isinstance(raw, list) or not raw:
        raise RuleError("Cần danh sách ngưỡng [[điểm tối thiểu, cấp độ], …].", "params.thresholds")
    out = []
    for item in raw:
        if (not isinstance(item, (list, tuple)) or len(item) != 2 or not isinstance(item[0], (int, float))
                or isinstance(item[0], bool) or not isinstance(item[1], int) or isinstance(item[1], bool)
                or not 0 <= item[0] <= 10 or not 1 <= item[1] <= 5):
            raise RuleError("Mỗi ngưỡng là [điểm 0–10, cấp độ 1–5].", "params.thresholds")
        out.append((float(item[0]), item[1]))
    out.sort(key=lambda t: -t[0])
    if out[-1][0] != 0:
        raise RuleError("Ngưỡng thấp nhất phải là 0 để mọi điểm đều có cấp độ.", "params.thresholds")
    levels = [lvl for _, lvl in out]
    if levels != sorted(levels, reverse=True) or len(set(t for t, _ in out)) != len(out):
        raise RuleError("Điểm cao hơn không được cho cấp độ thấp hơn.", "params.thresholds")
    return out


def level_for(score: float, thresholds: list[tuple[float, int]]) -> int:
    """The competency level (1–5) a post-test score maps to: the level of the highest threshold reached."""
    for floor, level in thresholds:
        if score >= floor:
            return level
    return thresholds[-1][1]


def assessed_levels(scores: list[dict], thresholds: list[tuple[float, int]]) -> list[dict]:
    """One level per trainee and competency, from the mean of that trainee's post-test scores in it."""
    posts: dict[tuple[str, str], list[float]] = {}
    for s in scores:
        if s["kind"] == "post" and s["competency_code"]:
            posts.setdefault((s["civil_servant_id"], s["competency_code"]), []).append(float(s["score"]))
    return [{"civil_servant_id": cs, "competency_code": comp, "level": level_for(fmean(v), thresholds)}
            for (cs, comp), v in sorted(posts.items())]


def excellent_learners(trainees: list[dict], scores: list[dict], rule: dict) -> list[dict]:
    """Trainees graded excellent by the rule {"require_certified": bool, "min_post_mean": float}.

    trainees: [{civil_servant_id, commune_code, certified}]; the post mean is over all the trainee's post tests.
    A trainee without any post test is never excellent (nothing shows it).
    """
    minimum = float(rule.get("min_post_mean", 9.0))
    need_cert = bool(rule.get("require_certified", True))
    posts: dict[str, list[float]] = {}
    for s in scores:
        if s["kind"] == "post":
            posts.setdefault(s["civil_servant_id"], []).append(float(s["score"]))
    out = []
    for t in sorted(trainees, key=lambda t: t["civil_servant_id"]):
        mine = posts.get(t["civil_servant_id"])
        if not mine or (need_cert and not t.get("certified")):
            continue
        # Compare in hundredths so 8.995 rounding noise cannot push a 9.0 mean either way.
        if math.floor(fmean(mine) * 100 + 1e-6) >= round(minimum * 100):
            out.append({"civil_servant_id": t["civil_servant_id"], "commune_code": t["commune_code"]})
    return out


# --- rule parameters: what a new version must pass before it is stored ------------------------------------

def _need_number(params: dict, key: str, lo, hi, integer: bool = False) -> None:
    v = params.get(key)
    if isinstance(v, bool) or not isinstance(v, int if integer else (int, float)) or not lo <= v <= hi:
        raise RuleError(f"«{key}» phải là số trong khoảng {lo}–{hi}.", f"params.{key}")


def check_bands(bands) -> None:
    """TT 10/2017 bands: the five codes as [floor 0–10, code, label], floors rising from 0 (else band() misreads)."""
    message = "Cần đủ 5 mức [ngưỡng 0–10, mã, nhãn], ngưỡng tăng dần từ 0: poor < weak < average < good < excellent."
    if not isinstance(bands, list) or len(bands) != len(BAND_CODES):
        raise RuleError(message, "params.bands")
    floors = {}
    for n, b in enumerate(bands):
        if (not isinstance(b, list) or len(b) != 3 or isinstance(b[0], bool) or not isinstance(b[0], (int, float))
                or not 0 <= b[0] <= 10 or b[1] not in BAND_CODES or not isinstance(b[2], str)
                or not b[2].strip() or len(b[2]) > 40):
            raise RuleError(message, f"params.bands.{n}")
        floors[b[1]] = b[0]
    ordered = [floors.get(code) for code in BAND_CODES]
    if None in ordered or ordered[0] != 0 or any(a >= b for a, b in zip(ordered, ordered[1:])):
        raise RuleError(message, "params.bands")


def check_rule_params(code: str, params: dict) -> None:
    """Refuse (RuleError) parameters the rules above would misread or the tables cannot store (templates: use case)."""
    if code == "scoring":
        _need_number(params, "max_unanswered_share", 0, 0.5)
        if params.get("index_method") not in ("indicator_mean", "object_mean"):
            raise RuleError("index_method: indicator_mean | object_mean.", "params.index_method")
        check_bands(params.get("bands"))
    elif code == "feedback_window":
        _need_number(params, "days", 1, 90, True)
        _need_number(params, "reminder_days_before", 0, 60, True)
        if not isinstance(params.get("close_when_all_answered", True), bool):  # "no" would read as true
            raise RuleError("close_when_all_answered: true | false.", "params.close_when_all_answered")
    elif code == "followup":
        _need_number(params, "delay_days", *FOLLOWUP_DELAY_DAYS, True)  # TT 10/2017: 3–6 months after
        _need_number(params, "answer_days", 1, 90, True)
    elif code == "level_mapping":
        validate_level_mapping(params)
    elif code == "excellent_learner":
        _need_number(params, "min_post_mean", 0, 10)
        if not isinstance(params.get("require_certified"), bool):
            raise RuleError("require_certified: true | false.", "params.require_certified")
    elif code == "report_privacy":
        _need_number(params, "min_group_size", 1, 50, True)
    elif code == "unit_indicators":
        ind = params.get("indicators")
        # 40: the width of unit_indicators.indicator_code (a longer code could never be stored)
        if not isinstance(ind, dict) or not ind or not all(isinstance(k, str) and isinstance(v, str) and k and v
                                                           and len(k) <= 40 and len(v) <= 200 for k, v in ind.items()):
            raise RuleError("indicators: {mã (tối đa 40 ký tự): nhãn}.", "params.indicators")


# --- window and jobs -------------------------------------------------------------------------------------------

def reminder_due(deadline, opened_at, days_before: int):
    """When to remind non-respondents: `days_before` the deadline, but never before the window opened."""
    due = deadline - timedelta(days=days_before)
    return max(due, opened_at)


# --- L4: unit indicators ---------------------------------------------------------------------------------------

def parse_period(text: str) -> tuple[date, date]:
    """Parse a period 'YYYY-MM' (month) or 'YYYY-Qn' (quarter) into its first and last day."""
    text = (text or "").strip().upper()
    try:
        year_s, rest = text.split("-", 1)
        year = int(year_s)
        if rest.startswith("Q"):
            q = int(rest[1:])
            if not 1 <= q <= 4:
                raise ValueError
            first_month, last_month = 3 * q - 2, 3 * q
        else:
            first_month = last_month = int(rest)
            if len(rest) != 2 or not 1 <= first_month <= 12:
                raise ValueError
        if not 2000 <= year <= 2100:
            raise ValueError
    except ValueError:
        raise ValueError(f"«{text}» không phải kỳ hợp lệ (YYYY-MM hoặc YYYY-Qn).") from None
    start = date(year, first_month, 1)
    end = (date(year + (last_month == 12), last_month % 12 + 1, 1)) - timedelta(days=1)
    return start, end


def before_after(periods: list[dict], start: date, end: date, delay_days: int) -> dict:
    """Pick the last period ending before the course started and the first starting on/after end + delay.

    periods: [{period, period_start, period_end, value}] of one commune and indicator. Returns
    {before, after, change} (each period with its value; change = after − before, or None).
    """
    after_from = end + timedelta(days=delay_days)
    before = max((p for p in periods if p["period_end"] < start), key=lambda p: p["period_end"], default=None)
    after = min((p for p in periods if p["period_start"] >= after_from), key=lambda p: p["period_start"],
                default=None)
    change = round(after["value"] - before["value"], 2) if before and after else None
    return {"before": before, "after": after, "change": change}
