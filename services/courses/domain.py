"""Pure rules of course scheduling: session times, length caps, conflicts, enrollment order, completion, closing."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from shared.localtime import LOCAL_TZ, vn_date

BUOI = ("morning", "afternoon")  # a working day has 2 buổi (half-days): sáng and chiều
BUOI_VI = {"morning": "sáng", "afternoon": "chiều"}
FOSTERING_TYPES = ("job_position", "commune_title", "rank", "leadership")
FORMS = ("in_person", "online", "blended", "field_trip")
# Content areas of fostering (NĐ 101/2017 as amended; NĐ 171/2025 adds science, technology and digital skills)
CONTENT_AREAS = ("political_theory", "defence_security", "state_management", "job_position", "digital")
FORMS_NEEDING_VENUE = ("in_person", "blended", "field_trip")
STATUSES = ("draft", "scheduled", "awaiting_funds", "confirmed", "in_progress", "completed", "closed", "cancelled")
# Courses whose sessions book people, lecturers and rooms: a draft books nothing, a cancelled course frees all.
BOOKING_STATUSES = ("scheduled", "awaiting_funds", "confirmed", "in_progress")
SCHEDULABLE = ("draft", "scheduled", "awaiting_funds", "confirmed")
ENROLLABLE = ("draft", "scheduled", "awaiting_funds", "confirmed", "in_progress")
CANCELLABLE = ("draft", "scheduled", "awaiting_funds", "confirmed", "in_progress")
COMPLETABLE = ("confirmed", "in_progress")
# Booked courses whose roster changes ask funding again (a new revision of courses.course_scheduled).
ROSTER_REPUBLISH = ("scheduled", "awaiting_funds", "confirmed")
ACTIVE_ENROLLMENT = "enrolled"  # the enrollment status that holds a seat
CONFIRMATIONS = ("pending", "confirmed", "rejected")  # of attendance: a self check-in waits, only confirmed counts

# The course lifecycle as data: (status, action) → next status. Use cases guard with their own worded refusals
# (SCHEDULABLE, CANCELLABLE, COMPLETABLE above are the "from" sets of schedule, cancel and complete) and take the
# next status from here, so a transition not in the table cannot be written.
COURSE_TRANSITIONS = {
    **{(s, "schedule"): "scheduled" for s in SCHEDULABLE},  # scheduling (again) starts a new revision
    **{(s, "reserve"): "confirmed" for s in ROSTER_REPUBLISH},  # funding reserved the current revision
    **{(s, "reject"): "awaiting_funds" for s in ROSTER_REPUBLISH},  # funding refused it, with the reason
    ("confirmed", "teach"): "in_progress", ("in_progress", "teach"): "in_progress",  # start, attendance, check-in
    **{(s, "cancel"): "cancelled" for s in CANCELLABLE},
    **{(s, "complete"): "completed" for s in COMPLETABLE},
    ("completed", "close"): "closed",  # feedback requested and settlement posted
}


def next_status(status: str, action: str) -> str:
    """The status a course takes when `action` happens in `status`; ValueError for a transition not allowed."""
    try:
        return COURSE_TRANSITIONS[(status, action)]
    except KeyError:
        raise ValueError(f"course transition {action!r} not allowed from {status!r}") from None


DEGREES = ("college", "bachelor", "master", "doctor", "associate_professor", "professor")
# The pass score (TT 01/2018: every test ≥ 5/10) and the default tiết per buổi are versioned data (course_rules);
# these are only the fallbacks when no version is in force.
PASS_SCORE = 5.0
DEFAULT_PERIODS = 4
CERTIFYING_TEST_KINDS = ("post", "module")  # a pre-test only measures the starting point
COURSE_RULE_FALLBACK = {"pass_score": PASS_SCORE, "periods_per_buoi": DEFAULT_PERIODS}

TEST_KIND_VI = {"pre": "đầu vào", "post": "cuối khóa", "module": "chuyên đề"}  # named in outcome reasons


def course_rule_problem(key: str, value: float) -> str | None:
    """Why a course-rule value would be misread (tiết per buổi a whole 1–6, a pass score in (0; 10]), or None."""
    if key == "periods_per_buoi" and (value != int(value) or not 1 <= value <= 6):
        return "Số tiết mỗi buổi phải là số nguyên từ 1 đến 6."
    if key == "pass_score" and not 0 < value <= 10:
        return "Điểm đạt phải trong khoảng (0; 10]."
    return None


# --- session times -----------------------------------------------------------------------------------------------

DEFAULT_BUOI_TIMES = {"morning": ("07:30", "11:30"), "afternoon": ("13:30", "17:00")}  # where no version is


@dataclass(frozen=True)
class BuoiTimes:
    """Local start/end of each buổi: the versions in force (`buoi_times`), DEFAULT_BUOI_TIMES where none is."""

    times: dict[str, tuple[time, time]]


def parse_hhmm(text: str) -> time:
    """Parse 'HH:MM' into a time; raise ValueError with a Vietnamese message."""
    try:
        hh, mm = text.split(":")
        return time(int(hh), int(mm))
    except (ValueError, AttributeError):
        raise ValueError(f"«{text}» không phải giờ hợp lệ (HH:MM).") from None


def session_bounds(day: date, buoi: str, times: BuoiTimes, start: time | None = None,
                   end: time | None = None) -> tuple[datetime, datetime]:
    """Return a session's (start, end) in UTC from its local date, buổi and optional own times.

    A session lies inside one local day: an end at or before the start would cross midnight, which is refused;
    a morning session starts before noon and an afternoon session at or after noon.
    """
    if buoi not in BUOI:
        raise ValueError(f"Buổi «{buoi}» không hợp lệ.")
    d_start, d_end = times.times[buoi]
    start, end = start or d_start, end or d_end
    if end <= start:
        raise ValueError(f"Buổi học không thể kéo qua nửa đêm: giờ kết thúc {end:%H:%M} không sau giờ bắt đầu "
                         f"{start:%H:%M}.")
    if (buoi == "morning") != (start < time(12, 0)):
        raise ValueError(f"Giờ bắt đầu {start:%H:%M} không thuộc buổi {BUOI_VI[buoi]}.")
    to_utc = lambda t: datetime.combine(day, t, LOCAL_TZ).astimezone(timezone.utc)  # noqa: E731
    return to_utc(start), to_utc(end)


def buoi_times(versions: dict[str, tuple[str, str]]) -> BuoiTimes:
    """The buổi times from the versions in force ({buoi: ("HH:MM", "HH:MM")}), the default for a missing buổi."""
    return BuoiTimes({b: tuple(parse_hhmm(t) for t in versions.get(b, DEFAULT_BUOI_TIMES[b])) for b in BUOI})


def check_buoi_time(buoi: str, start_local: str, end_local: str) -> tuple[time, time]:
    """Parse a buổi-time version and refuse one a session could not use (crossing noon or midnight): ValueError."""
    start, end = parse_hhmm(start_local), parse_hhmm(end_local)
    session_bounds(date(2025, 1, 6), buoi, BuoiTimes({b: (start, end) for b in BUOI}), start, end)
    return start, end


# --- attendance and completion ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SessionSlot:
    session_id: str
    date: date
    buoi: str


@dataclass(frozen=True)
class AttendanceResult:
    sessions_attended: int
    days_attended: int
    completed: bool


def attendance_result(sessions: list[SessionSlot], attended_ids: set[str]) -> AttendanceResult:
    """Count sessions and distinct days attended; completion needs full attendance.

    TT 01/2018: a certificate requires full attendance (tests ≥ 5/10 are checked by `participant_outcome`).
    Learner support is paid per day actually attended, so a day counts when at least one buổi was attended.
    """
    attended = [s for s in sessions if s.session_id in attended_ids]
    return AttendanceResult(sessions_attended=len(attended), days_attended=len({s.date for s in attended}),
                            completed=bool(sessions) and len(attended) == len(sessions))


def allowed_excused(total_sessions: int, excused_max_percent: int) -> int:
    """How many excused absences still count as full attendance: floor(total × percent / 100).

    The policy is the organiser's (configurable per course); 0 % means TT 01/2018's strict full attendance.
    """
    return math.floor(total_sessions * excused_max_percent / 100)


@dataclass(frozen=True)
class Score:
    kind: str
    competency_code: str | None
    score: float


@dataclass(frozen=True)
class Outcome:
    sessions_attended: int
    days_attended: int
    excused_sessions: int
    completed: bool  # the attendance rule is met
    certified: bool  # attendance rule, every required test ≥ 5/10
    reasons: tuple[str, ...] = ()


def participant_outcome(sessions: list[SessionSlot], present_ids: set[str], excused_ids: set[str],
                        excused_max_percent: int, scores: list[Score],
                        required_tests: set[tuple[str, str | None]], pass_score: float = PASS_SCORE) -> Outcome:
    """Apply the certificate rule: full attendance (excused absences within the course policy), every test ≥ the
    pass score in force (TT 01/2018: 5/10).

    `required_tests` are the certifying tests (post/module per competency) the course held: a participant missing
    one of them has no passing score for it and is not certified.
    """
    base = attendance_result(sessions, present_ids)
    session_ids = {s.session_id for s in sessions}
    excused = len((excused_ids - present_ids) & session_ids)
    missed = len(sessions) - base.sessions_attended
    reasons = []
    completed = bool(sessions) and (missed == 0 or (missed == excused and excused <= allowed_excused(
        len(sessions), excused_max_percent)))
    if not sessions:
        reasons.append("Lớp không có buổi học.")
    elif not completed:
        reasons.append(f"Vắng {missed} buổi ({excused} có phép), không đủ điều kiện chuyên cần.")
    by_test = {(s.kind, s.competency_code): s.score for s in scores if s.kind in CERTIFYING_TEST_KINDS}
    for kind, comp in sorted(required_tests, key=lambda k: (k[0], k[1] or "")):
        score = by_test.get((kind, comp))
        label = f"bài kiểm tra {TEST_KIND_VI.get(kind, kind)}{' ' + comp if comp else ''}"
        if score is None:
            reasons.append(f"Thiếu điểm {label}.")
        elif score < pass_score:
            reasons.append(f"Điểm {label} {score:g} < {pass_score:g}.")
    for (kind, comp), score in by_test.items():
        if (kind, comp) not in required_tests and score < pass_score:
            reasons.append(f"Điểm bài kiểm tra {TEST_KIND_VI.get(kind, kind)} {score:g} < {pass_score:g}.")
    return Outcome(base.sessions_attended, base.days_attended, excused, completed,
                   completed and len(reasons) == 0, tuple(reasons))


def duplicate_slots(sessions: list[SessionSlot]) -> list[tuple[date, str]]:
    """Return (date, buổi) pairs that occur more than once in one course."""
    seen: set[tuple[date, str]] = set()
    dup: list[tuple[date, str]] = []
    for key in ((s.date, s.buoi) for s in sessions):
        (dup.append if key in seen else seen.add)(key)
    return dup


# --- length caps and lecturer standards (versioned rules) ---------------------------------------------------------

@dataclass(frozen=True)
class LengthRule:
    fostering_type: str
    variant: str | None
    max_days: int | None  # training days (dates with at least one buổi)
    max_block_working_days: int | None  # consecutive working days without a break
    legal_basis: str


def length_variant(fostering_type: str, variant: str | None) -> str | None:
    """The length-cap variant a course falls under: a rank course without one is the most common, chuyên viên."""
    if fostering_type == "rank" and not variant:
        return "chuyen_vien"
    return variant


def working_day_blocks(days: list[date]) -> list[list[date]]:
    """Group training dates into blocks of consecutive working days (a weekend between Friday and Monday does not
    break a block; a working day without sessions does)."""
    out: list[list[date]] = []
    for d in sorted(set(days)):
        if out:
            prev = out[-1][-1]
            gap = prev + timedelta(days=1)
            while gap.weekday() >= 5:
                gap += timedelta(days=1)
            if d <= gap:
                out[-1].append(d)
                continue
        out.append([d])
    return out


def length_problems(days: list[date], rule: LengthRule | None) -> list[str]:
    """Check a course's dates against its fostering type's length cap and block rule; return the problems."""
    if rule is None or not days:
        return []
    problems = []
    n = len(set(days))
    if rule.max_days is not None and n > rule.max_days:
        problems.append(f"Lớp có {n} ngày học, vượt mức tối đa {rule.max_days} ngày cho loại bồi dưỡng này "
                        f"({rule.legal_basis}).")
    if rule.max_block_working_days is not None:
        for block in working_day_blocks(days):
            if len(block) > rule.max_block_working_days:
                problems.append(f"Đợt học từ {vn_date(block[0])} đến {vn_date(block[-1])} dài {len(block)} ngày làm "
                                f"việc liên tục, vượt {rule.max_block_working_days} ngày ({rule.legal_basis}).")
    return problems


@dataclass(frozen=True)
class LecturerStandard:
    min_degree: str
    require_pedagogy: bool
    min_years_experience: int
    legal_basis: str


def lecturer_problems(degree: str | None, pedagogy: bool, years: int | None, topic_codes: list[str],
                      topic_code: str | None, standard: LecturerStandard | None) -> list[str]:
    """Check a lecturer against the standard in force (TT 01/2018: lecturers' qualifications) and the topic."""
    problems = []
    if standard is not None:
        if degree is None or DEGREES.index(degree) < DEGREES.index(standard.min_degree):
            problems.append(f"trình độ chưa đạt tối thiểu «{standard.min_degree}»")
        if standard.require_pedagogy and not pedagogy:
            problems.append("chưa có chứng chỉ nghiệp vụ sư phạm")
        if (years or 0) < standard.min_years_experience:
            problems.append(f"chưa đủ {standard.min_years_experience} năm kinh nghiệm")
    if topic_code and topic_codes and topic_code not in topic_codes:
        problems.append(f"không đăng ký giảng chuyên đề {topic_code}")
    return problems


# --- conflicts ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Booking:
    """A session already booked elsewhere, as conflict messages name it."""

    session_id: str
    course_id: str
    course_code: str
    date: date
    buoi: str

    def label(self) -> str:
        return f"buổi {BUOI_VI[self.buoi]} {vn_date(self.date)} của lớp {self.course_code} (mã buổi {self.session_id})"


@dataclass(frozen=True)
class Conflict:
    kind: str  # trainee | lecturer | venue | commune_share | duplicate
    message: str
    session_id: str | None = None  # the session of the course being checked
    other_session_id: str | None = None
    ref: str | None = None  # the trainee, lecturer, venue or commune concerned


@dataclass
class ConflictIndex:
    """In-memory indexes of existing bookings by (resource, date, buổi): one lookup per new session, no pair loops."""

    lecturer: dict[tuple[str, date, str], Booking] = field(default_factory=dict)
    venue: dict[tuple[str, date, str], Booking] = field(default_factory=dict)
    trainee: dict[tuple[str, date, str], Booking] = field(default_factory=dict)


@dataclass(frozen=True)
class NewSession:
    session_id: str
    date: date
    buoi: str
    lecturer_id: str | None
    venue_id: str | None


def find_conflicts(sessions: list[NewSession], trainee_ids: list[str], index: ConflictIndex,
                   labels: dict[str, str] | None = None) -> list[Conflict]:
    """Find double bookings of a lecturer, a venue or a trainee for the given sessions against the index."""
    labels = labels or {}
    out: list[Conflict] = []
    for s in sessions:
        slot = (s.date, s.buoi)
        where = f"buổi {BUOI_VI[s.buoi]} {vn_date(s.date)}"
        if s.lecturer_id and (b := index.lecturer.get((s.lecturer_id, *slot))):
            out.append(Conflict("lecturer", f"Giảng viên {labels.get(s.lecturer_id, s.lecturer_id)} đã có lịch "
                                f"{b.label()} trùng với {where}.", s.session_id, b.session_id, s.lecturer_id))
        if s.venue_id and (b := index.venue.get((s.venue_id, *slot))):
            out.append(Conflict("venue", f"Địa điểm {labels.get(s.venue_id, s.venue_id)} đã được dùng cho "
                                f"{b.label()} trùng với {where}.", s.session_id, b.session_id, s.venue_id))
        for t in trainee_ids:
            if b := index.trainee.get((t, *slot)):
                out.append(Conflict("trainee", f"Học viên {labels.get(t, t)} đã học {b.label()} trùng với {where}.",
                                    s.session_id, b.session_id, t))
    return out


def commune_share_conflicts(absent: dict[tuple[date, str], int], staff: dict[str, int],
                            max_percent: dict, first_session: dict[date, str]) -> list[Conflict]:
    """Find days on which a commune would send more than its allowed share of staff away.

    `absent` counts distinct trainees away per (date, commune) including the course being checked. The commune must
    keep enough people on duty to serve citizens [C: the share is configurable per commune].
    """
    out = []
    for (day, commune), n in sorted(absent.items()):
        total = staff.get(commune, 0)
        pct = max_percent.get((day, commune), max_percent.get(commune))  # the version in force that day
        if pct is None or total == 0:
            continue
        allowed = math.floor(total * pct / 100)
        if n > allowed:
            out.append(Conflict("commune_share", f"Ngày {vn_date(day)} xã {commune} có {n}/{total} công chức đi học, "
                                f"vượt tỷ lệ tối đa {pct} % ({allowed} người); xã cần giữ người tiếp dân.",
                                first_session.get(day), None, commune))
    return out


# --- waitlist, check-in and closing -------------------------------------------------------------------------------

def waitlist_order(entries: list[tuple[str, float, datetime]]) -> list[str]:
    """Order waitlisted trainees: higher priority (from the needs that proposed them) first, then first come."""
    return [cs for cs, _, _ in sorted(entries, key=lambda e: (-(e[1] or 0.0), e[2], e[0]))]


# (feedback requested, settlement posted) → what a completed course still waits for
CLOSING_STATES = {(True, True): "closed", (True, False): "awaiting_settlement", (False, True): "awaiting_feedback",
                  (False, False): "awaiting_feedback_and_settlement"}


def closing_state(feedback_requested: bool, settled: bool) -> str:
    """A completed course is closed when both feedback collection and the settlement have happened."""
    return CLOSING_STATES[(bool(feedback_requested), bool(settled))]


def checkin_open(now: datetime, starts_at: datetime, ends_at: datetime, early_minutes: int = 60) -> bool:
    """A QR check-in is accepted from an hour before the session starts until it ends."""
    return starts_at - timedelta(minutes=early_minutes) <= now <= ends_at
