"""50 parallel reservations against one budget line on PostgreSQL never overdraw it; the ledger agrees."""
from __future__ import annotations

import threading
from datetime import date

import pytest
import sqlalchemy as sa

from services.funding import usecases
from services.funding.models import OUTBOX_TABLE, BudgetLine, Reservation
from shared.db import make_engine, make_session_factory, transaction
from shared.events import decode
from shared.migrate import upgrade
from tests.unit.funding.factories import scheduled

pytestmark = [pytest.mark.postgres]
RESERVATIONS = 50
FEE = 1_000_000  # per buổi of a tier-1 lecturer under the test norm; no other item has a norm, no trainee
AMOUNT = 2 * FEE  # each course: one day, two buổi
ALLOCATED = 35_500_000  # money for 17 of the 50


def test_fifty_parallel_reservations_against_one_line_never_overdraw_it(pg_url_factory):
    url = pg_url_factory("fund_conc")
    upgrade("funding", url)
    engine = make_engine(url, pool_size=RESERVATIONS + 5, max_overflow=0)
    factory = make_session_factory(engine)
    with transaction(factory) as s:
        usecases.create_norm(s, {"item": "lecturer_fee", "unit": "per_buoi", "lecturer_tier": 1, "province_code": "CM",
                                 "amount": FEE, "legal_basis": "MẪU – kiểm thử", "valid_from": date(2025, 1, 1),
                                 "valid_to": None, "is_sample": True})
        line = usecases.create_budget_line(s, {"fiscal_year": 2026, "source": "state_dtbd",
                                               "owner_unit_code": "CM-THOIBINH", "allocated": ALLOCATED,
                                               "decision_no": "01/QĐ", "decision_date": date(2026, 1, 5)})
        line_id = line["id"]
    envelopes = [decode(scheduled(trainees=[], days=1, tier=1)[0]) for _ in range(RESERVATIONS)]
    barrier = threading.Barrier(RESERVATIONS + 1)
    errors: list[BaseException] = []
    done = threading.Event()
    lowest = [ALLOCATED]

    def reserve(env) -> None:
        try:
            barrier.wait(30)
            with transaction(factory) as s:  # each its own transaction, as the consumer runs them
                usecases.reserve_for_schedule(s, env, province_code="CM")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def watch() -> None:
        barrier.wait(30)
        while not done.is_set():
            with factory() as s:
                b = s.get(BudgetLine, line_id)
                lowest[0] = min(lowest[0], b.allocated - b.reserved - b.spent)

    threads = [threading.Thread(target=reserve, args=(e,)) for e in envelopes]
    watcher = threading.Thread(target=watch)
    for t in threads + [watcher]:
        t.start()
    for t in threads:
        t.join(120)
    done.set()
    watcher.join(30)
    assert errors == []

    with factory() as s:
        b = s.get(BudgetLine, line_id)
        active = s.scalar(sa.select(sa.func.count()).select_from(Reservation).where(Reservation.status == "active"))
        kinds = {k: n for k, n in s.execute(sa.select(OUTBOX_TABLE.c.event_type, sa.func.count())
                                            .group_by(OUTBOX_TABLE.c.event_type))}
        ledger = usecases.line_balances(s, [line_id])[line_id]
    expected = ALLOCATED // AMOUNT
    assert active == expected == kinds["funding.budget_reserved"]
    assert kinds["funding.reservation_rejected"] == RESERVATIONS - expected
    assert (b.reserved, b.allocated - b.reserved - b.spent) == (expected * AMOUNT, ALLOCATED - expected * AMOUNT)
    assert lowest[0] >= 0
    assert ledger == {"allocated": ALLOCATED, "reserved": expected * AMOUNT, "spent": 0,
                      "balance": ALLOCATED - expected * AMOUNT}
    engine.dispose()
