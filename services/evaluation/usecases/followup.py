"""L3/L4 follow-up surveys: open them months after the course (trainee and direct supervisor), start them early
by hand, take their answers."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

import sqlalchemy as sa

from services.evaluation import domain, events, formats
from services.evaluation.models import JOBS_TABLE, OUTBOX, FollowupRequest, FollowupResponse, FormTemplate, Notification
from services.evaluation.usecases.feedback import _accepted, _check_items, _claim, _merged, _scored_form, new_token
from services.evaluation.usecases.queries import feedback_link, find_course, trainees
from services.evaluation.usecases.rules import active_rule, current_template_ids
from shared import jobs as durable
from shared.db import insert_ignoring_conflicts
from shared.errors import Conflict, Gone, Invalid
from shared.localtime import local_today, utcnow, vn_date


def open_followup(session: Session, course_id: str, base_url: str, now: datetime | None = None) -> int:
    """Create the L3/L4 follow-up requests (trainee and direct supervisor per attendee) with their notification
    records, and publish evaluation.followup_requested for each (needs delivers them; issue 13)."""
    course = find_course(session, course_id)
    now = now or utcnow()
    on = local_today(now)
    fu_rule = active_rule(session, "followup", on)
    templates = current_template_ids(session, on)
    deadline = now + timedelta(days=fu_rule["answer_days"])
    rows, notes, published = [], [], []
    for t in trainees(session, course_id):
        for respondent in ("trainee", "supervisor"):
            token = new_token()
            rows.append({"token": token, "course_id": course_id, "civil_servant_id": t["civil_servant_id"],
                         "respondent": respondent, "commune_code": t["commune_code"] or None,
                         "template_id": templates[f"followup_{respondent}"], "deadline": deadline,
                         "created_at": now})
            link = feedback_link(base_url, token)
            notes.append({"id": str(uuid.uuid4()), "course_id": course_id, "civil_servant_id": t["civil_servant_id"],
                          "kind": f"followup_{respondent}", "channel": "event", "link": link, "deadline": deadline,
                          "created_at": now,
                          "message": formats.followup_message(course.code, respondent, vn_date(deadline), link)})
            published.append(("evaluation.followup_requested", events.followup_requested(
                course_id, course.code, course.title, t["civil_servant_id"], respondent, link, deadline), None))
    if rows:
        session.execute(insert_ignoring_conflicts(session, FollowupRequest.__table__), rows)
        session.execute(sa.insert(Notification), notes)
        OUTBOX.emit_many(session, published)
    return len(rows)


def schedule_followup_now(session: Session, course_id: str, now: datetime | None = None) -> dict:
    """Officer action: make the course's follow-up survey due now, once 3 months have passed (e.g. the job
    failed for good, or the rule's delay was longer than this course needs)."""
    course = find_course(session, course_id)
    if course.status != "closed":
        raise Conflict("Lớp chưa kết thúc lấy ý kiến.", field="course_id")
    now = now or utcnow()
    end = course.end_date or local_today(course.completed_at)
    earliest = end + timedelta(days=domain.FOLLOWUP_DELAY_DAYS[0])
    if local_today(now) < earliest:  # TT 10/2017: effectiveness is measured 3–6 months after the course
        raise Conflict(f"Khảo sát hiệu quả sau khóa học chỉ bắt đầu từ ngày {vn_date(earliest)} "
                          "(3–6 tháng sau khóa học).", field="course_id")
    n = durable.reschedule(session, JOBS_TABLE, f"followup:{course_id}", now)
    return {"course_id": course_id, "rescheduled": n}


def submit_followup(session: Session, req: FollowupRequest, scores: dict | None, *, answers: dict | None = None,
                    lecturer_answers: dict | None = None, texts: dict | None = None,
                    now: datetime | None = None) -> dict:
    """Record a trainee's or a supervisor's answer to the follow-up survey; refuse an expired or used link."""
    now = now or utcnow()
    merged = _merged(scores, answers)
    if now > req.deadline:
        raise Gone("Đã hết hạn gửi đánh giá.", field="token")
    indicators = _check_items(session.get(FormTemplate, req.template_id), merged, scores, texts)
    if lecturer_answers:
        raise Invalid("Phiếu này không đánh giá giảng viên.", field="lecturers")
    if not merged:
        # Nothing scored at all: most likely a mis-tap on "send"; keep the link usable instead of burning it.
        raise Invalid("Phiếu chưa có câu trả lời nào; hãy chấm điểm rồi gửi lại.", field="scores")
    _claim(session, FollowupRequest, req.token, now)
    full, valid, clean_texts, answered_on, share = _scored_form(session, indicators, merged, texts, now)
    resp = FollowupResponse(id=str(uuid.uuid4()), course_id=req.course_id, respondent=req.respondent,
                            commune_code=req.commune_code, scores=full, texts=clean_texts, valid=valid,
                            submitted_at=answered_on)
    session.add(resp)
    session.flush()
    return _accepted(resp, share)
