"""Read models of the evaluation service: what the API, the pages and the downloads show. Never writes (the row
lock of find_course(lock=True) is for the writers that call it)."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.evaluation import domain, formats
from services.evaluation.models import (
    EvaluatedCourse, FeedbackResponse, FeedbackSubmission, FollowupRequest, FollowupResponse, FormTemplate,
    Notification, TestScore, UnitIndicator,
)
from services.evaluation.usecases import requests
from services.evaluation.usecases.requests import commune_of, feedback_link
from services.evaluation.usecases.rules import active_rule, privacy_minimum, scored_indicators
from shared.db import is_postgres
from shared.errors import NotFound
from shared.localtime import local_today, utcnow


def find_course(session: Session, course_id: str, lock: bool = False) -> EvaluatedCourse:
    stmt = sa.select(EvaluatedCourse).where(EvaluatedCourse.course_id == course_id)
    if lock and is_postgres(session):
        # populate_existing: a caller may have loaded the row before waiting for the lock (the scheduler's run_job
        # does); without it the stale "open" status would be trusted and the course closed — and published — twice.
        # NO KEY UPDATE: it does not wait for the KEY SHARE locks of answers being inserted (their foreign key),
        # but it does wait for submit_feedback's SHARE lock, so an answer is either counted or refused.
        stmt = stmt.with_for_update(key_share=True).execution_options(populate_existing=True)
    course = session.scalar(stmt)
    if course is None:
        raise NotFound("Lớp học chưa được mở đánh giá.", field="course_id")
    return course


def list_requests(session: Session, course_id: str, base_url: str) -> list[dict]:
    """Return a course's feedback requests with their links (officers hand the links out)."""
    return requests.list_requests(session, find_course(session, course_id), base_url)


def list_progress(session: Session, limit: int = 200) -> list[dict]:
    """Operators: requests and answers per course with the window's state, latest deadline first."""
    s, c = FeedbackSubmission, EvaluatedCourse
    # counted per listed course (its key's range of the submissions' primary key), not over every answer ever given
    answered = sa.select(sa.func.count()).where(s.course_id == c.course_id).correlate(c).scalar_subquery()
    rows = session.execute(
        sa.select(c.course_id, c.code, c.feedback_deadline, c.status, c.participants, answered)
        .order_by(c.feedback_deadline.desc(), c.course_id).limit(limit)).all()
    return [{"course_id": cid, "code": code, "deadline": d.isoformat(), "status": st, "requests": n, "answered": a}
            for cid, code, d, st, n, a in rows]


# --- the form behind a token -----------------------------------------------------------------------------------

def lookup_token(session: Session, token: str):
    """("course", CourseRequest) or (respondent, FollowupRequest) of a token; NotFound when it is neither."""
    req = requests.find_course_request(session, token)
    if req is not None:
        return "course", req
    fu = session.get(FollowupRequest, token) if len(token) <= 64 else None
    if fu is not None:
        return fu.respondent, fu
    raise NotFound("Đường dẫn đánh giá không hợp lệ.", field="token")


def get_form_context(session: Session, token: str, now: datetime | None = None) -> dict:
    """Everything the form behind a token shows: course, sections by object, lecturers, state."""
    kind, req = lookup_token(session, token)
    course = session.get(EvaluatedCourse, req.course_id)
    now = now or utcnow()
    if kind == "course":
        deadline = course.feedback_deadline
        template = session.get(FormTemplate, course.template_id) if course.template_id else None
        lect_template = (session.get(FormTemplate, course.lecturer_template_id)
                         if course.lecturer_template_id else None)
        closed = course.status == "closed"
    else:
        deadline = req.deadline
        template = session.get(FormTemplate, req.template_id)
        lect_template, closed = None, False
    state = "submitted" if req.submitted_at else ("expired" if now > deadline or closed else "open")
    items = template.items if template else [
        {"code": c, "object": "programme", "criterion": c, "label": domain.CRITERIA_LABELS[c], "kind": "score"}
        for c in domain.CRITERIA]
    sections: list[dict] = []
    for item in items:  # consecutive items of one object form a section; free texts go last in their own
        key = "free_text" if item["kind"] == "text" else item["object"]
        section = next((s for s in sections if s["object"] == key), None)
        if section is None:
            label = "Ý kiến khác" if key == "free_text" else domain.OBJECT_LABELS.get(key, key)
            section = {"object": key, "label": label, "items": []}
            sections.append(section)
        section["items"].append(dict(item))  # a copy: callers may annotate it, the template row stays as it is
    sections.sort(key=lambda s: s["object"] == "free_text")
    lecturers = []
    if lect_template is not None:
        for n, entry in enumerate(course.lecturer_ids or [], start=1):
            lecturers.append({"lecturer_id": entry["lecturer_id"], "label": formats.lecturer_label(entry, n),
                              "items": [dict(i) for i in lect_template.items if i["kind"] == "score"]})
    return {"kind": kind, "course_code": course.code, "course_title": course.title, "deadline": deadline,
            "state": state, "title": template.title if template else "Phiếu lấy ý kiến học viên",
            "sections": sections, "lecturers": lecturers,
            "criteria": [{"code": i["code"], "label": i["label"]} for i in items if i["kind"] == "score"]}


