"""Inbound events of the needs service: closing the loop from courses and evaluation, and the per-recipient notices
it delivers (it holds the contacts). HANDLERS binds the queue."""
from services.needs import usecases
from shared.config import Settings
from shared.events import Envelope


def on_course_completed(envelope: Envelope, session, settings: Settings) -> None:
    """A certified participant's matching needs become met (by need_ids, else by topic)."""
    usecases.record_course_completed(session, envelope)


def on_course_evaluated(envelope: Envelope, session, settings: Settings) -> None:
    """Assessed levels after training are appended to the competency record; each lecturer rated gets their
    rating summary (claimed here, sent by the delivery job)."""
    usecases.record_assessed_levels(session, envelope)
    usecases.claim_lecturer_ratings(session, envelope)


def on_trainee_feedback_requested(envelope: Envelope, session, settings: Settings) -> None:
    """Claim the trainee's feedback-link message (sent by the delivery job)."""
    usecases.claim_feedback_request(session, envelope)


def on_feedback_reminder_issued(envelope: Envelope, session, settings: Settings) -> None:
    """Claim the reminder to a trainee who has not answered yet."""
    usecases.claim_reminder(session, envelope)


def on_followup_requested(envelope: Envelope, session, settings: Settings) -> None:
    """Claim the follow-up survey message to the trainee or to their direct supervisor."""
    usecases.claim_followup(session, envelope)


def on_course_notice_issued(envelope: Envelope, session, settings: Settings) -> None:
    """Claim one message per trainee named: invitation, change or cancellation (with its calendar file)."""
    usecases.claim_course_notice(session, envelope)


def on_lecturer_notice_issued(envelope: Envelope, session, settings: Settings) -> None:
    """Claim the message to one lecturer: assigned to teach (with the calendar of their sessions), a change, a
    cancellation."""
    usecases.claim_lecturer_notice(session, envelope)


HANDLERS = {
    "courses.course_completed": on_course_completed,
    "evaluation.course_evaluated": on_course_evaluated,
    "evaluation.trainee_feedback_requested": on_trainee_feedback_requested,
    "evaluation.feedback_reminder_issued": on_feedback_reminder_issued,
    "evaluation.followup_requested": on_followup_requested,
    "courses.course_notice_issued": on_course_notice_issued,
    "courses.lecturer_notice_issued": on_lecturer_notice_issued,
}
