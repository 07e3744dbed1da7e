"""The cost of one consumer batch is a count, held here (issue 16): the SQL statements evaluation's and funding's
consumers run for a batch of `courses.course_completed` do not grow with the participants of an event (10 vs 40)
nor with the size of the batch (50 vs 200), on SQLite and on PostgreSQL (where the COPYs beneath SQLAlchemy count
too, read on the wire). A handler that queried per event or per participant fails this with the counts.
Not timed: `make bench-costs` prints the same counts with round trips and WAL bytes.
"""
from __future__ import annotations

import pytest

from tools.bench_costs import WireCounter, measure_service, prepare

SHAPES = [(200, 40), (200, 10), (50, 40)]  # (events in the batch, participants per event)
# what a batch costs today (inbox claim, rules and known rows read once, multi-row writes, outbox, notify), with room
# for a few more constant statements — a count that grows with the batch would pass it at once. Lowered from 12 for
# evaluation (to 10, then to 9: it runs 8 since its trainees' links are computed, not written) and from 20 for
# funding (it runs 13: the settled check is the locked row's status, the reservations come with their lines and the
# budget lines are found and locked by one statement each).
BOUND = {"evaluation": 9, "funding": 15}
# Executes on the wire (PostgreSQL): an executemany is one per row, so before the outbox rows went in by COPY
# evaluation's 200 × 40 batch sent 8,211 (one per follow-up); now 12 — held constant across shapes and bounded.
# Funding's sent 418 (its course rows were inserted and updated one execute each); now 20.
WIRE_BOUND = {"evaluation": 16, "funding": 24}


@pytest.mark.parametrize("service", ["evaluation", "funding"])
def test_the_statements_of_a_consumer_batch_do_not_grow_with_participants_or_batch_size(backend, service):
    url = backend.migrated(service)
    prepare(service, url)
    wire = WireCounter() if backend.is_postgres else None
    try:
        rows = measure_service(service, url, wire, SHAPES, wal=False)
    finally:
        if wire:
            wire.close()
    counts = {(r["size"], r["participants"]): r["real"].statements for r in rows}
    listing = "\n".join(rows[0]["real"].sql)
    assert len(set(counts.values())) == 1, f"statements per batch by (events, participants): {counts}\n{listing}"
    assert counts[SHAPES[0]] <= BOUND[service], f"{counts[SHAPES[0]]} statements for one batch:\n{listing}"
    if wire and service in WIRE_BOUND:
        executes = {(r["size"], r["participants"]): r["real"].wire_statements for r in rows}
        assert len(set(executes.values())) == 1, f"wire executes per batch by (events, participants): {executes}"
        assert executes[SHAPES[0]] <= WIRE_BOUND[service], executes
    # the batches did the work: one follow-up per course at least (evaluation also notifies each trainee)
    for r in rows:
        assert r["real"].publishes >= r["size"]
        assert r["base"].publishes == 0
