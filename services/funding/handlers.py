"""Inbound events of the funding service (each: one use case in the consumer's unit of work, `session`). HANDLERS is
the subscription table; queue bindings derive from it."""
from services.funding import usecases
from services.funding.settings import FundingSettings
from shared.bus.consumer import batch_handler
from shared.events import Envelope


def on_course_scheduled(envelope: Envelope, session, settings: FundingSettings) -> None:
    """Estimate the course and reserve it on the budget lines (a higher revision replaces the previous one)."""
    usecases.reserve_for_schedule(session, envelope, province_code=settings.province_code)


def on_course_cancelled(envelope: Envelope, session, settings: FundingSettings) -> None:
    """Release the cancelled course's reservation."""
    usecases.release_for_cancel(session, envelope)


@batch_handler
def on_course_completed(envelopes: list[Envelope], session, settings: FundingSettings) -> None:
    """Settle the completed courses of a batch, each exactly once."""
    usecases.settle_courses(session, envelopes, province_code=settings.province_code)


def on_course_evaluated(envelope: Envelope, session, settings: FundingSettings) -> None:
    """Reward the learners graded excellent, once per course."""
    usecases.reward_excellent_learners(session, envelope, province_code=settings.province_code)


def on_civil_servant_left(envelope: Envelope, session, settings: FundingSettings) -> None:
    """Open repayment receivables for the leaver's open degree-training commitments."""
    usecases.open_repayments(session, envelope)


def on_civil_servant_registered(envelope: Envelope, session, settings: FundingSettings) -> None:
    """Remember the civil servant's staff code for payee lists (no names are kept)."""
    usecases.remember_civil_servant(session, envelope)


HANDLERS = {
    "courses.course_scheduled": on_course_scheduled,
    "courses.course_cancelled": on_course_cancelled,
    "courses.course_completed": on_course_completed,
    "evaluation.course_evaluated": on_course_evaluated,
    "needs.civil_servant_left": on_civil_servant_left,
    "needs.civil_servant_registered": on_civil_servant_registered,
    "needs.civil_servant_updated": on_civil_servant_registered,
}
