"""Files the evaluation service reads and writes: CSV/XLSX column lists and cell parsers, the one-course report's
lines, chart figures and the wording of notifications. Pure: no session, no Flask."""
from __future__ import annotations

from shared.errors import Invalid
from shared.tabular import Column

from services.evaluation import domain

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
# Titles of the XLSX downloads and their file names, by report.
INDICATOR_SHEET = dict(filename="chi-so-don-vi", heading="Chỉ số kết quả công việc của đơn vị")
COMPARISON_SHEET = dict(filename="so-sanh-truoc-sau", heading="So sánh chỉ số đơn vị trước và sau khóa học")
REPORT_SHEETS = {
    "courses": dict(filename="khoa-hoc", heading="Kết quả đánh giá các khóa học"),
    "topics": dict(filename="chuyen-de", heading="Kết quả đánh giá theo chuyên đề"),
    "years": dict(filename="theo-nam", heading="Kết quả đánh giá theo năm"),
    "lecturers": dict(filename="giang-vien", heading="Kết quả đánh giá giảng viên"),
    "communes": dict(filename="xa", heading="Kết quả đánh giá theo xã"),
}


def report_columns(kind: str) -> list[Column]:
    """The columns of a report download (courses, topics, years, lecturers, communes)."""
    return {"courses": COURSE_COLUMNS, "topics": group_columns("topic_code", "Chuyên đề"),
            "years": group_columns("year", "Năm"), "lecturers": LECTURER_COLUMNS,
            "communes": COMMUNE_COLUMNS}[kind]


def row_problem(errors, prefix: str, n: int, row: dict, field: str, message: str) -> None:
    """A bad input row: JSON input (no `errors`) is refused at once naming `prefix.n.field`; a file's rows are
    collected in `errors` (tabular.RowErrors) with their line, refused together once every row is checked."""
    if errors is None:
        raise Invalid(message, field=f"{prefix}.{n}.{field}")
    errors.add(row["_line"], field, message)


def course_report_lines(s: dict, fu: dict) -> list[dict]:
    """The one-course report (summary `s`, follow-up `fu`) as lines for CSV/XLSX."""
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
    return lines


def lecturer_label(entry: dict, n: int) -> str:
    """How the form names a lecturer: by number and the buổi taught (never by name: the form is anonymous)."""
    days = []
    for s in entry.get("sessions", []):
        d, buoi = s.split(":")
        y, m, dd = d.split("-")
        days.append(f"{dd}/{m} {'sáng' if buoi == 'morning' else 'chiều'}")
    shown = ", ".join(days[:4]) + ("…" if len(days) > 4 else "")
    return f"Giảng viên {n} (dạy buổi {shown})" if shown else f"Giảng viên {n}"


def reminder_message(course_code: str, deadline_vi: str, link: str) -> str:
    return (f"Nhắc: anh/chị chưa gửi phiếu lấy ý kiến về lớp {course_code}. "
            f"Hạn cuối {deadline_vi}. Mở đường dẫn: {link}")


def followup_message(course_code: str, respondent: str, deadline_vi: str, link: str) -> str:
    who = "anh/chị" if respondent == "trainee" else "thủ trưởng trực tiếp của công chức"
    return f"Khảo sát hiệu quả sau khóa học {course_code}: mời {who} trả lời trước {deadline_vi} tại {link}"


# --- charts (bytes; the API wraps them with shared.charts.chart_response) --------------------------------------
# shared.charts is imported inside each builder: that module imports Flask (chart_response), and the use cases,
# which import this module for columns and wording, must not pull Flask in.

def chart_criteria(s: dict, fmt: str) -> bytes:
    """Bars: mean per indicator of the course form (1–10), from the course summary."""
    from shared import charts
    labels = [s["criteria_labels"].get(k, k) for k in s["means"]]
    values = [v or 0.0 for v in s["means"].values()]
    hidden = " (ẩn: chưa đủ phiếu hợp lệ)" if s["suppressed"] else ""
    return charts.bar_chart(labels, {"Điểm bình quân": values}, horizontal=True, ylim=(0, 10), fmt=fmt,
                            title=f"Mức hài lòng theo tiêu chí — {s['course_code']}{hidden}", ylabel="Điểm (1–10)")


def chart_gain(s: dict, fmt: str) -> bytes:
    """Bars: pre- and post-test means per competency, from the course summary."""
    from shared import charts
    gains = s["learning_gain"]
    labels = [g["competency_code"] or "Toàn khóa" for g in gains]
    return charts.bar_chart(labels, {"Đầu khóa": [g["pre_mean"] or 0.0 for g in gains],
                                     "Cuối khóa": [g["post_mean"] or 0.0 for g in gains]},
                            ylim=(0, 10), fmt=fmt, title=f"Kết quả kiểm tra trước và sau — {s['course_code']}",
                            ylabel="Điểm (0–10)")


def chart_response_rates(rows: list[dict], year: int | None, fmt: str) -> bytes:
    """Bars: response rate (%) per evaluated course, from report_courses' rows."""
    from shared import charts
    return charts.bar_chart([r["course_code"] for r in rows],
                            {"Tỷ lệ phản hồi (%)": [round(r["response_rate"] * 100, 1) for r in rows]},
                            ylim=(0, 100), fmt=fmt, ylabel="%",
                            title=f"Tỷ lệ phản hồi phiếu lấy ý kiến{f' năm {year}' if year else ''}")


def chart_topics(rows: list[dict], year: int | None, fmt: str) -> bytes:
    """Bars: general index and learning gain per topic, from report_topics' rows."""
    from shared import charts
    return charts.bar_chart([r["topic_code"] or "—" for r in rows],
                            {"Chỉ số chung": [r["index"] or 0.0 for r in rows],
                             "Tiến bộ (điểm)": [r["gain"] or 0.0 for r in rows]},
                            fmt=fmt, title=f"Đánh giá theo chuyên đề{f' năm {year}' if year else ''}",
                            ylabel="Điểm")
