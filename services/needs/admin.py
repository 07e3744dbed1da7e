"""Operator endpoints and CLI of the needs service: seed, reorganise administrative units, deliveries (issue 13)."""
from __future__ import annotations

import sys

from services.needs import schemas, usecases
from shared.admin import OPERATOR_DOC, operator_blueprint
from shared.web import ctx

blp = operator_blueprint("needs_admin", __name__, "/admin/needs", "Needs operator endpoints")


@blp.route("/seed", methods=["POST"])
@blp.arguments(schemas.SeedArgsSchema)
@blp.response(200, schemas.SeedResultSchema)
@blp.doc(**OPERATOR_DOC)
def seed(args):
    """Seed units, the 2025 merger, positions, framework, rules, synthetic civil servants (idempotent)."""
    with ctx().transaction() as session:
        return usecases.seed(session, args["civil_servants"], args["survey_year"])


@blp.route("/reorganisations", methods=["POST"])
@blp.arguments(schemas.ReorganisationSchema)
@blp.response(201, schemas.ReorganisationOutSchema)
@blp.doc(**OPERATOR_DOC)
def reorganise(data):
    """Apply a merger/split decision of administrative units; publishes needs.units_reorganised."""
    with ctx().transaction() as session:
        return usecases.reorganise_units(session, data)


@blp.route("/deliveries")
@blp.response(200, schemas.DeliveryFiguresSchema)
@blp.doc(**OPERATOR_DOC)
def delivery_figures():
    """Every delivery counted per status and per purpose, and the delivery jobs per status (issue 13)."""
    with ctx().transaction() as session:
        return usecases.delivery_figures(session)


@blp.route("/deliveries/courses/<course_id>")
@blp.response(200, schemas.CourseDeliveriesSchema)
@blp.doc(**OPERATOR_DOC)
def course_deliveries(course_id):
    """A course's messages: sent, failed, bounced, pending … per purpose, and each one (ids, no addresses)."""
    with ctx().transaction() as session:
        return usecases.course_deliveries(session, course_id)


@blp.route("/deliveries/people/<cs_id>")
@blp.response(200, schemas.PersonDeliveriesSchema)
@blp.doc(**OPERATOR_DOC)
def person_deliveries(cs_id):
    """One person's messages, newest first."""
    with ctx().transaction() as session:
        return {"civil_servant_id": cs_id, "items": usecases.person_deliveries(session, cs_id)}


@blp.route("/deliveries/<delivery_id>/resend", methods=["POST"])
@blp.response(200, schemas.DeliverySchema)
@blp.doc(**OPERATOR_DOC)
def resend_delivery(delivery_id):
    """Send one message again (under a new idempotency key); 409 while it is still pending."""
    with ctx().transaction() as session:
        return usecases.resend(session, delivery_id)


def main(argv: list[str], settings=None) -> int:
    """CLI: `python -m services.needs.admin seed [count]` or `… close-campaign <id>` (queues the close job if the
    campaign is open, then runs it here in committed chunks — resumable, as the worker does). `settings`: the
    service's settings (default: read from the environment, NEEDS_DATABASE_URL…)."""
    from services.needs.jobs import run_close_jobs
    from services.needs.settings import get_settings
    from shared.db import make_engine, make_session_factory, transaction
    from shared.errors import Conflict, DomainError

    if not argv or argv[0] not in ("seed", "close-campaign") or (argv[0] == "close-campaign" and len(argv) < 2):
        print("usage: python -m services.needs.admin seed [count] | close-campaign <campaign_id>", file=sys.stderr)
        return 2
    settings = settings or get_settings()
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    try:
        if argv[0] == "close-campaign":
            try:
                with transaction(sessions) as session:
                    usecases.request_close(session, argv[1], inline_limit=0, lanes=settings.close_lanes)
            except DomainError as error:
                if not isinstance(error, Conflict):  # a conflict: already closing (a job to finish) or closed (just report)
                    print(error.message, file=sys.stderr)
                    return 1
            run_close_jobs(sessions, threads=1 if settings.is_sqlite else settings.job_threads)
            with transaction(sessions) as session:
                job = usecases.get_close_progress(session, argv[1])
                if job is None:
                    print("Đợt khảo sát đã đóng trước đây.", file=sys.stderr)
                    return 1
                print({"campaign_id": argv[1], "status": job["status"], "people": job["people_done"],
                       "needs": job["needs"], "competency_gap": job["competency_gap"], "standard": job["standard"]})
                return 0 if job["status"] == "done" else 1
        with transaction(sessions) as session:
            added = usecases.seed(session, int(argv[1]) if len(argv) > 1 else 111)
        print(added)
        return 0
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
