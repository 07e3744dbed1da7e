"""Inbound events of the evaluation service. HANDLERS is the subscription table; queue bindings derive from it."""
from __future__ import annotations

from services.evaluation import usecases
from shared.bus.consumer import batch_handler
from shared.config import Settings
from shared.events import Envelope


@batch_handler
def on_course_completed(envelopes: list[Envelope], session, settings: Settings) -> None:
    """Open the feedback window of each completed course (a whole batch in a few statements)."""
    usecases.open_feedback(session, envelopes, base_url=settings.feedback_base_url,
                           window_days=settings.feedback_window_days)


HANDLERS = {
    "courses.course_completed": on_course_completed,
}
