"""Staff codes kept from needs' registry events, to print on payee lists (no names are kept)."""
from __future__ import annotations

from sqlalchemy.orm import Session

from services.funding.models import CivilServantRef
from shared.events import Envelope


def remember_civil_servant(session: Session, envelope: Envelope) -> None:
    """Keep a civil servant's staff code (no name) to print on payee lists."""
    p = envelope.payload
    ref = session.get(CivilServantRef, p["civil_servant_id"])
    if ref is None:
        session.add(CivilServantRef(civil_servant_id=p["civil_servant_id"], code=p["code"],
                                    commune_code=p["commune_code"], updated_at=envelope.occurred_at))
    elif ref.updated_at <= envelope.occurred_at:  # an older update arriving late changes nothing
        ref.code, ref.commune_code, ref.updated_at = p["code"], p["commune_code"], envelope.occurred_at
