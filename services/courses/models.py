"""Tables owned by the courses service."""
from __future__ import annotations

import datetime as dt
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.access_log import access_log_table
from shared.console_ops import console_tables
from shared.db import UTCDateTime, messaging_tables
from shared.outbox import Outbox
from shared.rules import Columns


class Base(DeclarativeBase):
    pass


OUTBOX_TABLE, INBOX_TABLE = messaging_tables(Base.metadata)
CONSOLE_TABLES = console_tables(Base.metadata)  # the operations console's tracked operations (shared.console_ops)
ACCESS_LOG = access_log_table(Base.metadata)  # who read or wrote which record (shared.access_log, issue 14)
OUTBOX = Outbox("courses", OUTBOX_TABLE)


class Trainee(Base):
    """Local copy of a civil servant, from needs' registry events (no names: not needed here)."""

    __tablename__ = "trainees"
    civil_servant_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40))
    unit_code: Mapped[str] = mapped_column(sa.String(40))
    commune_code: Mapped[str] = mapped_column(sa.String(40), index=True)
    position_code: Mapped[str] = mapped_column(sa.String(40))
    female: Mapped[bool] = mapped_column(sa.Boolean)
    ethnic_minority: Mapped[bool] = mapped_column(sa.Boolean)
    hard_area: Mapped[bool] = mapped_column(sa.Boolean)
    child_under_36_months: Mapped[bool] = mapped_column(sa.Boolean)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    employment_status: Mapped[str] = mapped_column(sa.String(20), server_default="active")  # active|on_leave|left
    left_on: Mapped[dt.date | None] = mapped_column(sa.Date)


class Topic(Base):
    """A training topic ("chuyên đề") with its content area and the competencies it builds."""

    __tablename__ = "topics"
    code: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(300))
    content_area: Mapped[str] = mapped_column(sa.String(40))
    competency_codes: Mapped[list] = mapped_column(sa.JSON)
    fostering_types: Mapped[list] = mapped_column(sa.JSON)


class LengthRule(Base):
    """Length cap of a fostering type as versioned data (NĐ 101/2017 as amended; NĐ 171/2025)."""

    __tablename__ = "length_rules"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    fostering_type: Mapped[str] = mapped_column(sa.String(20))
    variant: Mapped[str | None] = mapped_column(sa.String(40))  # e.g. rank level chuyen_vien | chinh | cao_cap
    max_days: Mapped[int | None] = mapped_column(sa.Integer)
    max_block_working_days: Mapped[int | None] = mapped_column(sa.Integer)
    legal_basis: Mapped[str] = mapped_column(sa.String(300))
    valid_from: Mapped[dt.date] = mapped_column(sa.Date)
    valid_to: Mapped[dt.date | None] = mapped_column(sa.Date)
    is_sample: Mapped[bool] = mapped_column(sa.Boolean, default=False)


class LecturerStandard(Base):
    """Minimum qualifications of a lecturer as versioned data (seed §5.1) [C: sample values]."""

    __tablename__ = "lecturer_standards"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    min_degree: Mapped[str] = mapped_column(sa.String(30))
    require_pedagogy: Mapped[bool] = mapped_column(sa.Boolean)
    min_years_experience: Mapped[int] = mapped_column(sa.Integer)
    legal_basis: Mapped[str] = mapped_column(sa.String(300))
    valid_from: Mapped[dt.date] = mapped_column(sa.Date)
    valid_to: Mapped[dt.date | None] = mapped_column(sa.Date)
    is_sample: Mapped[bool] = mapped_column(sa.Boolean, default=False)


class CommuneDutyRule(Base):
    """Most a commune may send away on one day, in % of its staff, as versioned data; commune_code '*' is the
    default [C: a client rule, not a regulation]. The version in force on the session date applies."""

    __tablename__ = "commune_duty_rules"
    __version_columns__ = Columns(legal_basis="note")
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    commune_code: Mapped[str] = mapped_column(sa.String(40), index=True)
    max_absent_percent: Mapped[int] = mapped_column(sa.Integer)
    note: Mapped[str] = mapped_column(sa.String(300))  # the decision or client instruction behind the value
    valid_from: Mapped[dt.date] = mapped_column(sa.Date)
    valid_to: Mapped[dt.date | None] = mapped_column(sa.Date)
    is_sample: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BuoiTime(Base):
    """Local start and end of a buổi (HH:MM, Asia/Ho_Chi_Minh) as versioned data: the version in force on the
    session date gives its default times."""

    __tablename__ = "buoi_times"
    __version_columns__ = Columns(legal_basis="note")
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    buoi: Mapped[str] = mapped_column(sa.String(10))
    start_local: Mapped[str] = mapped_column(sa.String(5))
    end_local: Mapped[str] = mapped_column(sa.String(5))
    note: Mapped[str] = mapped_column(sa.String(300), server_default="")
    valid_from: Mapped[dt.date] = mapped_column(sa.Date)
    valid_to: Mapped[dt.date | None] = mapped_column(sa.Date)
    is_sample: Mapped[bool] = mapped_column(sa.Boolean, default=False)


