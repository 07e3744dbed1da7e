"""Contacts of civil servants (issue 13): how to reach a person and who their direct supervisor is.

Personal data (Law 91/2025/QH15 on personal data protection): processed to perform a state agency's function, the
training and fostering of civil servants; the basis is recorded on every row (LEGAL_BASIS). Served only behind the
API token, never logged, never put in an event: other services name people by id and needs sends.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.needs import formats
from services.needs.models import CivilServant, Contact, Position
from services.needs.usecases.units import commune_of
from shared import tabular
from shared.errors import Invalid, NotFound
from shared.localtime import utcnow
from shared.notify import CHANNELS

LEGAL_BASIS = ("Luật Bảo vệ dữ liệu cá nhân số 91/2025/QH15: xử lý để thực hiện chức năng, nhiệm vụ của cơ quan "
               "nhà nước (đào tạo, bồi dưỡng công chức)")


def _check(data: dict) -> dict:
    out = {}
    try:
        out["email"] = formats.contact_email(data["email"]) if data.get("email") else None
    except ValueError as exc:
        raise Invalid(str(exc), field="email") from None
    try:
        out["phone"] = formats.contact_phone(data["phone"]) if data.get("phone") else None
    except ValueError as exc:
        raise Invalid(str(exc), field="phone") from None
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
    position = values["supervisor_position_code"]
    if position is not None and session.get(Position, position) is None:
        raise Invalid("Vị trí việc làm không có trong danh mục.", field="supervisor_position_code")
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


# --- the registry file's contact columns (formats.CONTACT_KEYS) -------------------------------------------------

def _has_contact(row: dict) -> bool:
    return any(row.get(k) for k in formats.CONTACT_KEYS)


def check_contact_rows(session: Session, rows: list[dict], errors: tabular.RowErrors, file_codes: set) -> None:
    """Reference problems of the contact columns of an import: a supervisor code neither in the file nor in the
    registry, a person named as their own supervisor, an unknown position."""
    wanted = {r["supervisor_code"] for r in rows if r.get("supervisor_code")} - file_codes
    known = set(session.scalars(sa.select(CivilServant.code).where(CivilServant.code.in_(list(wanted))))) \
        if wanted else set()
    positions = set(session.scalars(sa.select(Position.code)))
    for row in rows:
        sup = row.get("supervisor_code")
        if sup and sup not in file_codes and sup not in known:
            errors.add(row["_line"], "supervisor_code", "Mã người quản lý trực tiếp không có trong danh sách.")
        if sup and sup == row.get("code"):
            errors.add(row["_line"], "supervisor_code", "Công chức không thể là người quản lý trực tiếp của mình.")
        pos = row.get("supervisor_position_code")
        if pos and pos not in positions:
            errors.add(row["_line"], "supervisor_position_code", "Vị trí việc làm không có trong danh mục.")


def import_contact_rows(session: Session, rows: list[dict], now: datetime) -> int:
    """Store the contact of every imported row that has one (after its civil servant is written); return how
    many. A row without any contact cell leaves the stored contact as it is."""
    rows = [r for r in rows if _has_contact(r)]
    if not rows:
        return 0
    codes = {r["code"] for r in rows} | {r["supervisor_code"] for r in rows if r.get("supervisor_code")}
    ids = dict(session.execute(sa.select(CivilServant.code, CivilServant.id)
                               .where(CivilServant.code.in_(list(codes)))).all())
    for row in rows:
        set_contact(session, ids[row["code"]], {
            "email": row.get("email"), "phone": row.get("phone"), "preferred_channel": row.get("preferred_channel"),
            "supervisor_id": ids.get(row.get("supervisor_code")) if row.get("supervisor_code") else None,
            "supervisor_position_code": row.get("supervisor_position_code")}, now)
    return len(rows)


def contact_columns(session: Session, cs_ids: list[str]) -> dict[str, dict]:
    """The contact columns of the registry export, by civil-servant id (the supervisor as their code)."""
    contacts = contacts_of(session, cs_ids)
    sup_ids = {c.supervisor_id for c in contacts.values() if c.supervisor_id}
    codes = dict(session.execute(sa.select(CivilServant.id, CivilServant.code)
                                 .where(CivilServant.id.in_(list(sup_ids)))).all()) if sup_ids else {}
    return {cs_id: {"email": c.email, "phone": c.phone, "preferred_channel": c.preferred_channel,
                    "supervisor_code": codes.get(c.supervisor_id), "supervisor_position_code":
                    c.supervisor_position_code} for cs_id, c in contacts.items()}
