"""Inbound events of the funding service. HANDLERS is the subscription table; queue bindings derive from it."""
from sqlalchemy.orm import Session

from services.funding import usecases
from shared.events import Envelope


def on_course_completed(envelope: Envelope, session: Session) -> None:
    usecases.settle_course(session, envelope)


HANDLERS = {
    "courses.course_completed": on_course_completed,
}