class CourseRule(Base):
    """A numeric course rule as versioned data: `pass_score` (TT 01/2018: every test ≥ 5/10 for a certificate)
    and `periods_per_buoi` (tiết per buổi: 4 in recent provincial norms, 5 in older ones [C])."""

    __tablename__ = "course_rules"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(40))
    value: Mapped[float] = mapped_column(sa.Float)
    legal_basis: Mapped[str] = mapped_column(sa.String(300))
    valid_from: Mapped[dt.date] = mapped_column(sa.Date)
    valid_to: Mapped[dt.date | None] = mapped_column(sa.Date)
    is_sample: Mapped[bool] = mapped_column(sa.Boolean, default=False)


class CertificateCounter(Base):
    """Last certificate number issued per year: numbers are issued once, in order."""

    __tablename__ = "certificate_counters"
    year: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    last_no: Mapped[int] = mapped_column(sa.Integer)


class Lecturer(Base):
    __tablename__ = "lecturers"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    tier: Mapped[int] = mapped_column(sa.Integer)  # fee tier per the provincial resolution (1 = highest)
    degree: Mapped[str | None] = mapped_column(sa.String(30))
    pedagogy_certificate: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    years_experience: Mapped[int | None] = mapped_column(sa.Integer)
    organisation: Mapped[str | None] = mapped_column(sa.String(200))
    qualifications: Mapped[str | None] = mapped_column(sa.String(500))
    topic_codes: Mapped[list | None] = mapped_column(sa.JSON)


class LecturerRating(Base):
    """A lecturer's score in one evaluated course (evaluation.course_evaluated), kept as history."""

    __tablename__ = "lecturer_ratings"
    lecturer_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    course_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    mean: Mapped[float] = mapped_column(sa.Float)
    band: Mapped[str] = mapped_column(sa.String(20))
    responses: Mapped[int] = mapped_column(sa.Integer)
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Venue(Base):
    __tablename__ = "venues"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    address: Mapped[str] = mapped_column(sa.String(300))
    capacity: Mapped[int] = mapped_column(sa.Integer)
    province_code: Mapped[str] = mapped_column(sa.String(20), server_default="CM")
    facilities: Mapped[list | None] = mapped_column(sa.JSON)
    distances: Mapped[list["VenueDistance"]] = relationship(order_by="VenueDistance.commune_code",
                                                            cascade="all, delete-orphan", lazy="selectin")


class VenueDistance(Base):
    """One-way distance in whole km from a commune to a venue (drives travel support)."""

    __tablename__ = "venue_distances"
    venue_id: Mapped[str] = mapped_column(sa.ForeignKey("venues.id"), primary_key=True)
    commune_code: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    km: Mapped[int] = mapped_column(sa.Integer)


class Course(Base):
    __tablename__ = "courses"
    __table_args__ = (sa.UniqueConstraint("plan_line_id", name="uq_courses_plan_line_id"),)
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    title: Mapped[str] = mapped_column(sa.String(300))
    organizer_unit_code: Mapped[str] = mapped_column(sa.String(40))
    # draft → scheduled → (awaiting_funds) → confirmed → in_progress → completed → closed; or cancelled
    status: Mapped[str] = mapped_column(sa.String(20), default="draft")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    feedback_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    feedback_request_count: Mapped[int | None] = mapped_column(sa.Integer)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    settlement_total: Mapped[int | None] = mapped_column(sa.BigInteger)  # whole VND
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    topic_code: Mapped[str | None] = mapped_column(sa.String(40))
    fostering_type: Mapped[str | None] = mapped_column(sa.String(20))
    fostering_variant: Mapped[str | None] = mapped_column(sa.String(40))
    form: Mapped[str] = mapped_column(sa.String(20), server_default="in_person")
    venue_id: Mapped[str | None] = mapped_column(sa.ForeignKey("venues.id", name="fk_courses_venue_id"))
    capacity: Mapped[int | None] = mapped_column(sa.Integer)
    excused_max_percent: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    plan_id: Mapped[str | None] = mapped_column(sa.String(36))
    plan_line_id: Mapped[str | None] = mapped_column(sa.String(36))
    revision: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    # What the trainees were last told (issue 13): the calendar's SEQUENCE and a fingerprint of the sessions and venue
    # it showed; a confirmation with another fingerprint is a change (a new SEQUENCE), with the same one it is not.
    notice_sequence: Mapped[int | None] = mapped_column(sa.Integer)
    notice_fingerprint: Mapped[str | None] = mapped_column(sa.String(64))
    # What each lecturer was last told (issue 13): {lecturer_id: {"seq", "fp", "active"}} — their own calendar's
    # SEQUENCE, a fingerprint of their sessions, and whether they still teach in the course
    lecturer_notices: Mapped[dict | None] = mapped_column(sa.JSON)
    status_reason: Mapped[str | None] = mapped_column(sa.Text)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reservation_id: Mapped[str | None] = mapped_column(sa.String(36))
    estimate_total: Mapped[int | None] = mapped_column(sa.BigInteger)  # whole VND
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    venue: Mapped[Venue | None] = relationship(lazy="joined")
    sessions: Mapped[list["CourseSession"]] = relationship(
        order_by=lambda: (CourseSession.date, sa.case((CourseSession.buoi == "morning", 0), else_=1)),
        cascade="all, delete-orphan")


