"""Lecturers' contact book (issue 13): how to reach a lecturer, keyed by courses' lecturer id.

Lecturers live in courses (they are not civil servants and have no registry row here); courses names them by
lecturer id in its notices and needs, the holder of contact data and the sender, delivers. Personal data under
Law 91/2025/QH15 (performance of a state agency's function: organising the training), the basis recorded on every
row; served only behind the API token to training officers, never logged, never in an event.
"""
from __future__ import annotations

import re
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.needs import formats
from services.needs.models import LecturerContact
from shared import tabular
from shared.errors import Invalid, NotFound
from shared.localtime import utcnow
from shared.notify import CHANNELS
from shared.tabular import Column, text_up_to

LEGAL_BASIS = ("Luật Bảo vệ dữ liệu cá nhân số 91/2025/QH15: xử lý để thực hiện chức năng, nhiệm vụ của cơ quan "
               "nhà nước (tổ chức đào tạo, bồi dưỡng: mời và thông báo cho giảng viên)")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,35}$")  # courses' lecturer ids (uuid or a code)


def lecturer_id(text: str) -> str:
    """A lecturer id as courses writes it (letters, digits, . _ : -; at most 36)."""
    value = text.strip()
    if not _ID.match(value):
        raise ValueError("Mã giảng viên không hợp lệ (chữ, số, . _ : -; tối đa 36 ký tự).")
    return value


COLUMNS = [
    Column("lecturer_id", "Mã giảng viên", lecturer_id, required=True, width=38),
    Column("full_name", "Họ và tên", text_up_to(200), width=28),
    Column("email", "Thư điện tử", formats.contact_email, width=28),
    Column("phone", "Điện thoại", formats.contact_phone, width=14),
    Column("preferred_channel", "Kênh nhận thông báo", tabular.one_of(list(CHANNELS)), width=12),
]
FILE = {"filename": "lien-he-giang-vien", "title": "Giảng viên", "heading": "DANH BẠ LIÊN HỆ GIẢNG VIÊN"}


def _values(data: dict) -> dict:
    out = {"full_name": (data.get("full_name") or "").strip() or None}
    for key, parse in (("email", formats.contact_email), ("phone", formats.contact_phone)):
        try:
            out[key] = parse(data[key]) if data.get(key) else None
        except ValueError as exc:
            raise Invalid(str(exc), field=key) from None
    channel = data.get("preferred_channel") or "email"
    if channel not in CHANNELS:
        raise Invalid("Kênh nhận thông báo phải là email, sms hoặc zalo.", field="preferred_channel")
    if not (out["email"] or out["phone"]):
        raise Invalid("Cần ít nhất thư điện tử hoặc số điện thoại.", field="email")
    out["preferred_channel"] = channel
    return out


def _store(session: Session, lid: str, values: dict, now: datetime) -> LecturerContact:
    contact = session.get(LecturerContact, lid)
    if contact is None:
        contact = LecturerContact(lecturer_id=lid)
        session.add(contact)
    for key, value in values.items():
        setattr(contact, key, value)
    contact.legal_basis, contact.updated_at = LEGAL_BASIS, now
    return contact


def set_lecturer_contact(session: Session, lid: str, data: dict, now: datetime | None = None) -> LecturerContact:
    """Create or replace a lecturer's contact (full_name, email, phone, preferred_channel)."""
    try:
        lid = lecturer_id(lid)
    except ValueError as exc:
        raise Invalid(str(exc), field="lecturer_id") from None
    contact = _store(session, lid, _values(data), now or utcnow())
    session.flush()
    return contact


def get_lecturer_contact(session: Session, lid: str) -> LecturerContact:
    contact = session.get(LecturerContact, lid)
    if contact is None:
        raise NotFound("Giảng viên chưa có thông tin liên hệ.", field="lecturer_id")
    return contact


def delete_lecturer_contact(session: Session, lid: str) -> None:
    """Erase a lecturer's contact (they stop teaching, or object to the processing); messages not yet sent to
    them are then skipped."""
    session.delete(get_lecturer_contact(session, lid))
    session.flush()


def list_lecturer_contacts(session: Session, *, page: int = 1, page_size: int = 50) -> dict:
    total = session.scalar(sa.select(sa.func.count()).select_from(LecturerContact))
    items = list(session.scalars(sa.select(LecturerContact).order_by(LecturerContact.lecturer_id)
                                 .offset((page - 1) * page_size).limit(page_size)))
    return {"total": total, "page": page, "page_size": page_size, "items": items}


def lecturer_contacts_of(session: Session, ids) -> dict[str, LecturerContact]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    return {c.lecturer_id: c for c in session.scalars(sa.select(LecturerContact)
                                                      .where(LecturerContact.lecturer_id.in_(ids)))}


def import_lecturer_contacts(session: Session, data: bytes, filename: str, now: datetime | None = None) -> dict:
    """Import the contact book from CSV/XLSX, all or nothing: every bad row is refused with its line and field
    (tabular.TableError) before anything is written; a known lecturer id is replaced, a new one added."""
    errors = tabular.RowErrors()
    rows = tabular.read_table(data, filename, COLUMNS, errors=errors)
    seen: dict[str, int] = {}
    for row in rows:
        line, lid = row["_line"], row.get("lecturer_id")
        if lid and lid in seen:
            errors.add(line, "lecturer_id", f"Mã giảng viên trùng với dòng {seen[lid]}.")
        elif lid:
            seen[lid] = line
        if errors.usable(row, "email", "phone") and not (row.get("email") or row.get("phone")):
            errors.add(line, "email", "Cần ít nhất thư điện tử hoặc số điện thoại.")
    errors.raise_if_any()
    now = now or utcnow()
    known = set(lecturer_contacts_of(session, seen))
    for row in rows:
        _store(session, row["lecturer_id"], _values(row), now)
    session.flush()
    return {"created": len(seen) - len(known), "updated": len(known)}


def export_lecturer_contacts(session: Session) -> list[dict]:
    """The contact book as rows of COLUMNS (what the import reads back), by lecturer id."""
    return [{c.key: getattr(contact, c.key) for c in COLUMNS}
            for contact in session.scalars(sa.select(LecturerContact).order_by(LecturerContact.lecturer_id))]

