"""Contacts of civil servants (issue 13): how to reach a person and who their direct supervisor is.

Personal data (Law 91/2025/QH15 on personal data protection): processed to perform a state agency's function, the
training and fostering of civil servants; the basis is recorded on every row (LEGAL_BASIS). Served only behind the
API token, never logged, never put in an event: other services name people by id and needs sends.
"""
from __future__ import annotations

import re
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.needs.models import CivilServant, Contact
from services.needs.usecases.units import commune_of
from shared.errors import Invalid, NotFound
from shared.localtime import utcnow
from shared.notify import CHANNELS

LEGAL_BASIS = ("Luật Bảo vệ dữ liệu cá nhân số 91/2025/QH15: xử lý để thực hiện chức năng, nhiệm vụ của cơ quan "
               "nhà nước (đào tạo, bồi dưỡng công chức)")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{2,63}$")
PHONE = re.compile(r"^(\+?84|0)\d{9,10}$")


def normalise_phone(raw: str) -> str:
    """Digits of a Vietnamese phone number (spaces, dots and dashes dropped); Invalid unless 0xxxxxxxxx / 84… ."""
    phone = re.sub(r"[\s.\-()]", "", raw)
    if not PHONE.match(phone):
        raise Invalid("Số điện thoại không hợp lệ (ví dụ 0912345678).", field="phone")
    return phone


def _check(data: dict) -> dict:
    out = {}
    if data.get("email"):
        email = data["email"].strip()
        if not EMAIL.match(email):
            raise Invalid("Địa chỉ thư điện tử không hợp lệ.", field="email")
        out["email"] = email
    else:
        out["email"] = None
    out["phone"] = normalise_phone(data["phone"]) if data.get("phone") else None
    channel = data.get("preferred_channel") or "email"
    if channel not in CHANNELS:
        raise Invalid("Kênh nhận thông báo phải là email, sms hoặc zalo.", field="preferred_channel")
    out["preferred_channel"] = channel
    out["supervisor_id"] = data.get("supervisor_id") or None
    out["supervisor_position_code"] = data.get("supervisor_position_code") or None
    return out


def set_contact(session: Session, cs_id: str, data: dict, now: datetime | None = None) -> Contact:
    """Create or replace a civil servant's contact (email, phone, preferred_channel, supervisor_id or
    supervisor_position_code). The supervisor must be another registered civil servant."""
    if session.get(CivilServant, cs_id) is None:
        raise NotFound("Không tìm thấy công chức.", field="civil_servant_id")
    values = _check(data)
    sup = values["supervisor_id"]
    if sup is not None and (sup == cs_id or session.get(CivilServant, sup) is None):
        raise Invalid("Người quản lý trực tiếp phải là một công chức khác đã đăng ký.", field="supervisor_id")
    contact = session.get(Contact, cs_id)
    if contact is None:
        contact = Contact(civil_servant_id=cs_id, legal_basis=LEGAL_BASIS)
        session.add(contact)
    for key, value in values.items():
        setattr(contact, key, value)
    contact.legal_basis = LEGAL_BASIS
    contact.updated_at = now or utcnow()
    session.flush()
    return contact


def get_contact(session: Session, cs_id: str) -> Contact:
    contact = session.get(Contact, cs_id)
    if contact is None:
        if session.get(CivilServant, cs_id) is None:
            raise NotFound("Không tìm thấy công chức.", field="civil_servant_id")
        raise NotFound("Công chức chưa có thông tin liên hệ.", field="contact")
    return contact


def contacts_of(session: Session, ids) -> dict[str, Contact]:
    ids = list(set(ids))
    if not ids:
        return {}
    return {c.civil_servant_id: c for c in session.scalars(sa.select(Contact).where(Contact.civil_servant_id.in_(ids)))}


def resolve_supervisor(session: Session, cs_id: str) -> str | None:
    """The direct supervisor's civil-servant id: the one named in the contact, else the active holder of the named
    position in the person's commune today (the unit's head by position), else None."""
    contact = session.get(Contact, cs_id)
    if contact is None:
        return None
    if contact.supervisor_id:
        return contact.supervisor_id
    if not contact.supervisor_position_code:
        return None
    person = session.get(CivilServant, cs_id)
    if person is None:
        return None
    commune = commune_of(session, person.unit_code)
    holders = session.scalars(sa.select(CivilServant).where(
        CivilServant.position_code == contact.supervisor_position_code, CivilServant.employment_status == "active",
        CivilServant.id != cs_id).order_by(CivilServant.code))
    for holder in holders:
        if commune_of(session, holder.unit_code) == commune:
            return holder.id
    return None
