"""The statements of one chunk of a campaign's close are a constant (issue 16): they do not grow with the people in
the chunk nor with the competencies or standards they miss — a regression fails with a count, not a time."""
from __future__ import annotations

import sqlalchemy as sa

from services.needs import usecases
from services.needs.models import CloseJob
from shared.db import transaction


def _counted(db, campaign_id: str, chunk: int, after: str) -> tuple[int, str | None]:
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)
    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        with transaction(db.session_factory) as session:
            cursor = usecases.close_campaign_step(session, campaign_id, chunk, after=after)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    return len(statements), cursor


def test_one_chunk_of_a_close_costs_the_same_statements_for_10_or_60_people(service_db):
    db = service_db("needs")
    with transaction(db.session_factory) as session:
        usecases.seed_reference_data(session)
        usecases.seed_civil_servants(session, 111)
        campaign_id = usecases.seed_survey(session, 2026)["campaign_id"]
        usecases.request_close(session, campaign_id, inline_limit=0)
    small, after = _counted(db, campaign_id, 10, "")
    large, after = _counted(db, campaign_id, 60, after)
    rest, after = _counted(db, campaign_id, 60, after)
    assert small == large == rest, (small, large, rest)
    # the people, their old open needs, the rules' lookups, the reason sets (written if missing, then read back to
    # check their ids), one INSERT … SELECT, counts
    assert small <= 16, small
    assert db.scalar(sa.select(CloseJob.people_done)) == 111
