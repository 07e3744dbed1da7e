"""Inbound events of the courses service. HANDLERS is the subscription table; queue bindings derive from it."""
from sqlalchemy.orm import Session

from services.courses import usecases
from shared.events import Envelope


def on_civil_servant_registered(envelope: Envelope, session: Session) -> None:
    usecases.upsert_trainee(session, envelope.payload)


def on_feedback_requested(envelope: Envelope, session: Session) -> None:
    usecases.record_feedback_requested(session, envelope)


def on_course_settled(envelope: Envelope, session: Session) -> None:
    usecases.record_settlement(session, envelope)


HANDLERS = {
    "needs.civil_servant_registered": on_civil_servant_registered,
    "evaluation.feedback_requested": on_feedback_requested,
    "funding.course_settled": on_course_settled,
}