def get_feedback_form(session: Session, token: str, now: datetime | None = None) -> dict:
    """Describe the form behind a token: course, criteria, deadline and whether it can still be answered."""
    ctx = get_form_context(session, token, now)
    return {k: ctx[k] for k in ("kind", "course_code", "course_title", "deadline", "state", "criteria", "title",
                                "sections", "lecturers")}


def list_notifications(session: Session, course_id: str | None = None, kind: str | None = None,
                       limit: int = 200) -> list[dict]:
    """The notification records (newest first): who is reminded, of what, by which link, until when."""
    stmt = sa.select(Notification).order_by(Notification.created_at.desc(), Notification.id).limit(limit)
    if course_id:
        stmt = stmt.where(Notification.course_id == course_id)
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    return [{"id": n.id, "course_id": n.course_id, "civil_servant_id": n.civil_servant_id, "kind": n.kind,
             "channel": n.channel, "link": n.link, "deadline": n.deadline, "message": n.message,
             "created_at": n.created_at} for n in session.scalars(stmt)]


def trainees(session: Session, course_id: str) -> list[dict]:
    """The attendees with their commune and certificate (from the course's roster)."""
    course = session.get(EvaluatedCourse, course_id)
    if not course.roster or course.roster.get("uncertified") is None:  # opened before rosters (0008 built one)
        return [{"civil_servant_id": cs, "commune_code": "", "certified": None} for cs in requests.attendees(course)]
    uncertified = set(course.roster["uncertified"])
    return [{"civil_servant_id": cs, "commune_code": commune, "certified": cs not in uncertified}
            for cs, commune in sorted(commune_of(course.roster).items())]


def test_rows(session: Session, course_id: str) -> list[dict]:
    return [{"civil_servant_id": t.civil_servant_id, "competency_code": t.competency_code or None, "kind": t.kind,
             "score": t.score}
            for t in session.scalars(sa.select(TestScore).where(TestScore.course_id == course_id))]


def compute_result(session: Session, course: EvaluatedCourse, on: date | None = None) -> dict:
    """The course's L1/L2 result: index, band, object and lecturer scores, learning gain, excellent learners,
    assessed levels (the course_evaluated payload plus report details)."""
    on = on or local_today()
    rule = active_rule(session, "scoring", on)
    bands = [tuple(b) for b in rule["bands"]]
    template = session.get(FormTemplate, course.template_id) if course.template_id else None
    structure = scored_indicators(template)
    responses = list(session.scalars(sa.select(FeedbackResponse).where(FeedbackResponse.course_id == course.course_id)))
    asked = len(commune_of(course.roster))
    s = domain.summarise(asked, [r.scores for r in responses], structure=structure,
                         max_unanswered_share=rule["max_unanswered_share"], bands=bands,
                         index_method=rule.get("index_method", "object_mean"))
    lt = session.get(FormTemplate, course.lecturer_template_id) if course.lecturer_template_id else None
    lcodes = tuple(i["code"] for i in lt.items if i["kind"] == "score") if lt else ()
    lforms = [(lid, ans) for r in responses for lid, ans in (r.lecturer_scores or {}).items()]
    lecturers = domain.lecturer_scores(lforms, lcodes, max_unanswered_share=rule["max_unanswered_share"],
                                       bands=bands) if lcodes else []
    tests = test_rows(session, course.course_id)
    levels = domain.validate_level_mapping(active_rule(session, "level_mapping", on))
    return {
        "course_id": course.course_id, "topic_code": course.topic_code, "request_count": asked,
        "responses": s.responses, "valid_responses": s.valid_responses, "response_rate": s.response_rate,
        "general_index": s.index, "band": s.band, "band_label": s.band_label, "means": s.means,
        "criterion_means": s.criterion_means,
        "object_scores": {k: v for k, v in s.object_means.items() if v is not None},
        "lecturer_scores": lecturers, "learning_gain": domain.learning_gain(tests),
        "excellent_learners": domain.excellent_learners(trainees(session, course.course_id), tests,
                                                        active_rule(session, "excellent_learner", on)),
        "assessed_levels": domain.assessed_levels(tests, levels),
    }


