"""Course feedback (L1): open the window when a course completes, take each trainee's one answer."""
from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.evaluation import domain, events
from services.evaluation.models import (
    OUTBOX, EvaluatedCourse, FeedbackResponse, FeedbackSubmission, FormTemplate, JOBS_TABLE, TestScore,
)
from services.evaluation.usecases.queries import lookup_token
from services.evaluation.usecases.requests import (
    FEEDBACK_LINKS, CourseRequest, commune_of, feedback_link, unanswered_count,
)
from services.evaluation.usecases.rules import active_rule, active_rules, current_template_ids, scored_indicators
from shared import capability
from shared import jobs as durable
from shared.db import bulk_insert, insert_ignoring_conflicts, is_postgres
from shared.errors import Conflict, Gone, Invalid
from shared.events import Envelope
from shared.localtime import local_today, utcnow


def new_token() -> str:
    # 24 random bytes (192 bits) from the OS CSPRNG: unguessable, and short enough for a link (follow-ups).
    return secrets.token_urlsafe(24)


def _roster(attendees: list[dict]) -> dict:
    """Who attended, grouped by sending commune, and who has no certificate (usually nobody): compact JSON."""
    communes: dict[str, list[str]] = {}
    uncertified = []
    for x in attendees:
        communes.setdefault(x["commune_code"], []).append(x["civil_servant_id"])
        certified = x.get("certified")
        if not (x["completed"] if certified is None else certified):
            uncertified.append(x["civil_servant_id"])
    return {"communes": communes, "uncertified": uncertified}


def open_feedback(session: Session, envelopes: list[Envelope], *, base_url: str, window_days: int | None = None,
                  now: datetime | None = None) -> int:
    """For each completed course, ask every participant who attended for feedback — the course's roster, handle and
    key, from which each trainee's link is computed (no row per trainee) —; publish evaluation.feedback_requested
    and the trainees' links per course; store the pre/post test scores; schedule the reminder and the closing.
    Multi-row statements: this runs for a whole batch of events.

    Returns how many trainees were asked. A course already opened is skipped (a second guard behind the
    inbox, so a replayed event under a new id cannot open the course twice). `window_days`: the operator's
    override of the answer window (settings.feedback_window_days); None = the rule in force.
    """
    now = now or utcnow()
    today = local_today(now)
    in_force = active_rules(session, ("feedback_window", "templates"), today)
    window = in_force["feedback_window"]
    deadline = now + timedelta(days=window["days"] if window_days is None else window_days)
    remind_at = domain.reminder_due(deadline, now, window["reminder_days_before"])
    templates = current_template_ids(session, today, in_force["templates"])
    courses = {}
    for env in envelopes:
        p = env.payload
        courses.setdefault(p["course_id"], (env, [x for x in p["participants"] if x["sessions_attended"] > 0]))

    def lecturers(p):
        by_id: dict[str, list[str]] = {}
        for s in sorted(p["sessions"], key=lambda s: (s["date"], s["buoi"] != "morning")):
            by_id.setdefault(s["lecturer_id"], []).append(f"{s['date']}:{s['buoi']}")
        return [{"lecturer_id": k, "sessions": v} for k, v in by_id.items()]

    # A course already opened is skipped (a replay under a new event id). The new ones go in with COPY: should
    # another worker open the same course meanwhile, the unique key refuses the batch, and the consumer replays it
    # one message at a time, when this SELECT sees that worker's row.
    known = set(session.scalars(sa.select(EvaluatedCourse.course_id)
                                .where(EvaluatedCourse.course_id.in_(list(courses)))))
    fresh = {cid: course for cid, course in courses.items() if cid not in known}
    secrets_of = dict(zip(fresh, capability.new_secrets(len(fresh), secrets.token_bytes)))
    new_courses = [
            {"course_id": cid, "code": env.payload["code"], "title": env.payload["title"],
             "completed_at": env.payload["completed_at"], "feedback_deadline": deadline,
             "participants": len(attendees), "opened_at": now, "topic_code": env.payload.get("topic_code"),
             "start_date": env.payload["start_date"], "end_date": env.payload["end_date"],
             "lecturer_ids": lecturers(env.payload), "competency_codes": env.payload.get("competency_codes") or [],
             "template_id": templates["course"], "lecturer_template_id": templates["lecturer"], "status": "open",
             "roster": _roster(attendees), "feedback_handle": secrets_of[cid][0], "feedback_key": secrets_of[cid][1]}
            for cid, (env, attendees) in fresh.items()]
    bulk_insert(session, EvaluatedCourse.__table__, new_courses)
    asked, scores, jobs, published = 0, [], [], []
    for cid, (env, attendees) in fresh.items():
        handle, key = secrets_of[cid]
        tokens = capability.tokens(FEEDBACK_LINKS, handle, key,
                                   capability.member_order(x["civil_servant_id"] for x in attendees))
        asked += len(attendees)
        recipients = []
        for x in attendees:
            recipients.append({"civil_servant_id": x["civil_servant_id"],
                               "link": feedback_link(base_url, tokens[x["civil_servant_id"]])})
            tests = x.get("tests")
            if not tests:
                continue
            seen = {}
            for t in tests:
                if t["kind"] in ("pre", "post"):  # module tests do not measure the gain
                    seen[(t["kind"], t.get("competency_code") or "")] = t["score"]
            scores += [{"course_id": cid, "civil_servant_id": x["civil_servant_id"], "kind": k, "competency_code": c,
                        "score": float(v), "source": "event", "recorded_at": now} for (k, c), v in seen.items()]
        # One job per course: first due for the reminder, then (same row) at the deadline to close.
        jobs.append({"id": str(uuid.uuid4()), "kind": "window", "payload": {"course_id": cid, "reminded_at": None},
                     "status": "pending", "attempts": 0, "due_at": remind_at, "dedupe_key": f"window:{cid}",
                     "created_at": now})
        if recipients:
            # The trainees' links in one message: needs (which holds the contacts) delivers one per trainee
            # (issue 13); one publish per course, not per trainee (issue 16).
            published.append(("evaluation.trainee_feedback_requested", events.trainee_feedback_requested(
                cid, env.payload["code"], env.payload["title"], recipients, deadline), env))
        published.append(("evaluation.feedback_requested",
                          events.feedback_requested(cid, len(attendees), deadline), env))
    bulk_insert(session, TestScore.__table__, scores)
    # COPY, like the other rows of the batch (shared.jobs.enqueue_many is one INSERT … ON CONFLICT): the keys are
    # new by construction (opened courses are skipped above), and a clash refuses the batch as for the courses.
    bulk_insert(session, JOBS_TABLE, jobs)
    OUTBOX.emit_many(session, published)
    return asked


