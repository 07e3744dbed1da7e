"""Rendering one delivery's message in Vietnamese from services/needs/templates/notify/<purpose>.txt
(string.Template: subject, text, SMS; the HTML part is the text in templates/notify/layout.html, escaped, with the
links made clickable)."""
from __future__ import annotations

import html
import re
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from string import Template

from shared.localtime import vn_date, vn_datetime
from shared.notify import Attachment, Message

TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "notify"
PURPOSES = ("feedback_request", "feedback_reminder", "followup_trainee", "followup_supervisor", "course_notice",
            "lecturer_notice", "lecturer_rating")
# course_notice: the template of its kind, course_<kind>.txt; lecturer_notice: lecturer_<kind>.txt
NOTICE_TEMPLATES = ("course_invitation", "course_session_moved", "course_venue_changed", "course_promoted",
                    "course_cancelled", "lecturer_assigned", "lecturer_session_moved", "lecturer_venue_changed",
                    "lecturer_cancelled")
KIND_PREFIX = {"course_notice": "course", "lecturer_notice": "lecturer"}
CANCEL_TEMPLATES = frozenset({"course_cancelled", "lecturer_cancelled"})
# The TT 10/2017 bands of evaluation.course_evaluated as the lecturer reads them
BAND_LABELS = {"excellent": "Xuất sắc", "good": "Tốt", "average": "Trung bình", "weak": "Yếu", "poor": "Kém"}
BUOI = {"morning": "sáng", "afternoon": "chiều"}
_URL = re.compile(r"(https?://[^\s<]+)")


@lru_cache(maxsize=None)
def _parts(purpose: str) -> tuple[Template, Template, Template]:
    subject, text, sms = (TEMPLATES / f"{purpose}.txt").read_text(encoding="utf-8").split("\n---\n")
    return Template(subject.strip()), Template(text.strip() + "\n"), Template(sms.strip())


@lru_cache(maxsize=None)
def _layout() -> Template:
    return Template((TEMPLATES / "layout.html").read_text(encoding="utf-8"))


def _dates(payload: dict) -> str:
    sessions = payload.get("sessions") or []
    if sessions:
        return ", ".join(f"buổi {BUOI.get(s['buoi'], s['buoi'])} {vn_date(date.fromisoformat(s['date']))}"
                         for s in sorted(sessions, key=lambda s: (s["date"], s["buoi"] != "morning")))
    start, end = payload.get("start_date"), payload.get("end_date")
    if start and end and start != end:
        return f"từ {vn_date(date.fromisoformat(start))} đến {vn_date(date.fromisoformat(end))}"
    return vn_date(date.fromisoformat(start)) if start else "sẽ thông báo sau"


def variables(payload: dict, name: str, subject_name: str | None) -> dict:
    deadline = payload.get("deadline")
    return {"name": name, "course_code": payload.get("course_code") or "", "course_title":
            payload.get("course_title") or "", "link": payload.get("link") or "",
            "deadline": vn_datetime(datetime.fromisoformat(deadline)) if deadline else "",
            "subject_name": subject_name or "", "dates": _dates(payload),
            "venue": payload.get("venue_name") or "sẽ thông báo sau", "reason": payload.get("reason") or "",
            **_rating(payload)}


def _score(value) -> str:
    return f"{value:.1f}".replace(".", ",") if isinstance(value, (int, float)) else "—"


def _rating(payload: dict) -> dict:
    """A lecturer's rating summary (lecturer_rating): the mean on the 10-point scale, Vietnamese decimal comma."""
    if "mean" not in payload:
        return {}
    return {"mean": _score(payload["mean"]), "band": BAND_LABELS.get(payload.get("band"), payload.get("band") or ""),
            "responses": str(payload.get("responses") or 0), "general_index": _score(payload.get("general_index")),
            "course_band": BAND_LABELS.get(payload.get("course_band"), "—")}


def _html(text: str, subject: str) -> str:
    paragraphs = []
    for block in text.strip().split("\n\n"):
        escaped = html.escape(block).replace("\n", "<br>\n")
        paragraphs.append("<p>" + _URL.sub(r'<a href="\1">\1</a>', escaped) + "</p>")
    return _layout().substitute(subject=html.escape(subject), body="\n".join(paragraphs))


def render(purpose: str, payload: dict, *, channel: str, to: str, key: str, name: str,
           subject_name: str | None = None, zalo_template: str | None = None) -> Message:
    """The Message for `channel`: e-mail with subject, text, HTML and the calendar file when the payload has one;
    SMS with the short text; Zalo with its approved template and the same variables as template data."""
    template = f"{KIND_PREFIX[purpose]}_{payload.get('kind')}" if purpose in KIND_PREFIX else purpose
    subject_t, text_t, sms_t = _parts(template)
    values = variables(payload, name, subject_name)
    subject = subject_t.safe_substitute(values)
    if channel == "email":
        text = text_t.safe_substitute(values)
        attachments = ()
        if payload.get("ics"):
            method = "CANCEL" if template in CANCEL_TEMPLATES else "REQUEST"
            attachments = (Attachment(f"{payload.get('course_code') or 'lop-hoc'}.ics",
                                      f"text/calendar; method={method}", payload["ics"].encode("utf-8")),)
        return Message(to=to, subject=subject, text=text, html=_html(text, subject), attachments=attachments,
                       idempotency_key=key)
    text = sms_t.safe_substitute(values)
    data = {k: values[k] for k in ("course_code", "course_title", "deadline", "link", "dates", "venue", "mean",
                                   "band") if values.get(k)}
    return Message(to=to, subject=subject, text=text, idempotency_key=key, template_id=zalo_template,
                   template_data=data if channel == "zalo" else {})