def list_followup_requests(session: Session, course_id: str, base_url: str) -> list[dict]:
    """The follow-up links of a course (officers hand the supervisor links to the supervisors)."""
    find_course(session, course_id)
    return [{"civil_servant_id": r.civil_servant_id, "respondent": r.respondent, "token": r.token,
             "link": feedback_link(base_url, r.token), "deadline": r.deadline, "submitted_at": r.submitted_at}
            for r in session.scalars(sa.select(FollowupRequest).where(FollowupRequest.course_id == course_id)
                                     .order_by(FollowupRequest.civil_servant_id, FollowupRequest.respondent))]


def list_test_scores(session: Session, course_id: str) -> list[dict]:
    """A course's test scores (officers' view: per trainee)."""
    find_course(session, course_id)
    return [{"civil_servant_id": t.civil_servant_id, "kind": t.kind, "competency_code": t.competency_code or None,
             "score": t.score, "source": t.source}
            for t in session.scalars(sa.select(TestScore).where(TestScore.course_id == course_id)
                                     .order_by(TestScore.civil_servant_id, TestScore.competency_code, TestScore.kind))]


def list_indicators(session: Session, commune_code: str | None = None, indicator_code: str | None = None) -> list[dict]:
    """Unit indicator values, by commune, indicator and period."""
    u = UnitIndicator
    stmt = sa.select(u).order_by(u.commune_code, u.indicator_code, u.period_start)
    if commune_code:
        stmt = stmt.where(u.commune_code == commune_code)
    if indicator_code:
        stmt = stmt.where(u.indicator_code == indicator_code)
    catalogue = active_rule(session, "unit_indicators")["indicators"]
    return [{"id": r.id, "commune_code": r.commune_code, "indicator_code": r.indicator_code,
             "indicator_label": catalogue.get(r.indicator_code, r.indicator_code), "period": r.period,
             "period_start": r.period_start, "period_end": r.period_end, "value": r.value, "source": r.source}
            for r in session.scalars(stmt)]


def indicator_comparison(session: Session, course_id: str) -> list[dict]:
    """Before/after the course, per commune of its trainees and per indicator: the last period ending before
    the start and the first period starting after end + the follow-up delay."""
    course = find_course(session, course_id)
    if course.start_date is None:
        return []
    delay = active_rule(session, "followup")["delay_days"]
    communes = sorted({t["commune_code"] for t in trainees(session, course_id) if t["commune_code"]})
    catalogue = active_rule(session, "unit_indicators")["indicators"]
    rows = list(session.scalars(sa.select(UnitIndicator).where(UnitIndicator.commune_code.in_(communes))))
    out = []
    for commune in communes:
        for ind, label in catalogue.items():
            periods = [{"period": r.period, "period_start": r.period_start, "period_end": r.period_end,
                        "value": r.value} for r in rows if r.commune_code == commune and r.indicator_code == ind]
            cmp = domain.before_after(periods, course.start_date, course.end_date, delay)
            out.append({"commune_code": commune, "indicator_code": ind, "indicator_label": label,
                        "before_period": cmp["before"]["period"] if cmp["before"] else None,
                        "before": cmp["before"]["value"] if cmp["before"] else None,
                        "after_period": cmp["after"]["period"] if cmp["after"] else None,
                        "after": cmp["after"]["value"] if cmp["after"] else None, "change": cmp["change"]})
    return out


