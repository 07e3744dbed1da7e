"""Use cases of the evaluation service: each takes a session inside the caller's transaction."""
from __future__ import annotations

import base64

import logging
import secrets
import uuid
from datetime import date, datetime, time, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.evaluation import domain
from services.evaluation.models import (
    OUTBOX, EvaluatedCourse, FeedbackRequest, FeedbackResponse, FollowupRequest, FollowupResponse, FormTemplate,
    JOBS_TABLE, Notification, QuestionItem, RuleVersion, TestScore, UnitIndicator,
)
from shared import jobs as durable, rules
from shared.db import bulk_insert, insert_ignoring_conflicts, is_postgres, utcnow
from shared.errors import Conflict, Gone, Invalid, NotFound
from shared.events import Envelope
from shared.localtime import LOCAL_TZ, local_today, vn_date, vn_datetime

log = logging.getLogger(__name__)


def _token() -> str:
    # 24 random bytes (192 bits) from the OS CSPRNG: unguessable, and short enough for a link.
    return secrets.token_urlsafe(24)


def _tokens(count: int) -> list[str]:
    """`count` tokens like _token()'s, from one read of the OS CSPRNG (a batch opens thousands of requests)."""
    raw = secrets.token_bytes(24 * count)
    return [base64.urlsafe_b64encode(raw[i:i + 24]).rstrip(b"=").decode() for i in range(0, 24 * count, 24)]


# --- versioned rules (shared.rules: one semantics in every service) -------------------------------------------

# URL kind (kebab-case, /api/v1/rules/<kind>) → the rule's code in rule_versions (kept as stored).
RULE_KINDS = {"scoring": "scoring", "feedback-window": "feedback_window", "followup": "followup",
              "level-mapping": "level_mapping", "excellent-learner": "excellent_learner",
              "report-privacy": "report_privacy", "templates": "templates", "unit-indicators": "unit_indicators"}
RULE_CODES = tuple(RULE_KINDS.values())
KIND_OF = {code: kind for kind, code in RULE_KINDS.items()}


def _missing(code: str, on: date) -> Conflict:
    return Conflict(f"Chưa có quy định «{code}» áp dụng cho ngày {on.isoformat()}.", field="code")


def active_rule(session: Session, code: str, on: date | None = None) -> dict:
    """The parameters of rule `code` in force on `on` (today, local time, by default)."""
    on = on or local_today()
    row = rules.in_force(session, RuleVersion, on, code=code)
    if row is None:
        raise _missing(code, on)
    return row.params


def active_rules(session: Session, codes: tuple[str, ...], on: date) -> dict[str, dict]:
    """Several rules in force on `on`, in one query (opening a batch of courses reads two)."""
    found = rules.in_force_by(session, RuleVersion, on, "code", among=codes)
    for code in codes:
        if code not in found:
            raise _missing(code, on)
    return {code: row.params for code, row in found.items()}


def _rule_dict(r: RuleVersion) -> dict:
    return {"id": r.id, "kind": KIND_OF.get(r.code, r.code), "code": r.code, "valid_from": r.valid_from,
            "valid_to": r.valid_to, "legal_basis": r.legal_basis, "params": r.params, "is_sample": r.is_sample}


def _code_of(kind: str) -> str:
    if kind not in RULE_KINDS:
        raise NotFound(f"Không có loại quy định «{kind}» ({', '.join(RULE_KINDS)}).", field="kind")
    return RULE_KINDS[kind]


def list_rules_in_force(session: Session, today: date | None = None) -> list[dict]:
    """Every rule kind of the service with the version in force today (None where there is none)."""
    found = rules.in_force_by(session, RuleVersion, today or local_today(), "code", among=RULE_CODES)
    return [{"kind": kind, "in_force": _rule_dict(found[code]) if code in found else None}
            for kind, code in RULE_KINDS.items()]


def list_rule_versions(session: Session, kind: str) -> list[dict]:
    """Every version of one rule kind, newest first."""
    return [_rule_dict(r) for r in rules.versions(session, RuleVersion, newest_first=True, code=_code_of(kind))]


def _check_rule_params(session: Session, code: str, params: dict) -> None:
    def need_number(key, lo, hi, integer=False):
        v = params.get(key)
        if isinstance(v, bool) or not isinstance(v, int if integer else (int, float)) or not lo <= v <= hi:
            raise Invalid(f"«{key}» phải là số trong khoảng {lo}–{hi}.", field=f"params.{key}")

    try:
        if code == "scoring":
            need_number("max_unanswered_share", 0, 0.5)
            if params.get("index_method") not in ("indicator_mean", "object_mean"):
                raise Invalid("index_method: indicator_mean | object_mean.", field="params.index_method")
            _check_bands(params.get("bands"))
        elif code == "feedback_window":
            need_number("days", 1, 90, True)
            need_number("reminder_days_before", 0, 60, True)
            if not isinstance(params.get("close_when_all_answered", True), bool):  # "no" would read as true
                raise Invalid("close_when_all_answered: true | false.", field="params.close_when_all_answered")
        elif code == "followup":
            need_number("delay_days", *domain.FOLLOWUP_DELAY_DAYS, True)  # TT 10/2017: 3–6 months after
            need_number("answer_days", 1, 90, True)
        elif code == "level_mapping":
            domain.validate_level_mapping(params)
        elif code == "excellent_learner":
            need_number("min_post_mean", 0, 10)
            if not isinstance(params.get("require_certified"), bool):
                raise Invalid("require_certified: true | false.", field="params.require_certified")
        elif code == "report_privacy":
            need_number("min_group_size", 1, 50, True)
        elif code == "templates":
            for purpose in domain.PURPOSES:
                tcode = params.get(purpose)
                if not isinstance(tcode, str) or session.scalar(sa.select(FormTemplate.id).where(
                        FormTemplate.code == tcode, FormTemplate.purpose == purpose).limit(1)) is None:
                    raise Invalid(f"Không có mẫu phiếu «{tcode}» cho mục đích {purpose}.",
                                      field=f"params.{purpose}")
        elif code == "unit_indicators":
            ind = params.get("indicators")
            if not isinstance(ind, dict) or not ind or not all(
                    isinstance(k, str) and isinstance(v, str) and k and v and len(k) <= 40 and len(v) <= 200
                    for k, v in ind.items()):
                # 40: the width of unit_indicators.indicator_code (a longer code could never be stored)
                raise Invalid("indicators: {mã (tối đa 40 ký tự): nhãn}.", field="params.indicators")
    except domain.RuleError as exc:
        raise Invalid(str(exc), field=exc.field) from None


