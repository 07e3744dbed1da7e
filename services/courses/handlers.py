"""Inbound events of the courses service. HANDLERS is the subscription table; queue bindings derive from it."""

from services.courses import usecases
from services.courses.settings import CoursesSettings as Settings
from shared.events import Envelope


def on_civil_servant_registered(envelope: Envelope, session, settings: Settings) -> None:
    """Add (or refresh) the local copy of a civil servant; an older event than the copy changes nothing."""
    usecases.upsert_trainee(session, envelope.payload, envelope.occurred_at)


def on_civil_servant_updated(envelope: Envelope, session, settings: Settings) -> None:
    """Refresh the local copy of a civil servant; an older event than the copy changes nothing."""
    usecases.upsert_trainee(session, envelope.payload, envelope.occurred_at)


def on_civil_servant_left(envelope: Envelope, session, settings: Settings) -> None:
    """Mark the civil servant as left and withdraw them from courses not yet completed."""
    usecases.record_departure(session, envelope.payload, envelope.occurred_at)


def on_units_reorganised(envelope: Envelope, session, settings: Settings) -> None:
    """Remap commune codes from the merged units to their successors."""
    usecases.remap_communes(session, envelope.payload)


def on_plan_approved(envelope: Envelope, session, settings: Settings) -> None:
    """Propose one draft course per approved plan line, with its ranked candidates."""
    usecases.propose_courses(session, envelope.payload, settings.organizer_unit)


def on_budget_reserved(envelope: Envelope, session, settings: Settings) -> None:
    """Confirm the course if the reservation answers its current revision."""
    usecases.record_budget_reserved(session, envelope.payload)


def on_reservation_rejected(envelope: Envelope, session, settings: Settings) -> None:
    """Show that the course waits for funds, with funding's reason (current revision only)."""
    usecases.record_reservation_rejected(session, envelope.payload)


def on_feedback_requested(envelope: Envelope, session, settings: Settings) -> None:
    """Note that feedback was requested (one of the two conditions for closing)."""
    usecases.record_feedback_requested(session, envelope)


def on_course_settled(envelope: Envelope, session, settings: Settings) -> None:
    """Note that the settlement is posted (the other condition for closing)."""
    usecases.record_settlement(session, envelope)


def on_course_evaluated(envelope: Envelope, session, settings: Settings) -> None:
    """Keep the lecturers' ratings, used when choosing lecturers later."""
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