def _merged(scores: dict | None, answers: dict | None) -> dict:
    merged = {k: v for k, v in (scores or {}).items() if v is not None}
    for k, v in (answers or {}).items():
        if v is not None:
            merged[k] = v
    return merged


def _check_items(template: FormTemplate | None, merged: dict, scores: dict | None, texts: dict | None) -> list:
    """The template's scored indicators; refuse an answer or a text to an item the form does not have."""
    indicators = scored_indicators(template)
    codes = {i.code for i in indicators}
    text_codes = {i["code"] for i in template.items if i["kind"] == "text"} if template else set()
    for k in merged:
        if k not in codes:
            field = "scores" if k in (scores or {}) else "answers"
            raise Invalid(f"Chỉ tiêu «{k}» không có trong phiếu.", field=f"{field}.{k}")
    for k in texts or {}:
        if k not in text_codes:
            raise Invalid(f"Mục «{k}» không có trong phiếu.", field=f"texts.{k}")
    return indicators


def _claim(session: Session, model, token: str, now: datetime) -> None:
    """Mark the token answered; refuse a second answer."""
    # Conditional update: of two concurrent submissions only one finds submitted_at still empty.
    claimed = session.execute(sa.update(model).where(model.token == token, model.submitted_at.is_(None))
                              .values(submitted_at=now)).rowcount
    if claimed != 1:
        raise Conflict("Phiếu đánh giá này đã được gửi.", field="token")


def _scored_form(session: Session, indicators: list, merged: dict, texts: dict | None, now: datetime):
    """(full answers, valid, clean texts, answered_on, max_unanswered_share) of an accepted form."""
    full = {i.code: merged.get(i.code) for i in indicators}
    share = active_rule(session, "scoring", local_today(now))["max_unanswered_share"]
    valid = domain.form_is_valid(full, tuple(full), share)
    clean_texts = {k: v.strip() for k, v in (texts or {}).items() if v and v.strip()} or None
    # The answer keeps only the day: with the request's exact submitted_at beside it, equal timestamps would
    # join every answer back to its trainee.
    answered_on = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return full, valid, clean_texts, answered_on, share


def _accepted(resp, share: float) -> dict:
    return {"id": resp.id, "valid": resp.valid, "submitted_at": resp.submitted_at, "max_unanswered_share": share}


