"""Tables owned by the courses service."""
from __future__ import annotations

import datetime as dt
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import UTCDateTime, messaging_tables
from shared.outbox import Outbox


class Base(DeclarativeBase):
    pass


OUTBOX_TABLE, INBOX_TABLE = messaging_tables(Base.metadata)
OUTBOX = Outbox("courses", OUTBOX_TABLE)


class Trainee(Base):
    """Local copy of a civil servant, from needs.civil_servant_registered (no names: not needed here)."""

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


class Lecturer(Base):
    __tablename__ = "lecturers"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    tier: Mapped[int] = mapped_column(sa.Integer)  # fee tier per the provincial resolution (1 = highest)


class Course(Base):
    __tablename__ = "courses"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    title: Mapped[str] = mapped_column(sa.String(300))
    organizer_unit_code: Mapped[str] = mapped_column(sa.String(40))
    status: Mapped[str] = mapped_column(sa.String(20), default="scheduled")  # scheduled → completed → closed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    feedback_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    feedback_request_count: Mapped[int | None] = mapped_column(sa.Integer)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    settlement_total: Mapped[int | None] = mapped_column(sa.BigInteger)  # whole VND
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sessions: Mapped[list["CourseSession"]] = relationship(order_by="(CourseSession.date, CourseSession.buoi)",
                                                           cascade="all, delete-orphan")


class CourseSession(Base):
    __tablename__ = "course_sessions"
    __table_args__ = (sa.UniqueConstraint("course_id", "date", "buoi"),)
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    course_id: Mapped[str] = mapped_column(sa.ForeignKey("courses.id"), index=True)
    date: Mapped[dt.date] = mapped_column(sa.Date)
    buoi: Mapped[str] = mapped_column(sa.String(10))
    periods: Mapped[int] = mapped_column(sa.Integer, default=4)  # tiết per buổi (4 in recent norms) [C]
    lecturer_id: Mapped[str] = mapped_column(sa.ForeignKey("lecturers.id"))
    lecturer: Mapped[Lecturer] = relationship(lazy="joined")


class Enrollment(Base):
    __tablename__ = "enrollments"
    course_id: Mapped[str] = mapped_column(sa.ForeignKey("courses.id"), primary_key=True)
    civil_servant_id: Mapped[str] = mapped_column(sa.ForeignKey("trainees.civil_servant_id"), primary_key=True)
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Attendance(Base):
    __tablename__ = "attendance"
    session_id: Mapped[str] = mapped_column(sa.ForeignKey("course_sessions.id"), primary_key=True)
    civil_servant_id: Mapped[str] = mapped_column(sa.ForeignKey("trainees.civil_servant_id"), primary_key=True)
    present: Mapped[bool] = mapped_column(sa.Boolean)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