def _check_bands(bands) -> None:
    """TT 10/2017 bands: exactly the five codes, each [floor 0–10, code, Vietnamese label], floors rising from 0
    in the order poor < weak < average < good < excellent (anything else would make band() wrong or crash)."""
    message = "Cần đủ 5 mức [ngưỡng 0–10, mã, nhãn], ngưỡng tăng dần từ 0: poor < weak < average < good < excellent."
    if not isinstance(bands, list) or len(bands) != len(domain.BAND_CODES):
        raise Invalid(message, field="params.bands")
    floors = {}
    for n, b in enumerate(bands):
        if (not isinstance(b, list) or len(b) != 3 or isinstance(b[0], bool) or not isinstance(b[0], (int, float))
                or not 0 <= b[0] <= 10 or b[1] not in domain.BAND_CODES or not isinstance(b[2], str)
                or not b[2].strip() or len(b[2]) > 40):
            raise Invalid(message, field=f"params.bands.{n}")
        floors[b[1]] = b[0]
    ordered = [floors.get(code) for code in domain.BAND_CODES]
    if None in ordered or ordered[0] != 0 or any(a >= b for a, b in zip(ordered, ordered[1:])):
        raise Invalid(message, field="params.bands")


def add_rule_version(session: Session, kind: str, data: dict, now: datetime | None = None) -> dict:
    """Add a version of a rule kind from valid_from (shared.rules: an open-ended version that started earlier
    ends the day before; any other overlap is a conflict naming valid_from)."""
    code = _code_of(kind)
    rules.check_range(data["valid_from"], data.get("valid_to"))
    _check_rule_params(session, code, data["params"])
    row = rules.add_version(session, RuleVersion, {
        "valid_from": data["valid_from"], "valid_to": data.get("valid_to"), "legal_basis": data["legal_basis"],
        "params": data["params"], "is_sample": data.get("is_sample", False), "created_at": now or utcnow()},
        code=code)
    return _rule_dict(row)


# --- question bank and templates -------------------------------------------------------------------------------

def list_bank(session: Session, purpose: str | None = None) -> list[dict]:
    """The question bank, grouped by purpose and evaluated object."""
    stmt = sa.select(QuestionItem).order_by(QuestionItem.purpose, QuestionItem.object_code, QuestionItem.code)
    if purpose:
        stmt = stmt.where(QuestionItem.purpose == purpose)
    return [{"code": q.code, "object_code": q.object_code, "criterion_code": q.criterion_code, "label": q.label,
             "kind": q.kind, "purpose": q.purpose} for q in session.scalars(stmt)]


def add_bank_item(session: Session, data: dict) -> dict:
    """Add an item to the question bank (items are never edited: a changed wording is a new code)."""
    if session.get(QuestionItem, data["code"]) is not None:
        raise Conflict("Mã câu hỏi đã tồn tại.", field="code")
    session.add(QuestionItem(**data))
    session.flush()
    return data


def _template_dict(t: FormTemplate) -> dict:
    return {"id": t.id, "code": t.code, "version": t.version, "purpose": t.purpose, "title": t.title,
            "items": t.items, "created_at": t.created_at}


def list_templates(session: Session) -> list[dict]:
    """Every template version."""
    return [_template_dict(t) for t in session.scalars(
        sa.select(FormTemplate).order_by(FormTemplate.code, FormTemplate.version))]


def create_template_version(session: Session, data: dict) -> dict:
    """Build the next version of a template from question-bank items (earlier versions stay as they were)."""
    items = []
    for n, code in enumerate(data["item_codes"]):
        q = session.get(QuestionItem, code)
        if q is None:
            raise Invalid(f"Không có câu hỏi «{code}» trong ngân hàng câu hỏi.", field=f"item_codes.{n}")
        if q.purpose != data["purpose"]:
            raise Invalid(f"Câu hỏi «{code}» thuộc mục đích {q.purpose}.", field=f"item_codes.{n}")
        items.append({"code": q.code, "object": q.object_code, "criterion": q.criterion_code, "label": q.label,
                      "kind": q.kind})
    if len({i["code"] for i in items}) != len(items):
        raise Invalid("Một câu hỏi xuất hiện hai lần.", field="item_codes")
    if not any(i["kind"] == "score" for i in items):
        raise Invalid("Mẫu phiếu cần ít nhất một chỉ tiêu chấm điểm.", field="item_codes")
    previous = session.scalar(sa.select(FormTemplate).where(FormTemplate.code == data["code"])
                              .order_by(FormTemplate.version.desc()).limit(1))
    if previous is not None and previous.purpose != data["purpose"]:
        raise Conflict("Mẫu phiếu này có mục đích khác.", field="purpose")
    t = FormTemplate(id=str(uuid.uuid4()), code=data["code"], version=(previous.version + 1 if previous else 1),
                     purpose=data["purpose"], title=data["title"], items=items, created_at=utcnow())
    session.add(t)
    session.flush()
    return _template_dict(t)


def _current_template_ids(session: Session, on: date, names: dict | None = None) -> dict[str, str]:
    """The latest version of each template named by the `templates` rule in force (one query)."""
    names = names or active_rule(session, "templates", on)
    latest = {}
    for code, tid in session.execute(sa.select(FormTemplate.code, FormTemplate.id)
                                     .where(FormTemplate.code.in_(set(names.values())))
                                     .order_by(FormTemplate.code, FormTemplate.version)):
        latest[code] = tid  # ordered by version: the highest wins
    return {purpose: latest.get(names[purpose]) for purpose in domain.PURPOSES}


def _scored(template: FormTemplate | None) -> list[domain.Indicator]:
    if template is None:  # a course opened before templates existed: the five dimensions
        return [domain.Indicator(c, "programme", c) for c in domain.CRITERIA]
    return [domain.Indicator(i["code"], i["object"], i["criterion"]) for i in template.items if i["kind"] == "score"]


# --- opening the window (courses.course_completed) -------------------------------------------------------------

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


def _commune_of(roster: dict | None) -> dict[str, str]:
    return {cs: commune for commune, ids in (roster or {}).get("communes", {}).items() for cs in ids}


