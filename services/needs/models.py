"""Tables owned by the needs service."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.access_log import access_log_table
from shared.console_ops import console_tables
from shared.db import UTCDateTime, messaging_tables
from shared.jobs import job_table
from shared.outbox import Outbox
from shared.rules import Columns


class Base(DeclarativeBase):
    pass


OUTBOX_TABLE, INBOX_TABLE = messaging_tables(Base.metadata)
CONSOLE_TABLES = console_tables(Base.metadata)  # the operations console's tracked operations (shared.console_ops)
ACCESS_LOG = access_log_table(Base.metadata)  # who read or wrote which record (shared.access_log, issue 14)
OUTBOX = Outbox("needs", OUTBOX_TABLE)
JOBS_TABLE = job_table(Base.metadata)  # durable jobs (shared.jobs): closing large campaigns
# One durable job per delivery (issue 13), in a table of its own: the sender claims only deliveries.
DELIVERY_JOBS = job_table(Base.metadata, "delivery_jobs")


class Unit(Base):
    __tablename__ = "units"
    code: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(20))
    province_code: Mapped[str] = mapped_column(sa.String(20), default="CM")
    valid_from: Mapped[date] = mapped_column(sa.Date)
    valid_to: Mapped[date | None] = mapped_column(sa.Date)
    parent_code: Mapped[str | None] = mapped_column(sa.String(40), index=True)


class Reorganisation(Base):
    __tablename__ = "reorganisations"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    decision_no: Mapped[str] = mapped_column(sa.String(200))
    effective_date: Mapped[date] = mapped_column(sa.Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # when stored needs and plan lines were moved to the successors (a decision dated ahead waits for its day)
    remapped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UnitSuccession(Base):
    __tablename__ = "unit_successions"
    predecessor_code: Mapped[str] = mapped_column(sa.ForeignKey("units.code"), primary_key=True)
    successor_code: Mapped[str] = mapped_column(sa.ForeignKey("units.code"), primary_key=True)
    effective_date: Mapped[date] = mapped_column(sa.Date)
    legal_basis: Mapped[str] = mapped_column(sa.String(300))
    reorganisation_id: Mapped[str | None] = mapped_column(sa.String(36))


class Position(Base):
    __tablename__ = "positions"
    code: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(300))
    legacy: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    category: Mapped[str] = mapped_column(sa.String(20), default="professional", server_default="professional")
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True, server_default=sa.true())

    @property
    def leadership(self) -> bool:
        return self.category == "leadership"


class CivilServant(Base):
    __tablename__ = "civil_servants"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(200))
    gender: Mapped[str] = mapped_column(sa.String(10))
    birth_year: Mapped[int] = mapped_column(sa.Integer)
    # a code of formats.ETHNIC_GROUPS (QĐ 121-TCTK/PPCĐ 1979); NULL only for a value migration 0004 could not read
    ethnicity_code: Mapped[str | None] = mapped_column(sa.String(2))
    # derived from the code (domain.is_ethnic_minority) on every write; stored for the rows without a code
    ethnic_minority: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    unit_code: Mapped[str] = mapped_column(sa.ForeignKey("units.code"), index=True)
    position_code: Mapped[str] = mapped_column(sa.ForeignKey("positions.code"), index=True)
    hard_area: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    child_under_36_months: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rank: Mapped[str | None] = mapped_column(sa.String(60))  # ngạch, e.g. chuyên viên
    degree_level: Mapped[str | None] = mapped_column(sa.String(20))
    major: Mapped[str | None] = mapped_column(sa.String(200))
    llct_level: Mapped[str | None] = mapped_column(sa.String(20))
    qlnn_level: Mapped[str | None] = mapped_column(sa.String(30))
    it_level: Mapped[str | None] = mapped_column(sa.String(30))
    foreign_language_level: Mapped[str | None] = mapped_column(sa.String(30))
    employment_status: Mapped[str] = mapped_column(sa.String(20), default="active", server_default="active")
    employed_from: Mapped[date | None] = mapped_column(sa.Date)
    status_since: Mapped[date | None] = mapped_column(sa.Date)
    left_on: Mapped[date | None] = mapped_column(sa.Date)
    left_reason: Mapped[str | None] = mapped_column(sa.String(20))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    contact: Mapped["Contact | None"] = relationship(viewonly=True, uselist=False)  # issue 13


class Rule(Base):
    """Configurable rules as versioned data: combination of assessments, priority weights, position standards."""

    __tablename__ = "rules"
    __version_columns__ = Columns(is_sample="sample")
    code: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    valid_from: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    valid_to: Mapped[date | None] = mapped_column(sa.Date)
    value: Mapped[dict] = mapped_column(sa.JSON)
    legal_basis: Mapped[str] = mapped_column(sa.String(300))
    sample: Mapped[bool] = mapped_column(sa.Boolean, default=True)


class FrameworkVersion(Base):
    __tablename__ = "framework_versions"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(300))
    valid_from: Mapped[date] = mapped_column(sa.Date)
    legal_basis: Mapped[str] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Competency(Base):
    __tablename__ = "competencies"
    framework_id: Mapped[int] = mapped_column(sa.ForeignKey("framework_versions.id"), primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(300))
    category: Mapped[str] = mapped_column(sa.String(20))  # common | professional | leadership
    topic_code: Mapped[str] = mapped_column(sa.String(40))
    levels: Mapped[list] = mapped_column(sa.JSON)  # 5 descriptions, level 1 first


class PositionRequirement(Base):
    __tablename__ = "position_requirements"
    framework_id: Mapped[int] = mapped_column(sa.ForeignKey("framework_versions.id"), primary_key=True)
    position_code: Mapped[str] = mapped_column(sa.ForeignKey("positions.code"), primary_key=True)
    competency_code: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    required_level: Mapped[int] = mapped_column(sa.Integer)


class Campaign(Base):
    __tablename__ = "campaigns"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    year: Mapped[int] = mapped_column(sa.Integer)
    title: Mapped[str] = mapped_column(sa.String(300))
    unit_codes: Mapped[list] = mapped_column(sa.JSON)  # today's communes surveyed
    deadline: Mapped[date] = mapped_column(sa.Date)
    framework_id: Mapped[int] = mapped_column(sa.ForeignKey("framework_versions.id"))
    status: Mapped[str] = mapped_column(sa.String(20))  # open | closing (a close job is running) | closed
    combination: Mapped[dict | None] = mapped_column(sa.JSON)  # the rule used at closing (kept for audit)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    close_job: Mapped["CloseJob | None"] = relationship(viewonly=True, uselist=False)


class CloseJob(Base):
    """The progress record of closing a campaign: the worker computes the needs in committed chunks of people.

    Which close is due, its attempts and its last error live in JOBS_TABLE (kind "close_campaign", shared.jobs);
    this row keeps what the chunks need and show. `attempts` and `error` are no longer written (released schema).
    `cursor` is the last civil-servant id whose needs are committed, so a restarted worker resumes where the last
    commit left off; `params` freezes the rules in force when closing was asked, so every chunk uses the same ones.
    """

    __tablename__ = "close_jobs"
    campaign_id: Mapped[str] = mapped_column(sa.ForeignKey("campaigns.id"), primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(10))  # queued | running | done (failed: see JOBS_TABLE)
    params: Mapped[dict] = mapped_column(sa.JSON)
    cursor: Mapped[str] = mapped_column(sa.String(36), default="")
    people_total: Mapped[int] = mapped_column(sa.Integer, default=0)
    people_done: Mapped[int] = mapped_column(sa.Integer, default=0)
    needs: Mapped[int] = mapped_column(sa.Integer, default=0)
    competency_gap: Mapped[int] = mapped_column(sa.Integer, default=0)
    standard: Mapped[int] = mapped_column(sa.Integer, default=0)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    error: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    __table_args__ = (sa.Index("ix_close_jobs_status", "status"),)


class SurveyResponse(Base):
    """One civil servant in a campaign: who answered, and their wishes (nguyện vọng)."""

    __tablename__ = "survey_responses"
    campaign_id: Mapped[str] = mapped_column(sa.ForeignKey("campaigns.id"), primary_key=True)
    civil_servant_id: Mapped[str] = mapped_column(sa.ForeignKey("civil_servants.id"), primary_key=True)
    commune_code: Mapped[str] = mapped_column(sa.String(40), index=True)
    self_submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    supervisor_submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    wished_topics: Mapped[list | None] = mapped_column(sa.JSON)
    wish_text: Mapped[str | None] = mapped_column(sa.Text)
    preferred_form: Mapped[str | None] = mapped_column(sa.String(20))
    preferred_time: Mapped[str | None] = mapped_column(sa.String(100))


class Assessment(Base):
    __tablename__ = "assessments"
    campaign_id: Mapped[str] = mapped_column(sa.ForeignKey("campaigns.id"), primary_key=True)
    civil_servant_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    competency_code: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    self_level: Mapped[int | None] = mapped_column(sa.Integer)
    supervisor_level: Mapped[int | None] = mapped_column(sa.Integer)


class CompetencyRecord(Base):
    """Append-only history of the levels evaluation reports after a course (source "evaluation"); a closed survey
    campaign's levels are read from its assessments instead (usecases/records.py competency_history, which merges
    both; the current level is the latest entry). Rows of source "survey" were copies, removed by revision 0010."""

    __tablename__ = "competency_records"
    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    civil_servant_id: Mapped[str] = mapped_column(sa.String(36))
    competency_code: Mapped[str] = mapped_column(sa.String(20))
    level: Mapped[int] = mapped_column(sa.Integer)
    source: Mapped[str] = mapped_column(sa.String(20))  # survey | evaluation
    source_ref: Mapped[str] = mapped_column(sa.String(64))
    assessed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (sa.Index("ix_competency_records_person", "civil_servant_id", "competency_code", "assessed_at"),)


class NeedReasonSet(Base):
    """The reasons of a priority score (code, label, points of each), stored once and shared by every need scored
    with the same flags under the same weights: a national close writes ~600,000 needs from a few hundred sets, and
    the ~170 bytes of JSON written again in each need were a quarter of its database time and WAL (issue 16).
    Append-only: the id is a hash of the content (`usecases.gaps.reason_set_id`), so a set, once written, never
    changes and is never removed while a need may name it."""

    __tablename__ = "need_reason_sets"
    id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    reasons: Mapped[list] = mapped_column(sa.JSON)


class Need(Base):
    """A measured or mandatory training need, denormalised (commune, province, position) for fast roll-ups."""

    __tablename__ = "needs"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    # looked up through ix_needs_person_topic (its leading column): a second index would slow every bulk insert
    civil_servant_id: Mapped[str] = mapped_column(sa.String(36))
    campaign_id: Mapped[str | None] = mapped_column(sa.String(36))
    year: Mapped[int] = mapped_column(sa.Integer)
    kind: Mapped[str] = mapped_column(sa.String(20))  # competency_gap | standard
    topic_code: Mapped[str] = mapped_column(sa.String(40))
    competency_code: Mapped[str | None] = mapped_column(sa.String(20))
    standard_code: Mapped[str | None] = mapped_column(sa.String(40))
    required_level: Mapped[int | None] = mapped_column(sa.Integer)
    assessed_level: Mapped[int | None] = mapped_column(sa.Integer)
    gap: Mapped[int] = mapped_column(sa.Integer)
    deadline: Mapped[date | None] = mapped_column(sa.Date)
    priority_score: Mapped[float] = mapped_column(sa.Float)
    # NeedReasonSet.id, without a foreign key: the sets are written before the needs naming them and never removed,
    # and a key check per need would cost a national close seconds of the time the shared sets saved
    reason_set_id: Mapped[int] = mapped_column(sa.BigInteger)
    status: Mapped[str] = mapped_column(sa.String(10))  # open | planned | met
    unit_code: Mapped[str] = mapped_column(sa.String(40))  # the registry unit (may be a former unit)
    commune_code: Mapped[str] = mapped_column(sa.String(40))  # today's commune at compute time
    province_code: Mapped[str] = mapped_column(sa.String(20))
    position_code: Mapped[str] = mapped_column(sa.String(40))
    plan_line_id: Mapped[str | None] = mapped_column(sa.String(36))
    met_by: Mapped[str | None] = mapped_column(sa.String(64))  # course id
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    met_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # loaded only where reasons are shown (list_needs asks for them with selectinload): a plan reading every open
    # need, or the competency record, does not join the sets
    reason_set: Mapped[NeedReasonSet | None] = relationship(
        primaryjoin="foreign(Need.reason_set_id) == NeedReasonSet.id", viewonly=True)
    # no roll-up index: it cost the writes more than it saved the reads (migration 0013 has the figures)
    __table_args__ = (sa.Index("ix_needs_person_topic", "civil_servant_id", "topic_code"),)

    @property
    def reasons(self) -> list[dict]:
        """Why the need has its priority score: each reason's code, label and points."""
        return self.reason_set.reasons if self.reason_set is not None else []


