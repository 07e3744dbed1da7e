"""Inbound events of the courses service. HANDLERS is the subscription table; queue bindings derive from it."""
from sqlalchemy.orm import Session

from services.courses import usecases
from shared.events import Envelope


def on_civil_servant_registered(envelope: Envelope, session: Session) -> None:
    usecases.upsert_trainee(session, envelope.payload)


def on_civil_servant_updated(envelope: Envelope, session: Session) -> None:
    usecases.upsert_trainee(session, envelope.payload)


def on_civil_servant_left(envelope: Envelope, session: Session) -> None:
    usecases.trainee_left(session, envelope.payload)


def on_units_reorganised(envelope: Envelope, session: Session) -> None:
    usecases.units_reorganised(session, envelope.payload)


def on_plan_approved(envelope: Envelope, session: Session) -> None:
    usecases.propose_from_plan(session, envelope.payload)


def on_budget_reserved(envelope: Envelope, session: Session) -> None:
    usecases.record_budget_reserved(session, envelope.payload)


def on_reservation_rejected(envelope: Envelope, session: Session) -> None:
    usecases.record_reservation_rejected(session, envelope.payload)


def on_feedback_requested(envelope: Envelope, session: Session) -> None:
    usecases.record_feedback_requested(session, envelope)


def on_course_settled(envelope: Envelope, session: Session) -> None:
    usecases.record_settlement(session, envelope)


def on_course_evaluated(envelope: Envelope, session: Session) -> None:
    usecases.record_lecturer_ratings(session, envelope.payload)


HANDLERS = {
    "needs.civil_servant_registered": on_civil_servant_registered,
    "needs.civil_servant_updated": on_civil_servant_updated,
    "needs.civil_servant_left": on_civil_servant_left,
    "needs.units_reorganised": on_units_reorganised,
    "needs.plan_approved": on_plan_approved,
    "funding.budget_reserved": on_budget_reserved,
    "funding.reservation_rejected": on_reservation_rejected,
    "evaluation.feedback_requested": on_feedback_requested,
    "funding.course_settled": on_course_settled,
    "evaluation.course_evaluated": on_course_evaluated,
}