def open_feedback(session: Session, envelopes: list[Envelope], *, window_days: int | None = None,
                  now: datetime | None = None) -> int:
    """For each completed course, one feedback request per participant who attended; publish
    evaluation.feedback_requested per course; store the pre/post test scores; schedule the reminder and the
    closing. Multi-row statements: this runs for a whole batch of events.

    Returns how many requests were created. A course already opened is skipped (a second guard behind the
    inbox, so a replayed event under a new id cannot open the course twice). `window_days`: the operator's
    override of the answer window (settings.feedback_window_days); None = the rule in force.
    """
    now = now or utcnow()
    today = local_today(now)
    rules = active_rules(session, ("feedback_window", "templates"), today)
    window = rules["feedback_window"]
    deadline = now + timedelta(days=window["days"] if window_days is None else window_days)
    remind_at = domain.reminder_due(deadline, now, window["reminder_days_before"])
    templates = _current_template_ids(session, today, rules["templates"])
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
    new_courses = [
            {"course_id": cid, "code": env.payload["code"], "title": env.payload["title"],
             "completed_at": env.payload["completed_at"], "feedback_deadline": deadline,
             "participants": len(attendees), "opened_at": now, "topic_code": env.payload.get("topic_code"),
             "start_date": env.payload["start_date"], "end_date": env.payload["end_date"],
             "lecturer_ids": lecturers(env.payload), "competency_codes": env.payload.get("competency_codes") or [],
             "template_id": templates["course"], "lecturer_template_id": templates["lecturer"], "status": "open",
             "roster": _roster(attendees)}
            for cid, (env, attendees) in courses.items() if cid not in known]
    bulk_insert(session, EvaluatedCourse.__table__, new_courses)
    opened = {c["course_id"] for c in new_courses}
    rows, scores, jobs, events = [], [], [], []
    tokens = iter(_tokens(sum(len(attendees) for cid, (_, attendees) in courses.items() if cid in opened)))
    for cid, (env, attendees) in courses.items():
        if cid not in opened:
            continue
        for x in attendees:
            rows.append({"course_id": cid, "civil_servant_id": x["civil_servant_id"], "token": next(tokens)})
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
        events.append(("evaluation.feedback_requested",
                       {"course_id": cid, "request_count": len(attendees), "deadline": deadline}, env))
    bulk_insert(session, FeedbackRequest.__table__, rows)
    bulk_insert(session, TestScore.__table__, scores)
    # COPY, like the other rows of the batch (shared.jobs.enqueue_many is one INSERT … ON CONFLICT): the keys are
    # new by construction (opened courses are skipped above), and a clash refuses the batch as for the courses.
    bulk_insert(session, JOBS_TABLE, jobs)
    OUTBOX.emit_many(session, events)
    return len(rows)


def _course(session: Session, course_id: str, lock: bool = False) -> EvaluatedCourse:
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


def feedback_link(base_url: str, token: str) -> str:
    """The trainee's link: the server-rendered form."""
    return f"{base_url.rstrip('/')}/feedback/{token}"


def list_requests(session: Session, course_id: str) -> list[dict]:
    """Return a course's feedback requests (officers hand the links out)."""
    course = _course(session, course_id)
    reqs = session.scalars(sa.select(FeedbackRequest).where(FeedbackRequest.course_id == course_id)
                           .order_by(FeedbackRequest.civil_servant_id))
    return [{"civil_servant_id": r.civil_servant_id, "token": r.token, "deadline": course.feedback_deadline,
             "submitted_at": r.submitted_at, "reminders": r.reminders} for r in reqs]


# --- the form behind a token -----------------------------------------------------------------------------------

def _lookup_token(session: Session, token: str):
    req = session.scalar(sa.select(FeedbackRequest).where(FeedbackRequest.token == token))
    if req is not None:
        return "course", req
    fu = session.get(FollowupRequest, token) if len(token) <= 64 else None
    if fu is not None:
        return fu.respondent, fu
    raise NotFound("Đường dẫn đánh giá không hợp lệ.", field="token")


def _lecturer_label(entry: dict, n: int) -> str:
    days = []
    for s in entry.get("sessions", []):
        d, buoi = s.split(":")
        y, m, dd = d.split("-")
        days.append(f"{dd}/{m} {'sáng' if buoi == 'morning' else 'chiều'}")
    shown = ", ".join(days[:4]) + ("…" if len(days) > 4 else "")
    return f"Giảng viên {n} (dạy buổi {shown})" if shown else f"Giảng viên {n}"


def form_context(session: Session, token: str, now: datetime | None = None) -> dict:
    """Everything the form behind a token shows: course, sections by object, lecturers, state."""
    kind, req = _lookup_token(session, token)
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
            lecturers.append({"lecturer_id": entry["lecturer_id"], "label": _lecturer_label(entry, n),
                              "items": [dict(i) for i in lect_template.items if i["kind"] == "score"]})
    return {"kind": kind, "course_code": course.code, "course_title": course.title, "deadline": deadline,
            "state": state, "title": template.title if template else "Phiếu lấy ý kiến học viên",
            "sections": sections, "lecturers": lecturers,
            "criteria": [{"code": i["code"], "label": i["label"]} for i in items if i["kind"] == "score"]}


def feedback_form(session: Session, token: str, now: datetime | None = None) -> dict:
    """Describe the form behind a token: course, criteria, deadline and whether it can still be answered."""
    ctx = form_context(session, token, now)
    return {k: ctx[k] for k in ("kind", "course_code", "course_title", "deadline", "state", "criteria", "title",
                                "sections", "lecturers")}