class Plan(Base):
    __tablename__ = "plans"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    year: Mapped[int] = mapped_column(sa.Integer)
    scheme_code: Mapped[str] = mapped_column(sa.String(40))
    title: Mapped[str] = mapped_column(sa.String(300))
    status: Mapped[str] = mapped_column(sa.String(20))  # draft | submitted | approved
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_no: Mapped[str | None] = mapped_column(sa.String(200))
    return_reason: Mapped[str | None] = mapped_column(sa.Text)


class PlanLine(Base):
    __tablename__ = "plan_lines"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    plan_id: Mapped[str] = mapped_column(sa.ForeignKey("plans.id"), index=True)
    topic_code: Mapped[str] = mapped_column(sa.String(40))
    competency_codes: Mapped[list] = mapped_column(sa.JSON)
    unit_code: Mapped[str] = mapped_column(sa.String(40))  # today's commune
    position_code: Mapped[str | None] = mapped_column(sa.String(40))
    headcount: Mapped[int] = mapped_column(sa.Integer)
    quarter: Mapped[int | None] = mapped_column(sa.Integer)


class PlanCandidate(Base):
    __tablename__ = "plan_candidates"
    line_id: Mapped[str] = mapped_column(sa.ForeignKey("plan_lines.id"), primary_key=True)
    civil_servant_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    commune_code: Mapped[str] = mapped_column(sa.String(40))
    priority_score: Mapped[float] = mapped_column(sa.Float)
    need_ids: Mapped[list] = mapped_column(sa.JSON)