# --- summaries and reports (anonymous aggregates only) ---------------------------------------------------------

def get_course_summary(session: Session, course_id: str) -> dict:
    """Aggregate a course's feedback anonymously: response rate, means per indicator/criterion/object, index and
    band, lecturer scores (suppressed under the privacy threshold), learning gain; the frozen result once closed."""
    course = find_course(session, course_id)
    result = course.result if course.status == "closed" and course.result else compute_result(session, course)
    minimum = privacy_minimum(session)
    template = session.get(FormTemplate, course.template_id) if course.template_id else None
    labels = ({i["code"]: i["label"] for i in template.items if i["kind"] == "score"} if template
              else dict(domain.CRITERIA_LABELS))
    # Under the privacy threshold the means ARE someone's answers (one form of two: that trainee's scores, and
    # the officers' request list says who answered): show counts only. While the window is open, each new answer
    # would move the public means, and polling them beside the request list would reveal each later answer:
    # scores are shown once the window has closed and the result is frozen.
    still_open = course.status != "closed"
    hidden = still_open or result["valid_responses"] < minimum
    lecturers = domain.suppress_small(
        [{k: v for k, v in lec.items() if k != "means"} for lec in result["lecturer_scores"]],
        "responses", minimum if not still_open else 10**9, ("mean", "band"))
    return {"course_id": course_id, "course_code": course.code, "course_title": course.title,
            "topic_code": course.topic_code, "status": course.status, "closed_at": course.closed_at,
            "feedback_deadline": course.feedback_deadline, "requests": result["request_count"],
            "responses": result["responses"], "valid_responses": result["valid_responses"],
            "response_rate": result["response_rate"], "suppressed": hidden,
            "suppressed_reason": ("window_open" if still_open else "too_few_forms") if hidden else None,
            "means": {k: None for k in result["means"]} if hidden else result["means"],
            "criterion_means": {} if hidden else result["criterion_means"],
            "object_scores": {} if hidden else result["object_scores"],
            "index": None if hidden else result["general_index"], "band": None if hidden else result["band"],
            "band_label": None if hidden else result["band_label"],
            "criteria_labels": labels, "object_labels": domain.OBJECT_LABELS, "lecturer_scores": lecturers,
            "learning_gain": result["learning_gain"], "excellent_learner_count": len(result["excellent_learners"]),
            "comments": [] if still_open else _comments(session, course_id, minimum)}


def _comments(session: Session, course_id: str, minimum: int) -> list[str]:
    """Free texts, shuffled out of submission order and shown only when enough people answered to hide who."""
    rows = session.execute(sa.select(FeedbackResponse.comment, FeedbackResponse.texts)
                           .where(FeedbackResponse.course_id == course_id)).all()
    if len(rows) < minimum:
        return []
    out = [c for c, _ in rows if c] + [t for _, texts in rows for t in (texts or {}).values()]
    return sorted(out)


def get_followup_summary(session: Session, course_id: str) -> dict:
    """L3/L4 for one course: follow-up answers by respondent (means per indicator), and unit indicators."""
    find_course(session, course_id)
    minimum = privacy_minimum(session)
    out = {}
    for respondent in ("trainee", "supervisor"):
        reqs = session.scalar(sa.select(sa.func.count()).where(FollowupRequest.course_id == course_id,
                                                               FollowupRequest.respondent == respondent))
        forms = list(session.scalars(sa.select(FollowupResponse.scores).where(
            FollowupResponse.course_id == course_id, FollowupResponse.respondent == respondent)))
        codes = tuple(forms[0]) if forms else ()
        s = domain.summarise(reqs, forms, codes)
        hidden = s.valid_responses < minimum
        out[respondent] = {"requests": reqs, "responses": s.responses, "valid_responses": s.valid_responses,
                           "response_rate": s.response_rate, "means": {} if hidden else s.means,
                           "index": None if hidden else s.index, "band": None if hidden else s.band,
                           "suppressed": hidden}
    return {"course_id": course_id, **out, "unit_indicators": indicator_comparison(session, course_id)}
