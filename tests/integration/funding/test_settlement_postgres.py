"""The funding handlers on PostgreSQL (COPY paths, row locks): reserve, settle in a batch, reward; ledger agrees."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from services import get_settings
from services.funding import seed, usecases
from services.funding.handlers import HANDLERS
from services.funding.models import IncentivePayment, Settlement, SettlementLine
from shared.db import make_engine, make_session_factory, transaction
from shared.events import decode, new_event
from shared.migrate import upgrade
from tests.unit.funding.factories import completed_from, evaluated, scheduled, trainee

pytestmark = [pytest.mark.postgres]

SETTINGS = get_settings("funding")


def apply(factory, *bodies) -> None:
    """Hand events to the handlers as the consumer does: one batch per consecutive run of a batch handler."""
    envs = [decode(b) for b in bodies]
    with transaction(factory) as session:
        i = 0
        while i < len(envs):
            handler = HANDLERS[envs[i].type]
            if getattr(handler, "takes_batch", False):
                j = i
                while j < len(envs) and envs[j].type == envs[i].type:
                    j += 1
                handler(envs[i:j], session, SETTINGS)
                i = j
            else:
                handler(envs[i], session, SETTINGS)
                i += 1


def test_courses_reserved_then_settled_in_one_batch_on_postgres_leave_the_ledger_consistent(pg_url_factory):
    url = pg_url_factory("fund_pg")
    upgrade("funding", url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with transaction(factory) as s:
        seed.seed_samples(s, 2026)
    plans = []
    for _ in range(5):
        body, plan = scheduled(trainees=[trainee(c) for c in ("CM-TANLOC", "CM-BIENBACH", "CM-TRIPHAI")],
                               distances={"CM-TANLOC": 20, "CM-BIENBACH": 3})
        apply(factory, body)
        plans.append(plan)
    completions = [completed_from(p)[0] for p in plans]
    _, duplicate = new_event("courses.course_completed", decode(completions[0]).payload, producer="courses")
    apply(factory, *completions, duplicate)  # one batch, one course twice under two event ids
    apply(factory, evaluated(plans[0]["course_id"], plans[0]["planned_trainees"][:2]))
    with factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Settlement)) == 5
        assert s.scalar(sa.select(sa.func.count()).select_from(IncentivePayment)) == 2
        lines = s.scalar(sa.select(sa.func.count()).select_from(SettlementLine))
        assert lines > 5 * 8
        assert usecases.verify_balances(s) == []
        settled = usecases.get_settlement(s, plans[0]["course_id"])
        assert settled.variance == 0 and settled.released == 0  # everyone came: actual = estimate
        tb = usecases.trial_balance(s)
        assert tb["total_debit"] == tb["total_credit"]
        assert all(b["reserved"] == 0 for b in usecases.list_budget_lines(s, 2026))
    engine.dispose()