def submit_feedback(session: Session, token: str, scores: dict, comment: str | None, *,
                    answers: dict | None = None, lecturer_answers: dict | None = None,
                    texts: dict | None = None, now: datetime | None = None) -> FeedbackResponse | FollowupResponse:
    """Record one answer per token; refuse an unknown, expired, closed or already used token.

    scores: the legacy five-dimension object (None = unanswered); answers: {indicator code: 1–10} for any
    template; lecturer_answers: {lecturer_id: {indicator: 1–10}}; texts: {text item code: text}.
    """
    kind, req = _lookup_token(session, token)
    now = now or utcnow()
    stmt = sa.select(EvaluatedCourse).where(EvaluatedCourse.course_id == req.course_id)
    if kind == "course" and is_postgres(session):
        # SHARE: answers go on side by side, but closing (NO KEY UPDATE) waits for this one to commit and counts
        # it, or this one waits for the close and sees the window closed.
        stmt = stmt.with_for_update(read=True).execution_options(populate_existing=True)
    course = session.scalar(stmt)
    merged = {k: v for k, v in (scores or {}).items() if v is not None}
    for k, v in (answers or {}).items():
        if v is not None:
            merged[k] = v
    if kind == "course":
        if now > course.feedback_deadline or course.status == "closed":
            raise Gone("Đã hết hạn gửi đánh giá.", field="token")
        template = session.get(FormTemplate, course.template_id) if course.template_id else None
    else:
        if now > req.deadline:
            raise Gone("Đã hết hạn gửi đánh giá.", field="token")
        template = session.get(FormTemplate, req.template_id)
    indicators = _scored(template)
    codes = {i.code for i in indicators}
    text_codes = {i["code"] for i in template.items if i["kind"] == "text"} if template else set()
    for k in merged:
        if k not in codes:
            field = "scores" if k in (scores or {}) else "answers"
            raise Invalid(f"Chỉ tiêu «{k}» không có trong phiếu.", field=f"{field}.{k}")
    for k in texts or {}:
        if k not in text_codes:
            raise Invalid(f"Mục «{k}» không có trong phiếu.", field=f"texts.{k}")
    lect = {}
    if lecturer_answers:
        if kind != "course":
            raise Invalid("Phiếu này không đánh giá giảng viên.", field="lecturers")
        lt = session.get(FormTemplate, course.lecturer_template_id) if course.lecturer_template_id else None
        known = {e["lecturer_id"] for e in course.lecturer_ids or []}
        lcodes = {i["code"] for i in lt.items if i["kind"] == "score"} if lt else set()
        for lid, ans in lecturer_answers.items():
            if lid not in known:
                raise Invalid("Giảng viên không dạy lớp này.", field=f"lecturers.{lid}")
            for k in ans:
                if k not in lcodes:
                    raise Invalid(f"Chỉ tiêu «{k}» không có trong phiếu giảng viên.",
                                      field=f"lecturers.{lid}.{k}")
            answered = {k: v for k, v in ans.items() if v is not None}
            if answered:  # a lecturer section left wholly empty is not a form
                lect[lid] = {k: answered.get(k) for k in sorted(lcodes)}
    if not merged and not lect:
        # Nothing scored at all: most likely a mis-tap on "send"; keep the link usable instead of burning it.
        raise Invalid("Phiếu chưa có câu trả lời nào; hãy chấm điểm rồi gửi lại.", field="scores")
    model = FeedbackRequest if kind == "course" else FollowupRequest
    key = model.token == token
    # Conditional update: of two concurrent submissions only one finds submitted_at still empty.
    claimed = session.execute(sa.update(model).where(key, model.submitted_at.is_(None))
                              .values(submitted_at=now)).rowcount
    if claimed != 1:
        raise Conflict("Phiếu đánh giá này đã được gửi.", field="token")
    full = {i.code: merged.get(i.code) for i in indicators}
    rule = active_rule(session, "scoring", local_today(now))
    valid = domain.form_is_valid(full, tuple(full), rule["max_unanswered_share"])
    clean_texts = {k: v.strip() for k, v in (texts or {}).items() if v and v.strip()} or None
    # The answer keeps only the day: with the request's exact submitted_at beside it, equal timestamps would
    # join every answer back to its trainee.
    answered_on = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if kind == "course":
        commune = _commune_of(course.roster).get(req.civil_servant_id)
        resp = FeedbackResponse(id=str(uuid.uuid4()), course_id=req.course_id, scores=full, comment=comment,
                                valid=valid, submitted_at=answered_on, lecturer_scores=lect or None, texts=clean_texts,
                                commune_code=commune)
        session.add(resp)
        session.flush()
        window = active_rule(session, "feedback_window", local_today(now))
        if window.get("close_when_all_answered", True) and session.scalar(
                sa.select(sa.func.count()).where(FeedbackRequest.course_id == req.course_id,
                                                 FeedbackRequest.submitted_at.is_(None))) == 0:
            # Everyone answered: the window closes now (the scheduler runs the close job on its next tick).
            # SKIP LOCKED: a job the scheduler holds is running right now and will see this answer; waiting for it
            # would deadlock (it waits for this answer's SHARE lock on the course to close).
            durable.reschedule(session, JOBS_TABLE, f"window:{req.course_id}", now, skip_locked=True)
    else:
        resp = FollowupResponse(id=str(uuid.uuid4()), course_id=req.course_id, respondent=req.respondent,
                                commune_code=req.commune_code, scores=full, texts=clean_texts, valid=valid,
                                submitted_at=answered_on)
        session.add(resp)
        session.flush()
    return resp


# --- reminders, closing, follow-up (scheduler jobs and officer actions) ----------------------------------------

def send_reminders(session: Session, course_id: str, base_url: str, now: datetime | None = None) -> int:
    """One notification (and one evaluation.feedback_reminder_issued) per trainee who has not answered yet."""
    course = _course(session, course_id)
    now = now or utcnow()
    if course.status == "closed" or now > course.feedback_deadline:
        return 0
    pending = list(session.scalars(sa.select(FeedbackRequest).where(
        FeedbackRequest.course_id == course_id, FeedbackRequest.submitted_at.is_(None))
        .order_by(FeedbackRequest.civil_servant_id)))
    deadline_vi = vn_datetime(course.feedback_deadline)
    notes, events = [], []
    for r in pending:
        nid, link = str(uuid.uuid4()), feedback_link(base_url, r.token)
        notes.append({"id": nid, "course_id": course_id, "civil_servant_id": r.civil_servant_id,
                      "kind": "feedback_reminder", "channel": "event", "link": link,
                      "deadline": course.feedback_deadline, "created_at": now,
                      "message": f"Nhắc: anh/chị chưa gửi phiếu lấy ý kiến về lớp {course.code}. "
                                 f"Hạn cuối {deadline_vi}. Mở đường dẫn: {link}"})
        events.append(("evaluation.feedback_reminder_issued",
                       {"course_id": course_id, "notification_id": nid, "civil_servant_id": r.civil_servant_id,
                        "link": link, "deadline": course.feedback_deadline}, None))
    if notes:
        session.execute(sa.insert(Notification), notes)
        session.execute(sa.update(FeedbackRequest).where(
            FeedbackRequest.course_id == course_id, FeedbackRequest.submitted_at.is_(None))
            .values(reminders=FeedbackRequest.reminders + 1))
        OUTBOX.emit_many(session, events)
    log.info("feedback reminders issued", extra={"course_id": course_id, "count": len(notes)})
    return len(notes)


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


