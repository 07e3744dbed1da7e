"""Files courses reads and writes: the class list and attendance sheet columns, the attendance marks read back
from a filled-in sheet, the iCalendar feed and the check-in QR code. Pure: no session, no Flask."""
from __future__ import annotations

import io
from datetime import timezone

from services.courses import domain
from shared.localtime import LOCAL_TZ
from shared.tabular import Column

STATUS_VI = {"draft": "nháp", "scheduled": "đã xếp lịch", "awaiting_funds": "chờ kinh phí",
             "confirmed": "đã xác nhận kinh phí", "in_progress": "đang học", "completed": "đã kết thúc",
             "closed": "đã đóng", "cancelled": "đã hủy"}
LEAVE_REASON_VI = {"retired": "nghỉ hưu", "resigned": "thôi việc", "transferred": "chuyển công tác",
                   "dismissed": "buộc thôi việc", "deceased": "từ trần", "other": "lý do khác"}
ATTENDANCE_MARKS = {"x": (True, False), "có": (True, False), "1": (True, False),
                    "p": (False, True), "cp": (False, True),
                    "v": (False, False), "0": (False, False), "k": (False, False), "không": (False, False)}


def parse_mark(text: str) -> tuple[bool, bool]:
    """Read an attendance cell as (present, excused); ValueError with the legend for anything else."""
    mark = ATTENDANCE_MARKS.get(text.strip().lower())
    if mark is None:
        raise ValueError(f"«{text}» không phải ký hiệu điểm danh (x có mặt, P vắng có phép, v vắng).")
    return mark


def certificate_number(year: int, seq: int, prefix: str = "GCN") -> str:
    """Format a certificate number: <prefix>-<year>-<seq 5 digits>, issued once from a per-year counter."""
    return f"{prefix}-{year}-{seq:05d}"


def _session_header(s) -> str:
    return f"{s.date:%d/%m} {domain.BUOI_VI[s.buoi]}"


def attendance_import_columns(sessions) -> list[Column]:
    """The columns of a filled-in attendance sheet as read back: the code, then one mark per session."""
    return [Column("code", "Mã công chức")] + [
        Column(f"s_{s.id}", _session_header(s), parse=parse_mark) for s in sessions]


BASE_COLUMNS = [Column("no", "STT", width=6), Column("code", "Mã công chức", width=16),
                Column("unit_code", "Đơn vị", width=18), Column("commune_code", "Xã", width=16),
                Column("position_code", "Vị trí việc làm", width=16)]


def class_list(course, rows: list[dict]) -> tuple[list[Column], dict]:
    """The class list's columns (with a signature column) and its XLSX heading, title and footer."""
    return BASE_COLUMNS + [Column("signature", "Ký tên", width=22)], {
        "heading": f"DANH SÁCH HỌC VIÊN LỚP {course.code} – {course.title}", "title": "Danh sách",
        "footer": [f"Tổng số: {len(rows)} học viên", "Người lập biểu"]}


def attendance_sheet(course) -> tuple[list[Column], dict]:
    """The attendance sheet's columns (one per session: x present, P excused, v absent) and its XLSX layout."""
    return BASE_COLUMNS + [Column(f"s_{s.id}", _session_header(s), width=11) for s in course.sessions], {
        "heading": f"BẢNG ĐIỂM DANH LỚP {course.code} – {course.title}", "title": "Điểm danh",
        "footer": ["Ký hiệu: x có mặt, P vắng có phép, v vắng không phép",
                   "Giảng viên / cán bộ quản lý lớp ký xác nhận"]}


def ics(rows: list[dict], name: str) -> bytes:
    """Render calendar entries as iCalendar (times in UTC; clients show them in local time)."""
    from icalendar import Calendar, Event  # imported here: only the feed needs it

    cal = Calendar()
    cal.add("prodid", "-//Thoi Binh DTBD//courses//VI")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", LOCAL_TZ.key)
    for r in rows:
        if not r["starts_at"]:
            continue
        ev = Event()
        ev.add("uid", f"{r['session_id']}@courses")
        ev.add("summary", f"{r['course_code']} – {r['title']}")
        ev.add("dtstart", r["starts_at"])
        ev.add("dtend", r["ends_at"])
        ev.add("dtstamp", r["starts_at"])
        where = ", ".join(x for x in (r["venue_name"], r["venue_address"]) if x) or "Trực tuyến"
        ev.add("location", where)
        ev.add("description", f"Buổi {domain.BUOI_VI[r['buoi']]}, {r['periods']} tiết; giảng viên "
                              f"{r['lecturer_name']}; trạng thái lớp: {STATUS_VI[r['status']]}")
        ev.add("status", "CONFIRMED" if r["status"] in ("confirmed", "in_progress", "completed", "closed")
               else "TENTATIVE")
        cal.add_component(ev)
    return cal.to_ical()


def invitation_ics(course_id: str, code: str, title: str, sessions: list[dict], *, method: str, sequence: int,
                   venue: str | None, stamp, note: str | None = None) -> str:
    """One course as an iTIP message for its trainees (RFC 5546): METHOD:REQUEST for an invitation or a change,
    METHOD:CANCEL for a cancellation. One VEVENT with a UID stable per course and the given SEQUENCE (it grows on
    every change, so calendars replace the old entry); the first buổi is DTSTART/DTEND and every other one an
    RDATE period (in UTC). DTSTART/DTEND carry TZID=Asia/Ho_Chi_Minh with its VTIMEZONE.
    `sessions`: {starts_at, ends_at, buoi}."""
    from icalendar import Calendar, Event  # imported here: only calendars need it

    timed = sorted((s for s in sessions if s.get("starts_at")), key=lambda s: s["starts_at"])
    cal = Calendar()
    cal.add("prodid", "-//Thoi Binh DTBD//courses//VI")
    cal.add("version", "2.0")
    cal.add("method", method)
    ev = Event()
    ev.add("uid", f"{course_id}@courses.thoibinh")
    ev.add("sequence", sequence)
    ev.add("dtstamp", stamp)
    ev.add("summary", f"{code} – {title}")
    ev.add("location", venue or "Trực tuyến")
    if timed:
        ev.add("dtstart", timed[0]["starts_at"].astimezone(LOCAL_TZ))
        ev.add("dtend", timed[0]["ends_at"].astimezone(LOCAL_TZ))
        if len(timed) > 1:
            # in UTC: icalendar writes a period list without its TZID, which would read as floating time
            ev.add("rdate", [(s["starts_at"].astimezone(timezone.utc), s["ends_at"].astimezone(timezone.utc))
                             for s in timed[1:]], parameters={"VALUE": "PERIOD"})
    ev.add("description", note or "; ".join(
        f"Buổi {domain.BUOI_VI[s['buoi']]} {s['starts_at'].astimezone(LOCAL_TZ):%d/%m/%Y %H:%M}" for s in timed))
    ev.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    cal.add_component(ev)
    cal.add_missing_timezones()
    return cal.to_ical().decode("utf-8")


def qr_code(url: str, fmt: str = "svg") -> tuple[bytes, str]:
    """The QR code of a check-in link as (bytes, mimetype): SVG by default, or PNG."""
    import segno  # imported here: only printing needs it

    qr = segno.make(url, error="m")
    out = io.BytesIO()
    if fmt == "png":
        qr.save(out, kind="png", scale=8, border=2)
        return out.getvalue(), "image/png"
    qr.save(out, kind="svg", scale=8, border=2)
    return out.getvalue(), "image/svg+xml"
