"""Report tables (CSV/XLSX columns), the one-course report and the charts of the evaluation service."""
from __future__ import annotations

from sqlalchemy.orm import Session

from services.evaluation import domain, usecases
from shared import charts
from shared.tabular import Column


def _score(text: str) -> float:
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        raise ValueError(f"«{text}» không phải điểm số.") from None
    if not 0 <= value <= 10:
        raise ValueError("Điểm phải trong khoảng 0–10.")
    return value


def _percent(text: str) -> float:
    try:
        value = float(text.replace(",", ".").rstrip("%"))
    except ValueError:
        raise ValueError(f"«{text}» không phải số.") from None
    if not 0 <= value <= 100:
        raise ValueError("Giá trị phải trong khoảng 0–100 (%).")
    return value


def _kind(text: str) -> str:
    low = text.strip().lower()
    mapping = {"pre": "pre", "đầu khóa": "pre", "dau khoa": "pre", "post": "post", "cuối khóa": "post",
               "cuoi khoa": "post"}
    if low not in mapping:
        raise ValueError("Loại bài kiểm tra: pre (đầu khóa) hoặc post (cuối khóa).")
    return mapping[low]


TEST_SCORE_COLUMNS = [
    Column("civil_servant_id", "Mã định danh công chức", required=True, width=38),
    Column("kind", "Loại bài kiểm tra", _kind, required=True),
    Column("competency_code", "Mã năng lực", width=12),
    Column("score", "Điểm (0–10)", _score, required=True, width=10),
]
INDICATOR_COLUMNS = [
    Column("commune_code", "Mã xã", required=True),
    Column("indicator_code", "Mã chỉ số", required=True, width=28),
    Column("period", "Kỳ (YYYY-MM hoặc YYYY-Qn)", required=True, width=14),
    Column("value", "Giá trị (%)", _percent, required=True, width=10),
    Column("indicator_label", "Tên chỉ số", width=44),
    Column("source", "Nguồn", width=8),
]
COMPARISON_COLUMNS = [
    Column("commune_code", "Mã xã"), Column("indicator_label", "Chỉ số", width=44),
    Column("before_period", "Kỳ trước"), Column("before", "Trước (%)", width=10),
    Column("after_period", "Kỳ sau"), Column("after", "Sau (%)", width=10), Column("change", "Thay đổi", width=10),
]
COURSE_COLUMNS = [
    Column("course_code", "Mã lớp"), Column("course_title", "Tên lớp", width=40), Column("topic_code", "Chuyên đề"),
    Column("end_date", "Ngày kết thúc", width=12), Column("requests", "Phiếu phát", width=10),
    Column("responses", "Phiếu thu", width=10), Column("valid_responses", "Phiếu hợp lệ", width=10),
    Column("response_rate", "Tỷ lệ phản hồi", width=10), Column("index", "Chỉ số chung", width=10),
    Column("band", "Xếp loại", width=12), Column("gain", "Tiến bộ (điểm)", width=10),
    Column("excellent_learners", "Học viên xuất sắc", width=10), Column("suppressed", "Ẩn (ít phiếu)", width=10),
]
LECTURER_COLUMNS = [
    Column("lecturer_id", "Mã giảng viên", width=38), Column("courses", "Số lớp", width=8),
    Column("responses", "Số phiếu", width=8), Column("mean", "Điểm bình quân", width=10),
    Column("band", "Xếp loại", width=12), Column("suppressed", "Ẩn (ít phiếu)", width=10),
]
COMMUNE_COLUMNS = [
    Column("commune_code", "Mã xã"), Column("trainees", "Học viên", width=8), Column("responses", "Phiếu thu", width=8),
    Column("response_rate", "Tỷ lệ phản hồi", width=10), Column("valid_responses", "Phiếu hợp lệ", width=10),
    Column("satisfaction", "Mức hài lòng", width=10), Column("band", "Xếp loại", width=12),
    Column("gain", "Tiến bộ (điểm)", width=10), Column("excellent_learners", "Học viên xuất sắc", width=10),
    Column("suppressed", "Ẩn (ít phiếu)", width=10),
]
LINE_COLUMNS = [Column("section", "Phần", width=28), Column("item", "Nội dung", width=48),
                Column("value", "Giá trị", width=14), Column("note", "Ghi chú", width=24)]


def group_columns(key: str, header: str) -> list[Column]:
    """Columns of a grouped report (per topic or year)."""
    return [Column(key, header), Column("courses", "Số lớp", width=8), Column("requests", "Phiếu phát", width=10),
            Column("responses", "Phiếu thu", width=10), Column("response_rate", "Tỷ lệ phản hồi", width=10),
            Column("index", "Chỉ số chung", width=10), Column("band", "Xếp loại", width=12),
            Column("gain", "Tiến bộ (điểm)", width=10), Column("excellent_learners", "Học viên xuất sắc", width=10),
            Column("suppressed", "Ẩn (ít phiếu)", width=10)]


BAND_VI = {code: label for _, code, label in domain.BANDS}