def _trainees(session: Session, course_id: str) -> list[dict]:
    """The attendees with their commune and certificate (from the course's roster)."""
    course = session.get(EvaluatedCourse, course_id)
    if course.roster is None:  # opened before the roster existed
        ids = session.scalars(sa.select(FeedbackRequest.civil_servant_id).where(FeedbackRequest.course_id == course_id))
        return [{"civil_servant_id": cs, "commune_code": "", "certified": None} for cs in ids]
    uncertified = set(course.roster["uncertified"])
    return [{"civil_servant_id": cs, "commune_code": commune, "certified": cs not in uncertified}
            for cs, commune in sorted(_commune_of(course.roster).items())]


def _test_rows(session: Session, course_id: str) -> list[dict]:
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
    structure = _scored(template)
    responses = list(session.scalars(sa.select(FeedbackResponse).where(FeedbackResponse.course_id == course.course_id)))
    requests = session.scalar(sa.select(sa.func.count()).where(FeedbackRequest.course_id == course.course_id))
    s = domain.summarise(requests, [r.scores for r in responses], structure=structure,
                         max_unanswered_share=rule["max_unanswered_share"], bands=bands,
                         index_method=rule.get("index_method", "object_mean"))
    lt = session.get(FormTemplate, course.lecturer_template_id) if course.lecturer_template_id else None
    lcodes = tuple(i["code"] for i in lt.items if i["kind"] == "score") if lt else ()
    lforms = [(lid, ans) for r in responses for lid, ans in (r.lecturer_scores or {}).items()]
    lecturers = domain.lecturer_scores(lforms, lcodes, max_unanswered_share=rule["max_unanswered_share"],
                                       bands=bands) if lcodes else []
    tests = _test_rows(session, course.course_id)
    levels = domain.validate_level_mapping(active_rule(session, "level_mapping", on))
    return {
        "course_id": course.course_id, "topic_code": course.topic_code, "request_count": requests,
        "responses": s.responses, "valid_responses": s.valid_responses, "response_rate": s.response_rate,
        "general_index": s.index, "band": s.band, "band_label": s.band_label, "means": s.means,
        "criterion_means": s.criterion_means,
        "object_scores": {k: v for k, v in s.object_means.items() if v is not None},
        "lecturer_scores": lecturers, "learning_gain": domain.learning_gain(tests),
        "excellent_learners": domain.excellent_learners(_trainees(session, course.course_id), tests,
                                                        active_rule(session, "excellent_learner", on)),
        "assessed_levels": domain.assessed_levels(tests, levels),
    }


def _followup_due(course: EvaluatedCourse, delay_days: int) -> datetime:
    end = course.end_date or local_today(course.completed_at)
    return datetime.combine(end + timedelta(days=delay_days), time(8, 0), LOCAL_TZ).astimezone(timezone.utc)


def close_feedback(session: Session, course_id: str, now: datetime | None = None) -> dict:
    """Close the feedback window: score the course, publish evaluation.course_evaluated once, schedule the
    follow-up survey. Closing a closed course returns its result unchanged."""
    if is_postgres(session):
        # Lock order job → course, the scheduler's order (it claims the window job, then closes): an officer's
        # close racing the scheduler then waits instead of deadlocking into a 500.
        session.execute(sa.select(JOBS_TABLE.c.id).where(JOBS_TABLE.c.dedupe_key == f"window:{course_id}")
                        .with_for_update())
    course = _course(session, course_id, lock=True)
    if course.status == "closed":
        return course.result
    now = now or utcnow()
    result = compute_result(session, course, local_today(now))
    result["evaluated_at"] = now.isoformat()
    course.status, course.closed_at, course.result = "closed", now, result
    window = durable.find(session, JOBS_TABLE, f"window:{course_id}")
    if window is not None and window.status == "pending":  # a running one is this close's own job: its loop ends it
        durable.mark_done(session, JOBS_TABLE, window.id, now)
    delay = active_rule(session, "followup", local_today(now))["delay_days"]
    durable.enqueue(session, JOBS_TABLE, "followup", {"course_id": course_id}, _followup_due(course, delay),
                    f"followup:{course_id}", now=now)
    # The event leaves this service: a lecturer's mean over fewer forms than the privacy minimum would be those
    # trainees' own answers in another service's records, so only lecturers with enough forms travel.
    minimum = _privacy(session)
    shared_lecturers = [lec for lec in result["lecturer_scores"]
                        if lec.get("responses", 0) >= minimum and lec.get("mean") is not None]
    OUTBOX.emit(session, "evaluation.course_evaluated",
                {**result, "lecturer_scores": shared_lecturers, "evaluated_at": now})
    log.info("course evaluated", extra={"course_id": course_id, "band": result["band"]})
    return result


def open_followup(session: Session, course_id: str, base_url: str, now: datetime | None = None) -> int:
    """Create the L3/L4 follow-up requests (trainee and direct supervisor per attendee) with notifications."""
    course = _course(session, course_id)
    now = now or utcnow()
    on = local_today(now)
    fu_rule = active_rule(session, "followup", on)
    templates = _current_template_ids(session, on)
    deadline = now + timedelta(days=fu_rule["answer_days"])
    rows, notes = [], []
    for t in _trainees(session, course_id):
        for respondent in ("trainee", "supervisor"):
            token = _token()
            rows.append({"token": token, "course_id": course_id, "civil_servant_id": t["civil_servant_id"],
                         "respondent": respondent, "commune_code": t["commune_code"] or None,
                         "template_id": templates[f"followup_{respondent}"], "deadline": deadline,
                         "created_at": now})
            link = feedback_link(base_url, token)
            who = "anh/chị" if respondent == "trainee" else "thủ trưởng trực tiếp của công chức"
            notes.append({"id": str(uuid.uuid4()), "course_id": course_id, "civil_servant_id": t["civil_servant_id"],
                          "kind": f"followup_{respondent}", "channel": "officer", "link": link, "deadline": deadline,
                          "created_at": now,
                          "message": f"Khảo sát hiệu quả sau khóa học {course.code}: mời {who} trả lời trước "
                                     f"{vn_date(deadline)} tại {link}"})
    if rows:
        session.execute(insert_ignoring_conflicts(session, FollowupRequest.__table__), rows)
        session.execute(sa.insert(Notification), notes)
    return len(rows)


