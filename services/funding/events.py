"""Payloads of the events the funding service publishes, one builder per event (schemas: shared/events.py)."""
from __future__ import annotations

from datetime import datetime

from services.funding.domain import Short


def budget_reserved(course_id: str, revision: int, reservation_id: str, estimate_total: int,
                    lines: list[dict]) -> dict:
    """funding.budget_reserved: the course's estimate is covered; `lines` are the reservation lines."""
    return {"course_id": course_id, "revision": revision, "reservation_id": reservation_id,
            "estimate_total": estimate_total,
            "lines": [{"budget_line_id": r["budget_line_id"], "source": r["source"],
                       "owner_unit_code": r["owner_unit_code"], "amount": r["amount"]} for r in lines]}


def reservation_rejected(course_id: str, revision: int, reason: str, estimate_total: int,
                         shorts: list[Short]) -> dict:
    """funding.reservation_rejected: the course waits for funds; the reason and the lines that are short."""
    return {"course_id": course_id, "revision": revision, "reason": reason, "estimate_total": estimate_total,
            "short_lines": [{"budget_line_id": s.budget_line_id, "source": s.source,
                             "owner_unit_code": s.owner_unit_code, "required": s.required, "available": s.available}
                            for s in shorts]}


def course_settled(course_id: str, settlement_id: str, sums: dict[str, int], settled_at: datetime,
                   estimate_total: int | None, variance: int | None, released: int) -> dict:
    """funding.course_settled: the course's settlement (domain.totals `sums`), against its estimate."""
    return {"course_id": course_id, "settlement_id": settlement_id, "lecturer_fees": sums["lecturer_fees"],
            "learner_support": sums["learner_support_total"], "total_amount": sums["total"],
            "settled_at": settled_at, "estimate_total": estimate_total, "variance": variance, "released": released}
