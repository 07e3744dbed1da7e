"""Tables owned by the evaluation service."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import UTCDateTime, messaging_tables
from shared.outbox import Outbox


class Base(DeclarativeBase):
    pass


OUTBOX_TABLE, INBOX_TABLE = messaging_tables(Base.metadata)
OUTBOX = Outbox("evaluation", OUTBOX_TABLE)


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


class FeedbackRequest(Base):
    """One per attending trainee and course (the primary key makes a second one impossible).

    Deadline and creation time are the course's (feedback_deadline, opened_at): kept once, not per row.
    """

    __tablename__ = "feedback_requests"
    course_id: Mapped[str] = mapped_column(sa.ForeignKey("evaluated_courses.course_id"), primary_key=True)
    civil_servant_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    token: Mapped[str] = mapped_column(sa.String(64), unique=True)  # the trainee's capability to answer
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FeedbackResponse(Base):
    """The answers, kept apart from the request so that reports aggregate without naming anyone."""

    __tablename__ = "feedback_responses"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    course_id: Mapped[str] = mapped_column(sa.ForeignKey("evaluated_courses.course_id"), index=True)
    scores: Mapped[dict] = mapped_column(sa.JSON)
    comment: Mapped[str | None] = mapped_column(sa.Text)
    valid: Mapped[bool] = mapped_column(sa.Boolean)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