def submit_feedback(session: Session, token: str, scores: dict, comment: str | None, *,
                    answers: dict | None = None, lecturer_answers: dict | None = None,
                    texts: dict | None = None, now: datetime | None = None) -> dict:
    """Record the one answer behind a token: a course form (submit_course_feedback) or a follow-up survey
    (usecases.followup.submit_followup). Returns {id, valid, submitted_at, max_unanswered_share}.

    scores: the legacy five-dimension object (None = unanswered); answers: {indicator code: 1–10} for any
    template; lecturer_answers: {lecturer_id: {indicator: 1–10}}; texts: {text item code: text}.
    """
    kind, req = lookup_token(session, token)
    if kind == "course":
        return submit_course_feedback(session, req, scores, comment, answers=answers,
                                      lecturer_answers=lecturer_answers, texts=texts, now=now)
    from services.evaluation.usecases.followup import submit_followup  # followup builds on this module's helpers
    return submit_followup(session, req, scores, answers=answers, lecturer_answers=lecturer_answers, texts=texts,
                           now=now)


def _lecturer_forms(session: Session, course: EvaluatedCourse, lecturer_answers: dict | None) -> dict:
    lect = {}
    if not lecturer_answers:
        return lect
    lt = session.get(FormTemplate, course.lecturer_template_id) if course.lecturer_template_id else None
    known = {e["lecturer_id"] for e in course.lecturer_ids or []}
    lcodes = {i["code"] for i in lt.items if i["kind"] == "score"} if lt else set()
    for lid, ans in lecturer_answers.items():
        if lid not in known:
            raise Invalid("Giảng viên không dạy lớp này.", field=f"lecturers.{lid}")
        for k in ans:
            if k not in lcodes:
                raise Invalid(f"Chỉ tiêu «{k}» không có trong phiếu giảng viên.", field=f"lecturers.{lid}.{k}")
        answered = {k: v for k, v in ans.items() if v is not None}
        if answered:  # a lecturer section left wholly empty is not a form
            lect[lid] = {k: answered.get(k) for k in sorted(lcodes)}
    return lect


def submit_course_feedback(session: Session, req: CourseRequest, scores: dict, comment: str | None, *,
                           answers: dict | None = None, lecturer_answers: dict | None = None,
                           texts: dict | None = None, now: datetime | None = None) -> dict:
    """Record a trainee's answer to the course form; refuse an expired, closed or already used request. When
    everyone has answered, the window job is made due now (close_when_all_answered)."""
    now = now or utcnow()
    stmt = sa.select(EvaluatedCourse).where(EvaluatedCourse.course_id == req.course_id)
    if is_postgres(session):
        # SHARE: answers go on side by side, but closing (NO KEY UPDATE) waits for this one to commit and counts
        # it, or this one waits for the close and sees the window closed.
        stmt = stmt.with_for_update(read=True).execution_options(populate_existing=True)
    course = session.scalar(stmt)
    merged = _merged(scores, answers)
    if now > course.feedback_deadline or course.status == "closed":
        raise Gone("Đã hết hạn gửi đánh giá.", field="token")
    template = session.get(FormTemplate, course.template_id) if course.template_id else None
    indicators = _check_items(template, merged, scores, texts)
    lect = _lecturer_forms(session, course, lecturer_answers)
    if not merged and not lect:
        # Nothing scored at all: most likely a mis-tap on "send"; keep the link usable instead of burning it.
        raise Invalid("Phiếu chưa có câu trả lời nào; hãy chấm điểm rồi gửi lại.", field="scores")
    # The answer's row: of two concurrent submissions only one inserts it (the other finds the key taken).
    claimed = session.scalar(insert_ignoring_conflicts(session, FeedbackSubmission.__table__).values(
        course_id=req.course_id, civil_servant_id=req.civil_servant_id, submitted_at=now)
        .returning(FeedbackSubmission.course_id))
    if claimed is None:
        raise Conflict("Phiếu đánh giá này đã được gửi.", field="token")
    full, valid, clean_texts, answered_on, share = _scored_form(session, indicators, merged, texts, now)
    resp = FeedbackResponse(id=str(uuid.uuid4()), course_id=req.course_id, scores=full, comment=comment,
                            valid=valid, submitted_at=answered_on, lecturer_scores=lect or None, texts=clean_texts,
                            commune_code=commune_of(course.roster).get(req.civil_servant_id))
    session.add(resp)
    session.flush()
    window = active_rule(session, "feedback_window", local_today(now))
    if window.get("close_when_all_answered", True) and unanswered_count(session, course) == 0:
        # Everyone answered: the window closes now (the scheduler runs the close job on its next tick).
        # SKIP LOCKED: a job the scheduler holds is running right now and will see this answer; waiting for it
        # would deadlock (it waits for this answer's SHARE lock on the course to close).
        durable.reschedule(session, JOBS_TABLE, f"window:{req.course_id}", now, skip_locked=True)
    return _accepted(resp, share)
