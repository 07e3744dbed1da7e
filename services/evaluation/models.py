"""Tables owned by the evaluation service."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.access_log import access_log_table
from shared.console_ops import console_tables
from shared.db import UTCDateTime, messaging_tables
from shared.jobs import job_table
from shared.outbox import Outbox


class Base(DeclarativeBase):
    pass


OUTBOX_TABLE, INBOX_TABLE = messaging_tables(Base.metadata)
CONSOLE_TABLES = console_tables(Base.metadata)  # the operations console's tracked operations (shared.console_ops)
ACCESS_LOG = access_log_table(Base.metadata)  # who read or wrote which record (shared.access_log, issue 14)
OUTBOX = Outbox("evaluation", OUTBOX_TABLE)
# Durable jobs (shared.jobs): `window` (one per course, key "window:<course id>": reminds non-respondents when
# first due, then is due again at the deadline and closes the window) and `followup` ("followup:<course id>").
JOBS_TABLE = job_table(Base.metadata)


class EvaluatedCourse(Base):
    """A completed course whose feedback is collected; one row per course makes a second opening impossible."""

    __tablename__ = "evaluated_courses"
    course_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40))
    title: Mapped[str] = mapped_column(sa.String(300))
    completed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    feedback_deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    participants: Mapped[int] = mapped_column(sa.Integer)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Added in 0002 (nullable: courses opened before it carry none of these).
    topic_code: Mapped[str | None] = mapped_column(sa.String(40))
    start_date: Mapped[date | None] = mapped_column(sa.Date)
    end_date: Mapped[date | None] = mapped_column(sa.Date)
    lecturer_ids: Mapped[list | None] = mapped_column(sa.JSON)
    competency_codes: Mapped[list | None] = mapped_column(sa.JSON)
    template_id: Mapped[str | None] = mapped_column(sa.String(36))
    lecturer_template_id: Mapped[str | None] = mapped_column(sa.String(36))
    status: Mapped[str] = mapped_column(sa.String(20), server_default="open")  # open | closed
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[dict | None] = mapped_column(sa.JSON)  # the course_evaluated payload, kept for reports
    # {"communes": {commune_code: [civil_servant_id…]}, "uncertified": [civil_servant_id…]} of the attendees: one
    # value per course rather than two columns on each of its trainees' rows, which keeps opening a 40-trainee
    # course cheap (tools/bench.py). It is also who was asked for feedback (one request per attendee).
    roster: Mapped[dict | None] = mapped_column(sa.JSON)
    # Added in 0008: the course's public handle inside its trainees' links and the secret key their tokens are
    # computed with (shared.capability); NULL for the courses opened before, whose random
    # tokens are kept in feedback_legacy_tokens.
    feedback_handle: Mapped[str | None] = mapped_column(sa.String(16), unique=True, index=True)
    feedback_key: Mapped[str | None] = mapped_column(sa.String(64))


class FeedbackSubmission(Base):
    """That a trainee has answered the course form, and when (the primary key makes a second answer impossible).

    Nothing per trainee is written when a window opens (issue 16): who was asked is the course's roster, each
    trainee's link is computed from the course's handle and key (shared.capability), and the reminders a
    trainee was sent are their notification records. This row is written by the answer itself.
    """

    __tablename__ = "feedback_submissions"
    course_id: Mapped[str] = mapped_column(sa.ForeignKey("evaluated_courses.course_id"), primary_key=True)
    civil_servant_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LegacyFeedbackToken(Base):
    """The random tokens of the courses opened before migration 0008 (already sent to their trainees, so kept
    valid): one per trainee of such a course. Courses opened since have a handle and a key instead."""

    __tablename__ = "feedback_legacy_tokens"
    token: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    course_id: Mapped[str] = mapped_column(sa.ForeignKey("evaluated_courses.course_id"), index=True)
    civil_servant_id: Mapped[str] = mapped_column(sa.String(36))


class FeedbackResponse(Base):
    """The answers, kept apart from the request so that reports aggregate without naming anyone."""

    __tablename__ = "feedback_responses"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    course_id: Mapped[str] = mapped_column(sa.ForeignKey("evaluated_courses.course_id"), index=True)
    scores: Mapped[dict] = mapped_column(sa.JSON)
    comment: Mapped[str | None] = mapped_column(sa.Text)
    valid: Mapped[bool] = mapped_column(sa.Boolean)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Added in 0002: per-lecturer forms {lecturer_id: {indicator: score}}, free texts, the sending commune (for
    # per-commune reports, which suppress groups under the privacy threshold).
    lecturer_scores: Mapped[dict | None] = mapped_column(sa.JSON)
    texts: Mapped[dict | None] = mapped_column(sa.JSON)
    commune_code: Mapped[str | None] = mapped_column(sa.String(40))


class RuleVersion(Base):
    """A value set by a regulation or by the client, as versioned data (legal basis, validity dates)."""

    __tablename__ = "rule_versions"
    __table_args__ = (sa.UniqueConstraint("code", "valid_from"),)
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40))
    valid_from: Mapped[date] = mapped_column(sa.Date)
    valid_to: Mapped[date | None] = mapped_column(sa.Date)
    legal_basis: Mapped[str] = mapped_column(sa.String(300))
    params: Mapped[dict] = mapped_column(sa.JSON)
    is_sample: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class QuestionItem(Base):
    """The question bank: one item per evaluated object and criterion (scored 1–10) or a free-text item."""

    __tablename__ = "question_bank"
    code: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    object_code: Mapped[str] = mapped_column(sa.String(20))
    criterion_code: Mapped[str] = mapped_column(sa.String(40))
    label: Mapped[str] = mapped_column(sa.String(300))
    kind: Mapped[str] = mapped_column(sa.String(10))  # score | text
    purpose: Mapped[str] = mapped_column(sa.String(30))  # course | lecturer | followup_trainee | followup_supervisor


class FormTemplate(Base):
    """A versioned form: an immutable snapshot of its items (a new version is a new row)."""

    __tablename__ = "form_templates"
    __table_args__ = (sa.UniqueConstraint("code", "version"),)
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40))
    version: Mapped[int] = mapped_column(sa.Integer)
    purpose: Mapped[str] = mapped_column(sa.String(30))
    title: Mapped[str] = mapped_column(sa.String(300))
    items: Mapped[list] = mapped_column(sa.JSON)  # [{code, object, criterion, label, kind}]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TestScore(Base):
    """A pre- or post-test score of one trainee (competency '' = the course as a whole), 0–10."""

    __tablename__ = "test_scores"
    course_id: Mapped[str] = mapped_column(sa.ForeignKey("evaluated_courses.course_id"), primary_key=True)
    civil_servant_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(10), primary_key=True)  # pre | post
    competency_code: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    score: Mapped[float] = mapped_column(sa.Float)
    source: Mapped[str] = mapped_column(sa.String(10))  # event | api | import
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Notification(Base):
    """The inspectable record of a message to a person (reminder, follow-up invitation); a gateway may send it."""

    __tablename__ = "notifications"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    course_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    civil_servant_id: Mapped[str] = mapped_column(sa.String(36))
    kind: Mapped[str] = mapped_column(sa.String(30))  # feedback_reminder | followup_trainee | followup_supervisor
    channel: Mapped[str] = mapped_column(sa.String(20))  # event (evaluation.feedback_reminder_issued) | officer
    link: Mapped[str] = mapped_column(sa.String(300))
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    message: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FollowupRequest(Base):
    """L3/L4 survey months after the course: one for the trainee and one for the direct supervisor."""

    __tablename__ = "followup_requests"
    __table_args__ = (sa.UniqueConstraint("course_id", "civil_servant_id", "respondent"),)
    token: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    course_id: Mapped[str] = mapped_column(sa.ForeignKey("evaluated_courses.course_id"), index=True)
    civil_servant_id: Mapped[str] = mapped_column(sa.String(36))  # the trainee assessed (or answering)
    respondent: Mapped[str] = mapped_column(sa.String(20))  # trainee | supervisor
    commune_code: Mapped[str | None] = mapped_column(sa.String(40))
    template_id: Mapped[str] = mapped_column(sa.String(36))
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FollowupResponse(Base):
    """Follow-up answers, kept apart from the request (anonymous like the course feedback)."""

    __tablename__ = "followup_responses"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    course_id: Mapped[str] = mapped_column(sa.ForeignKey("evaluated_courses.course_id"), index=True)
    respondent: Mapped[str] = mapped_column(sa.String(20))
    commune_code: Mapped[str | None] = mapped_column(sa.String(40))
    scores: Mapped[dict] = mapped_column(sa.JSON)
    texts: Mapped[dict | None] = mapped_column(sa.JSON)
    valid: Mapped[bool] = mapped_column(sa.Boolean)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UnitIndicator(Base):
    """An L4 unit indicator of a commune for one period (month YYYY-MM or quarter YYYY-Qn)."""

    __tablename__ = "unit_indicators"
    __table_args__ = (sa.UniqueConstraint("commune_code", "indicator_code", "period"),)
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    commune_code: Mapped[str] = mapped_column(sa.String(40))
    indicator_code: Mapped[str] = mapped_column(sa.String(40))
    period: Mapped[str] = mapped_column(sa.String(10))
    period_start: Mapped[date] = mapped_column(sa.Date)
    period_end: Mapped[date] = mapped_column(sa.Date)
    value: Mapped[float] = mapped_column(sa.Float)
    source: Mapped[str] = mapped_column(sa.String(10))  # api | import
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