def list_followup_requests(session: Session, course_id: str, base_url: str) -> list[dict]:
    """The follow-up links of a course (officers hand the supervisor links to the supervisors)."""
    _course(session, course_id)
    return [{"civil_servant_id": r.civil_servant_id, "respondent": r.respondent, "token": r.token,
             "link": feedback_link(base_url, r.token), "deadline": r.deadline, "submitted_at": r.submitted_at}
            for r in session.scalars(sa.select(FollowupRequest).where(FollowupRequest.course_id == course_id)
                                     .order_by(FollowupRequest.civil_servant_id, FollowupRequest.respondent))]


def schedule_followup_now(session: Session, course_id: str, now: datetime | None = None) -> dict:
    """Officer action: make the course's follow-up survey due now, once 3 months have passed (e.g. the job
    failed for good, or the rule's delay was longer than this course needs)."""
    course = _course(session, course_id)
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


def run_window(session: Session, payload: dict, base_url: str, now: datetime | None = None) -> durable.Again | None:
    """The window job of a course: remind non-respondents the first time it is due, then be due again at the
    deadline, when (or as soon as everyone answered) it closes the window. None = finished."""
    now = now or utcnow()
    course_id = payload["course_id"]
    course = _course(session, course_id)
    if course.status == "closed":
        return None
    unanswered = session.scalar(sa.select(sa.func.count()).where(FeedbackRequest.course_id == course_id,
                                                                 FeedbackRequest.submitted_at.is_(None)))
    if now >= course.feedback_deadline or unanswered == 0:
        close_feedback(session, course_id, now)
        return None
    reminded = payload.get("reminded_at")
    if reminded is None:
        send_reminders(session, course_id, base_url, now)
        reminded = now.isoformat()
    return durable.Again(course.feedback_deadline, {"course_id": course_id, "reminded_at": reminded})


def run_due_jobs(session_factory, functions: dict, *, now: datetime | None = None, limit: int = 100) -> int:
    """Operator: run the due jobs now in this process (the worker's loop does this every second anyway)."""
    now_fn = (lambda: now) if now else utcnow
    return durable.run_due(session_factory, JOBS_TABLE, functions, now_fn, limit)


# --- L2: test scores -------------------------------------------------------------------------------------------

def _row_problem(errors, prefix: str, n: int, row: dict, field: str, message: str) -> None:
    """A bad input row: JSON input (no `errors`) is refused at once naming `prefix.n.field`; a file's rows are
    collected in `errors` (tabular.RowErrors) with their line, refused together once every row is checked."""
    if errors is None:
        raise Invalid(message, field=f"{prefix}.{n}.{field}")
    errors.add(row["_line"], field, message)


def record_test_scores(session: Session, course_id: str, rows: list[dict], source: str, errors=None,
                       now: datetime | None = None) -> int:
    """Insert or replace pre/post test scores of trainees of the course (all or none).

    `errors` is the tabular.RowErrors of an imported file: its cells that failed to read, to which this adds the
    rows naming someone not in the course; the file is refused with all of them."""
    _course(session, course_id)
    trainees = {t["civil_servant_id"] for t in _trainees(session, course_id)}
    for n, r in enumerate(rows):
        if (errors is None or errors.usable(r, "civil_servant_id")) and r["civil_servant_id"] not in trainees:
            _row_problem(errors, "scores", n, r, "civil_servant_id", "Công chức không tham dự lớp này.")
        if len(r.get("competency_code") or "") > 20:  # the column's width: a file is not checked by the schema
            _row_problem(errors, "scores", n, r, "competency_code", "Mã năng lực tối đa 20 ký tự.")
    if errors is not None:
        errors.raise_if_any()
    now = now or utcnow()
    keyed = {}
    for r in rows:
        keyed[(r["civil_servant_id"], r["kind"], r.get("competency_code") or "")] = r["score"]
    for (cs, kind, comp), score in keyed.items():
        session.execute(sa.delete(TestScore).where(TestScore.course_id == course_id, TestScore.civil_servant_id == cs,
                                                   TestScore.kind == kind, TestScore.competency_code == comp))
    if keyed:
        session.execute(sa.insert(TestScore), [
            {"course_id": course_id, "civil_servant_id": cs, "kind": kind, "competency_code": comp,
             "score": float(score), "source": source, "recorded_at": now} for (cs, kind, comp), score in keyed.items()])
    return len(keyed)


def list_test_scores(session: Session, course_id: str) -> list[dict]:
    """A course's test scores (officers' view: per trainee)."""
    _course(session, course_id)
    return [{"civil_servant_id": t.civil_servant_id, "kind": t.kind, "competency_code": t.competency_code or None,
             "score": t.score, "source": t.source}
            for t in session.scalars(sa.select(TestScore).where(TestScore.course_id == course_id)
                                     .order_by(TestScore.civil_servant_id, TestScore.competency_code, TestScore.kind))]


# --- L4: unit indicators ---------------------------------------------------------------------------------------

def _indicator_catalogue(session: Session, on: date | None = None) -> dict[str, str]:
    return active_rule(session, "unit_indicators", on)["indicators"]