class PlanTarget(Base):
    __tablename__ = "plan_targets"
    plan_id: Mapped[str] = mapped_column(sa.ForeignKey("plans.id"), primary_key=True)
    commune_code: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    target_share: Mapped[float] = mapped_column(sa.Float)  # share of active civil servants to be trained


class Contact(Base):
    """How to reach a civil servant and who their direct supervisor is (issue 13).

    Personal data processed to perform a state agency's function — the training of civil servants — under Law
    91/2025/QH15 on personal data protection; `legal_basis` records it on each row. Never logged, never in an
    event: other services name people by civil_servant_id and needs delivers.
    """

    __tablename__ = "contacts"
    civil_servant_id: Mapped[str] = mapped_column(sa.ForeignKey("civil_servants.id"), primary_key=True)
    email: Mapped[str | None] = mapped_column(sa.String(254))
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    preferred_channel: Mapped[str] = mapped_column(sa.String(10), default="email")  # email | sms | zalo
    supervisor_id: Mapped[str | None] = mapped_column(sa.String(36))  # the direct supervisor, a civil servant
    # … or, when no person is named, the holder of this position in the person's unit (e.g. LD-CT-UBND)
    supervisor_position_code: Mapped[str | None] = mapped_column(sa.String(40))
    legal_basis: Mapped[str] = mapped_column(sa.String(300))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LecturerContact(Base):
    """How to reach a lecturer, keyed by courses' lecturer id (issue 13). Lecturers are not civil servants; the
    same rules as Contact: personal data under Law 91/2025/QH15 (`legal_basis` on each row), never logged, never
    in an event — courses names the lecturer by id and needs delivers."""

    __tablename__ = "lecturer_contacts"
    lecturer_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    full_name: Mapped[str | None] = mapped_column(sa.String(200))  # for the salutation only
    email: Mapped[str | None] = mapped_column(sa.String(254))
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    preferred_channel: Mapped[str] = mapped_column(sa.String(10), default="email")  # email | sms | zalo
    legal_basis: Mapped[str] = mapped_column(sa.String(300))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Delivery(Base):
    """One message to one person for one purpose about one object, exactly once (issue 13).

    Claimed in the inbox transaction of the event that asks for it (unique purpose + recipient + object, so a
    duplicate or a redelivered event claims nothing), sent by the delivery job outside it. `id` is the idempotency
    key the providers get (e-mail Message-ID, SMS gateway id, ZNS tracking_id). Status: pending → sending (claimed
    before the send, committed) → sent | failed (refused for good) | bounced (address refused) | parked (retries
    used up) | skipped (no way to reach the person) | unconfirmed (the sender died during an e-mail send: it may or
    may not have left; never resent by itself).
    """

    __tablename__ = "deliveries"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    purpose: Mapped[str] = mapped_column(sa.String(40))
    recipient_id: Mapped[str] = mapped_column(sa.String(36))
    # which contact book recipient_id is read from: civil_servant (contacts) | lecturer (lecturer_contacts)
    recipient_kind: Mapped[str] = mapped_column(sa.String(20), server_default="civil_servant",
                                                default="civil_servant")
    object_key: Mapped[str] = mapped_column(sa.String(200))
    course_id: Mapped[str | None] = mapped_column(sa.String(64))
    subject_id: Mapped[str | None] = mapped_column(sa.String(36))  # the trainee a supervisor's message is about
    payload: Mapped[dict] = mapped_column(sa.JSON)  # what to say: link, deadline, course, calendar file
    status: Mapped[str] = mapped_column(sa.String(12))
    channel: Mapped[str | None] = mapped_column(sa.String(10))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    provider_id: Mapped[str | None] = mapped_column(sa.String(200))
    segments: Mapped[int | None] = mapped_column(sa.Integer)
    last_error: Mapped[str | None] = mapped_column(sa.String(300))  # channel, reason, provider code: no address
    deferred_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # quiet hours
    source_event_id: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    __table_args__ = (
        sa.UniqueConstraint("purpose", "recipient_id", "object_key", name="uq_deliveries_key"),
        sa.Index("ix_deliveries_course", "course_id", "status"),
        sa.Index("ix_deliveries_recipient", "recipient_id"),
    )