class CourseSession(Base):
    __tablename__ = "course_sessions"
    __table_args__ = (sa.UniqueConstraint("course_id", "date", "buoi"),
                      sa.Index("ix_course_sessions_date_buoi", "date", "buoi"),
                      sa.UniqueConstraint("checkin_token", name="uq_course_sessions_checkin_token"))
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    course_id: Mapped[str] = mapped_column(sa.ForeignKey("courses.id"), index=True)
    date: Mapped[dt.date] = mapped_column(sa.Date)
    buoi: Mapped[str] = mapped_column(sa.String(10))
    periods: Mapped[int] = mapped_column(sa.Integer, default=4)  # tiết per buổi (course_rules periods_per_buoi)
    lecturer_id: Mapped[str] = mapped_column(sa.ForeignKey("lecturers.id"))
    lecturer: Mapped[Lecturer] = relationship(lazy="joined")
    venue_id: Mapped[str | None] = mapped_column(sa.ForeignKey("venues.id", name="fk_course_sessions_venue_id"))
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checkin_token: Mapped[str | None] = mapped_column(sa.String(64))


class CourseCandidate(Base):
    """A civil servant named by the approved plan line a course was proposed from, with the needs behind it."""

    __tablename__ = "course_candidates"
    course_id: Mapped[str] = mapped_column(sa.ForeignKey("courses.id"), primary_key=True)
    civil_servant_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    commune_code: Mapped[str] = mapped_column(sa.String(40))
    priority_score: Mapped[float] = mapped_column(sa.Float)
    need_ids: Mapped[list] = mapped_column(sa.JSON)
    rank: Mapped[int] = mapped_column(sa.Integer)


class Enrollment(Base):
    __tablename__ = "enrollments"
    __table_args__ = (sa.Index("ix_enrollments_cs_status", "civil_servant_id", "status"),
                      sa.UniqueConstraint("token", name="uq_enrollments_token"),
                      sa.UniqueConstraint("certificate_no", name="uq_enrollments_certificate_no"))
    course_id: Mapped[str] = mapped_column(sa.ForeignKey("courses.id"), primary_key=True)
    civil_servant_id: Mapped[str] = mapped_column(sa.ForeignKey("trainees.civil_servant_id"), primary_key=True)
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(sa.String(20), server_default="enrolled")  # enrolled|waitlisted|withdrawn
    priority_score: Mapped[float | None] = mapped_column(sa.Float)
    need_ids: Mapped[list | None] = mapped_column(sa.JSON)
    status_reason: Mapped[str | None] = mapped_column(sa.Text)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    token: Mapped[str | None] = mapped_column(sa.String(64))  # per-enrollment check-in identity
    certified: Mapped[bool | None] = mapped_column(sa.Boolean)
    certificate_no: Mapped[str | None] = mapped_column(sa.String(40))


class Attendance(Base):
    __tablename__ = "attendance"
    session_id: Mapped[str] = mapped_column(sa.ForeignKey("course_sessions.id"), primary_key=True)
    civil_servant_id: Mapped[str] = mapped_column(sa.ForeignKey("trainees.civil_servant_id"), primary_key=True)
    present: Mapped[bool] = mapped_column(sa.Boolean)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    excused: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    method: Mapped[str] = mapped_column(sa.String(10), server_default="list")  # list | qr
    # confirmed (an officer's list or sheet, or a self check-in the officer confirmed) | pending (a trainee's own
    # QR check-in, not counted yet) | rejected (the officer refused it: not present). Only confirmed counts.
    confirmation: Mapped[str] = mapped_column(sa.String(10), server_default="confirmed")
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when the officer confirmed or rejected it


class CheckinFailure(Base):
    """One refused check-in attempt (unknown link or personal token, a staff code instead of a personal link), kept
    for the attempt limits: counted per session link and per client over a sliding window, in the database so every
    gunicorn worker sees the same count. The client is a keyed hash of its address, never the address itself."""

    __tablename__ = "checkin_failures"
    __table_args__ = (sa.Index("ix_checkin_failures_session_at", "session_id", "failed_at"),
                      sa.Index("ix_checkin_failures_client_at", "client_key", "failed_at"))
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str | None] = mapped_column(sa.String(36))  # the session link tried, if it exists
    client_key: Mapped[str] = mapped_column(sa.String(64))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class TestResult(Base):
    """A test score 0–10 (pre/post/module, per competency or '' for the course as a whole)."""

    __tablename__ = "test_results"
    course_id: Mapped[str] = mapped_column(sa.ForeignKey("courses.id"), primary_key=True)
    civil_servant_id: Mapped[str] = mapped_column(sa.ForeignKey("trainees.civil_servant_id"), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(10), primary_key=True)
    competency_code: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    score: Mapped[float] = mapped_column(sa.Float)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
