"""Pure scoring rules of course feedback (TT 10/2017/TT-BNV)."""
from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean

# Course survey dimensions commonly used with TT 10/2017 forms; each scored 1–10.
CRITERIA = ("content", "methods", "lecturer", "organisation", "applicability")
CRITERIA_LABELS = {
    "content": "Nội dung chương trình",
    "methods": "Phương pháp giảng dạy",
    "lecturer": "Giảng viên",
    "organisation": "Tổ chức lớp học",
    "applicability": "Khả năng áp dụng vào công việc",
}
MAX_UNANSWERED_SHARE = 0.05  # TT 10/2017: a form with > 5 % of indicators unanswered is invalid
# TT 10/2017 bands on the 10-point index: [0,2) poor, [2,4) weak, [4,6) average, [6,8) good, [8,10] excellent
BANDS = ((8.0, "excellent", "Xuất sắc"), (6.0, "good", "Tốt"), (4.0, "average", "Trung bình"),
         (2.0, "weak", "Yếu"), (0.0, "poor", "Kém"))


def form_is_valid(scores: dict[str, int | None], indicators=CRITERIA) -> bool:
    """A form is valid unless more than 5 % of its indicators are unanswered."""
    unanswered = sum(1 for i in indicators if scores.get(i) is None)
    return unanswered <= MAX_UNANSWERED_SHARE * len(indicators)


def band(index: float) -> tuple[str, str]:
    """Return (code, Vietnamese label) of the band an index falls in."""
    for floor, code, label in BANDS:
        if index >= floor:
            return code, label
    return BANDS[-1][1], BANDS[-1][2]


@dataclass(frozen=True)
class Summary:
    requests: int
    responses: int
    valid_responses: int
    response_rate: float
    means: dict[str, float | None]
    index: float | None
    band: str | None
    band_label: str | None


def summarise(requests: int, forms: list[dict[str, int | None]], indicators=CRITERIA) -> Summary:
    """Means per indicator over valid forms, the general index (mean of indicator means) and its band."""
    valid = [f for f in forms if form_is_valid(f, indicators)]
    means = {}
    for i in indicators:
        answered = [f[i] for f in valid if f.get(i) is not None]
        means[i] = round(fmean(answered), 2) if answered else None
    present = [m for m in means.values() if m is not None]
    index = round(fmean(present), 2) if present else None
    code, label = band(index) if index is not None else (None, None)
    return Summary(requests, len(forms), len(valid), round(len(forms) / requests, 4) if requests else 0.0,
                   means, index, code, label)