def upsert_indicators(session: Session, rows: list[dict], source: str, errors=None,
                      now: datetime | None = None) -> int:
    """Insert or replace unit indicator values (commune, indicator, period); all or none.

    `errors` is the tabular.RowErrors of an imported file (see record_test_scores): every row is checked and the
    file refused with all its problems; JSON input is refused at its first bad item (`items.n.field`)."""
    now = now or utcnow()
    catalogue = _indicator_catalogue(session, local_today(now))
    prepared = {}
    for n, r in enumerate(rows):
        def usable(key: str) -> bool:
            return errors is None or errors.usable(r, key)
        ok = True
        if usable("commune_code") and not 1 <= len(r["commune_code"] or "") <= 40:  # the column's width
            _row_problem(errors, "items", n, r, "commune_code", "Mã xã từ 1 đến 40 ký tự.")
            ok = False
        if usable("indicator_code") and r["indicator_code"] not in catalogue:
            _row_problem(errors, "items", n, r, "indicator_code",
                         f"Chỉ số «{r['indicator_code']}» không có trong danh mục.")
            ok = False
        start = end = None
        if usable("period"):
            try:
                start, end = domain.parse_period(r["period"])
            except ValueError as exc:
                _row_problem(errors, "items", n, r, "period", str(exc))
                ok = False
        if usable("value") and not 0 <= r["value"] <= 100:
            _row_problem(errors, "items", n, r, "value", "Giá trị phải trong khoảng 0–100 (%).")
            ok = False
        if not ok or start is None or not usable("value"):
            continue  # reported: this row is refused, the others are still checked
        # One spelling per period ("2025-q1", "2025-Q01" → "2025-Q1"): the unique key must not hold it twice.
        period = (f"{start.year}-Q{(start.month + 2) // 3}" if end.month - start.month == 2
                  else f"{start.year}-{start.month:02d}")
        prepared[(r["commune_code"], r["indicator_code"], period)] = (start, end, float(r["value"]))
    if errors is not None:
        errors.raise_if_any()
    for (commune, ind, period), (start, end, value) in prepared.items():
        u = UnitIndicator
        row = session.scalar(sa.select(u).where(u.commune_code == commune, u.indicator_code == ind, u.period == period))
        if row is None:
            session.add(UnitIndicator(id=str(uuid.uuid4()), commune_code=commune, indicator_code=ind, period=period,
                                      period_start=start, period_end=end, value=value, source=source,
                                      updated_at=now))
        else:
            row.value, row.source, row.updated_at = value, source, now
    session.flush()
    return len(prepared)


def list_indicators(session: Session, commune_code: str | None = None, indicator_code: str | None = None) -> list[dict]:
    """Unit indicator values, by commune, indicator and period."""
    u = UnitIndicator
    stmt = sa.select(u).order_by(u.commune_code, u.indicator_code, u.period_start)
    if commune_code:
        stmt = stmt.where(u.commune_code == commune_code)
    if indicator_code:
        stmt = stmt.where(u.indicator_code == indicator_code)
    catalogue = _indicator_catalogue(session)
    return [{"id": r.id, "commune_code": r.commune_code, "indicator_code": r.indicator_code,
             "indicator_label": catalogue.get(r.indicator_code, r.indicator_code), "period": r.period,
             "period_start": r.period_start, "period_end": r.period_end, "value": r.value, "source": r.source}
            for r in session.scalars(stmt)]


def delete_indicator(session: Session, indicator_id: str) -> None:
    """Remove one unit indicator value (entered by mistake)."""
    row = session.get(UnitIndicator, indicator_id)
    if row is None:
        raise NotFound("Không tìm thấy giá trị chỉ số.", field="indicator_id")
    session.delete(row)


def indicator_comparison(session: Session, course_id: str) -> list[dict]:
    """Before/after the course, per commune of its trainees and per indicator: the last period ending before
    the start and the first period starting after end + the follow-up delay."""
    course = _course(session, course_id)
    if course.start_date is None:
        return []
    delay = active_rule(session, "followup")["delay_days"]
    communes = sorted({t["commune_code"] for t in _trainees(session, course_id) if t["commune_code"]})
    catalogue = _indicator_catalogue(session)
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

def _privacy(session: Session) -> int:
    return active_rule(session, "report_privacy")["min_group_size"]


def course_summary(session: Session, course_id: str) -> dict:
    """Aggregate a course's feedback anonymously: response rate, means per indicator/criterion/object, index and
    band, lecturer scores (suppressed under the privacy threshold), learning gain; the frozen result once closed."""
    course = _course(session, course_id)
    result = course.result if course.status == "closed" and course.result else compute_result(session, course)
    minimum = _privacy(session)
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


def _closed_courses(session: Session, year: int | None) -> list[EvaluatedCourse]:
    """Closed courses (their result is frozen), of the year the course ended in when given."""
    c = EvaluatedCourse
    stmt = sa.select(c).where(c.status == "closed").order_by(c.end_date, c.code)
    if year:
        stmt = stmt.where(c.end_date.between(date(year, 1, 1), date(year, 12, 31)))
    return list(session.scalars(stmt))


def _wmean(pairs) -> float | None:
    pairs = [(v, w) for v, w in pairs if v is not None and w]
    total = sum(w for _, w in pairs)
    return round(sum(v * w for v, w in pairs) / total, 2) if total else None


def _gain_of(result: dict) -> float | None:
    gains = [g for g in result["learning_gain"] if g["gain"] is not None]
    overall = [g for g in gains if g["competency_code"] is None]
    chosen = overall or gains
    return _wmean((g["gain"], g.get("paired", 1)) for g in chosen)


def report_courses(session: Session, year: int | None = None, topic_code: str | None = None) -> list[dict]:
    """One row per evaluated course: index, band, response rate, learning gain (index and band hidden for a
    course with fewer valid forms than the privacy threshold)."""
    minimum, keys = _privacy(session), ("index", "band")
    rows = domain.suppress_small(_course_rows(session, year, topic_code), "valid_responses", minimum, keys)
    # The courses of a topic add up to the topic's row, all of them to the year's: a hidden course must not come
    # back by subtraction from either (secondary suppression).
    groups = [[n for n, r in enumerate(rows) if (r["topic_code"] or "") == t] for t in sorted({r["topic_code"] or "" for r in rows})]
    groups.append(list(range(len(rows))))
    hidden = -1
    while hidden != (hidden := sum(r["suppressed"] for r in rows)):  # hiding in one group may expose another
        for members in groups:
            domain.hide_complements(rows, "valid_responses", minimum, keys, members)
    return rows


def _course_rows(session: Session, year: int | None = None, topic_code: str | None = None) -> list[dict]:
    """The per-course rows before suppression (grouped reports aggregate these, then suppress the groups)."""
    out = []
    for c in _closed_courses(session, year):
        if topic_code and c.topic_code != topic_code:
            continue
        r = c.result
        out.append({"course_id": c.course_id, "course_code": c.code, "course_title": c.title,
                    "topic_code": c.topic_code, "end_date": c.end_date, "requests": r["request_count"],
                    "responses": r["responses"], "valid_responses": r["valid_responses"],
                    "response_rate": r["response_rate"], "index": r["general_index"], "band": r["band"],
                    "gain": _gain_of(r), "excellent_learners": len(r["excellent_learners"])})
    return out


