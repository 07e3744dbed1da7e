"""Inbound events of the needs service: closing the loop from courses and evaluation (HANDLERS binds the queue)."""
from services.needs import usecases
from shared.config import Settings
from shared.events import Envelope


def on_course_completed(envelope: Envelope, session, settings: Settings) -> None:
    """A certified participant's matching needs become met (by need_ids, else by topic)."""
    usecases.record_course_completed(session, envelope)


def on_course_evaluated(envelope: Envelope, session, settings: Settings) -> None:
    """Assessed levels after training are appended to the competency record."""
    usecases.record_assessed_levels(session, envelope)


HANDLERS = {
    "courses.course_completed": on_course_completed,
    "evaluation.course_evaluated": on_course_evaluated,
}
