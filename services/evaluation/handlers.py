"""Inbound events of the evaluation service. HANDLERS is the subscription table; queue bindings derive from it."""
from sqlalchemy.orm import Session

from services.evaluation import usecases
from shared.events import Envelope


def on_course_completed(envelope: Envelope, session: Session) -> None:
    usecases.open_feedback(session, envelope)


HANDLERS = {
    "courses.course_completed": on_course_completed,
}