def course_report(session: Session, course_id: str) -> dict:
    """Everything known about one course's evaluation, and the same as report lines for CSV/XLSX."""
    s = usecases.course_summary(session, course_id)
    fu = usecases.followup_summary(session, course_id)
    lines = [
        {"section": "Phản hồi", "item": "Phiếu phát / thu / hợp lệ",
         "value": f"{s['requests']} / {s['responses']} / {s['valid_responses']}",
         "note": f"tỷ lệ {s['response_rate'] * 100:.0f} %"},
        {"section": "Chỉ số chung", "item": "Điểm bình quân (thang 10)", "value": s["index"],
         "note": BAND_VI.get(s["band"], "")},
    ]
    lines += [{"section": "Đối tượng đánh giá", "item": domain.OBJECT_LABELS.get(k, k), "value": v, "note": ""}
              for k, v in s["object_scores"].items()]
    lines += [{"section": "Chỉ tiêu", "item": s["criteria_labels"].get(k, k), "value": v, "note": ""}
              for k, v in s["means"].items()]
    lines += [{"section": "Giảng viên", "item": lec["lecturer_id"], "value": lec["mean"],
               "note": "ẩn (ít phiếu)" if lec["suppressed"] else BAND_VI.get(lec["band"], "")}
              for lec in s["lecturer_scores"]]
    lines += [{"section": "Kết quả học tập (L2)", "item": g["competency_code"] or "Toàn khóa",
               "value": g["gain"], "note": f"trước {g['pre_mean']} → sau {g['post_mean']}"}
              for g in s["learning_gain"]]
    for who, label in (("trainee", "Khảo sát sau khóa — học viên"), ("supervisor", "Khảo sát sau khóa — thủ trưởng")):
        x = fu[who]
        lines.append({"section": label, "item": f"{x['responses']}/{x['requests']} phiếu", "value": x["index"],
                      "note": "ẩn (ít phiếu)" if x["suppressed"] else BAND_VI.get(x["band"], "")})
    lines += [{"section": "Chỉ số đơn vị (L4)", "item": f"{u['commune_code']} — {u['indicator_label']}",
               "value": u["change"], "note": f"{u['before_period'] or '—'}: {u['before']} → "
                                             f"{u['after_period'] or '—'}: {u['after']}"}
              for u in fu["unit_indicators"]]
    return {**s, "followup": fu, "lines": lines}


def chart_criteria(session: Session, course_id: str, fmt: str):
    """Bars: mean per indicator of the course form (1–10)."""
    s = usecases.course_summary(session, course_id)
    labels = [s["criteria_labels"].get(k, k) for k in s["means"]]
    values = [v or 0.0 for v in s["means"].values()]
    hidden = " (ẩn: chưa đủ phiếu hợp lệ)" if s["suppressed"] else ""
    body = charts.bar_chart(labels, {"Điểm bình quân": values}, horizontal=True, ylim=(0, 10), fmt=fmt,
                            title=f"Mức hài lòng theo tiêu chí — {s['course_code']}{hidden}", ylabel="Điểm (1–10)")
    return charts.chart_response(body, fmt)


def chart_gain(session: Session, course_id: str, fmt: str):
    """Bars: pre- and post-test means per competency."""
    s = usecases.course_summary(session, course_id)
    gains = s["learning_gain"]
    labels = [g["competency_code"] or "Toàn khóa" for g in gains]
    body = charts.bar_chart(labels, {"Đầu khóa": [g["pre_mean"] or 0.0 for g in gains],
                                     "Cuối khóa": [g["post_mean"] or 0.0 for g in gains]},
                            ylim=(0, 10), fmt=fmt, title=f"Kết quả kiểm tra trước và sau — {s['course_code']}",
                            ylabel="Điểm (0–10)")
    return charts.chart_response(body, fmt)


def chart_response_rates(session: Session, year: int | None, fmt: str):
    """Bars: response rate (%) per evaluated course."""
    rows = usecases.report_courses(session, year)
    body = charts.bar_chart([r["course_code"] for r in rows],
                            {"Tỷ lệ phản hồi (%)": [round(r["response_rate"] * 100, 1) for r in rows]},
                            ylim=(0, 100), fmt=fmt, ylabel="%",
                            title=f"Tỷ lệ phản hồi phiếu lấy ý kiến{f' năm {year}' if year else ''}")
    return charts.chart_response(body, fmt)


def chart_topics(session: Session, year: int | None, fmt: str):
    """Bars: general index and learning gain per topic."""
    rows = usecases.report_topics(session, year)
    body = charts.bar_chart([r["topic_code"] or "—" for r in rows],
                            {"Chỉ số chung": [r["index"] or 0.0 for r in rows],
                             "Tiến bộ (điểm)": [r["gain"] or 0.0 for r in rows]},
                            fmt=fmt, title=f"Đánh giá theo chuyên đề{f' năm {year}' if year else ''}",
                            ylabel="Điểm")
    return charts.chart_response(body, fmt)