def _bands(session: Session) -> list[tuple]:
    return [tuple(b) for b in active_rule(session, "scoring")["bands"]]


def _group(rows: list[dict], key: str, session: Session) -> list[dict]:
    groups: dict = {}
    for r in rows:
        groups.setdefault(r[key], []).append(r)
    bands = _bands(session)
    minimum = _privacy(session)
    out = []
    for k in sorted(groups, key=lambda x: (x is None, str(x))):
        g = groups[k]
        index = _wmean((r["index"], r["valid_responses"]) for r in g)
        out.append({key: k, "courses": len(g), "requests": sum(r["requests"] for r in g),
                    "responses": sum(r["responses"] for r in g),
                    "valid_responses": sum(r["valid_responses"] for r in g),
                    "response_rate": round(sum(r["responses"] for r in g) / max(1, sum(r["requests"] for r in g)), 4),
                    "index": index, "band": domain.band(index, bands)[0] if index is not None else None,
                    "gain": _wmean((r["gain"], 1) for r in g),
                    "excellent_learners": sum(r["excellent_learners"] for r in g)})
    # Topics add up to the year: hide complements too. Years are not summed anywhere, so no complement there.
    return domain.suppress_small(out, "valid_responses", minimum, ("index", "band"), complement=key != "year")


def report_topics(session: Session, year: int | None = None) -> list[dict]:
    """Per topic: courses, responses, index (weighted by valid forms) and band, mean learning gain."""
    return _group(_course_rows(session, year), "topic_code", session)


def report_years(session: Session) -> list[dict]:
    """Per year of the course end."""
    rows = [{**r, "year": (r["end_date"].year if r["end_date"] else None)} for r in _course_rows(session)]
    return _group(rows, "year", session)


def report_lecturers(session: Session, year: int | None = None) -> list[dict]:
    """Per lecturer over the year's courses: mean (weighted by forms), band, forms, courses; suppressed under the
    privacy threshold."""
    acc: dict[str, list] = {}
    for c in _closed_courses(session, year):
        for lec in c.result["lecturer_scores"]:
            acc.setdefault(lec["lecturer_id"], []).append(lec)
    bands = _bands(session)
    minimum = _privacy(session)
    rows = []
    for lid in sorted(acc):
        mean = _wmean((x["mean"], x["responses"]) for x in acc[lid])
        rows.append({"lecturer_id": lid, "courses": len(acc[lid]), "responses": sum(x["responses"] for x in acc[lid]),
                     "mean": mean, "band": domain.band(mean, bands)[0] if mean is not None else None})
    rows = domain.suppress_small(rows, "responses", minimum, ("mean", "band"))
    for row in rows:
        # The course summaries show this lecturer's mean per course except where hidden: if the hidden courses
        # hold fewer than `minimum` forms together, the year's mean gives them back by subtraction.
        hidden = sum(x["responses"] for x in acc[row["lecturer_id"]] if x["responses"] < minimum)
        if not row["suppressed"] and 0 < hidden < minimum:
            row.update(mean=None, band=None, suppressed=True)
    return rows


def report_communes(session: Session, year: int | None = None) -> list[dict]:
    """Per sending commune: trainees, response rate, satisfaction (valid forms' mean), learning gain, excellent
    learners; satisfaction suppressed under the privacy threshold."""
    courses = {c.course_id: c for c in _closed_courses(session, year)}
    if not courses:
        return []
    ids = list(courses)
    commune_of = {(cid, cs): commune for cid, c in courses.items() for cs, commune in _commune_of(c.roster).items()}
    counts: dict = {}
    for cid, cs, submitted in session.execute(sa.select(
            FeedbackRequest.course_id, FeedbackRequest.civil_servant_id, FeedbackRequest.submitted_at)
            .where(FeedbackRequest.course_id.in_(ids))):
        n = counts.setdefault(commune_of.get((cid, cs)), [0, 0])
        n[0] += 1
        n[1] += submitted is not None
    reqs = [(commune, n, answered) for commune, (n, answered) in counts.items()]
    forms: dict[str, list[float]] = {}
    for commune, scores, valid in session.execute(sa.select(
            FeedbackResponse.commune_code, FeedbackResponse.scores, FeedbackResponse.valid)
            .where(FeedbackResponse.course_id.in_(ids))):
        vals = [v for v in scores.values() if v is not None]
        if valid and vals:
            forms.setdefault(commune, []).append(sum(vals) / len(vals))
    trainee_commune = commune_of
    gains: dict[str, list[float]] = {}
    tests: dict[tuple, dict] = {}
    for t in session.scalars(sa.select(TestScore).where(TestScore.course_id.in_(ids))):
        tests.setdefault((t.course_id, t.civil_servant_id, t.competency_code), {})[t.kind] = t.score
    for (cid, cs, _), kinds in tests.items():
        if "pre" in kinds and "post" in kinds:
            gains.setdefault(trainee_commune.get((cid, cs)), []).append(kinds["post"] - kinds["pre"])
    excellent: dict[str, int] = {}
    for c in courses.values():
        for x in c.result["excellent_learners"]:
            excellent[x["commune_code"]] = excellent.get(x["commune_code"], 0) + 1
    bands = _bands(session)
    rows = []
    for commune, n, answered in sorted(reqs, key=lambda r: str(r[0])):
        f = forms.get(commune, [])
        mean = round(sum(f) / len(f), 2) if f else None
        g = gains.get(commune, [])
        rows.append({"commune_code": commune, "trainees": n, "responses": answered,
                     "response_rate": round(answered / n, 4) if n else 0.0, "valid_responses": len(f),
                     "satisfaction": mean, "band": domain.band(mean, bands)[0] if mean is not None else None,
                     "gain": round(sum(g) / len(g), 2) if g else None,
                     "excellent_learners": excellent.get(commune, 0)})
    return domain.suppress_small(rows, "valid_responses", _privacy(session), ("satisfaction", "band"),
                                 complement=True)


def followup_summary(session: Session, course_id: str) -> dict:
    """L3/L4 for one course: follow-up answers by respondent (means per indicator), and unit indicators."""
    _course(session, course_id)
    minimum = _privacy(session)
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
