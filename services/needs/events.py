"""Payloads of the events the needs service publishes, one builder per event (schemas: shared/events.py).

The builders read attributes only (a CivilServant row, a Plan row or any object with the same names), so tests
build the same payloads from plain namespaces (tests/events.py). No names or birth data leave the service.
"""
from __future__ import annotations

from datetime import date, datetime


def _shared_fields(cs, commune_code: str) -> dict:
    return {"civil_servant_id": cs.id, "code": cs.code, "unit_code": cs.unit_code, "commune_code": commune_code,
            "position_code": cs.position_code, "female": cs.gender == "female",
            "ethnic_minority": cs.ethnic_minority, "hard_area": cs.hard_area,
            "child_under_36_months": cs.child_under_36_months}


def civil_servant_registered(cs, commune_code: str) -> dict:
    """needs.civil_servant_registered: the shareable fields of a new civil servant, with today's commune."""
    return _shared_fields(cs, commune_code)


def civil_servant_updated(cs, commune_code: str, changed_fields: list[str]) -> dict:
    """needs.civil_servant_updated: the full current state of the shareable fields and the fields that changed."""
    return {**_shared_fields(cs, commune_code), "employment_status": cs.employment_status,
            "changed_fields": list(changed_fields)}


def civil_servant_left(cs, commune_code: str) -> dict:
    """needs.civil_servant_left: employment ended on `cs.left_on` for `cs.left_reason`."""
    return {"civil_servant_id": cs.id, "code": cs.code, "unit_code": cs.unit_code, "commune_code": commune_code,
            "left_on": cs.left_on, "reason": cs.left_reason}


def units_reorganised(reorganisation_id: str, effective: date, decision_no: str, new_units: list[dict],
                      successions: list[tuple[str, str]]) -> dict:
    """needs.units_reorganised: the new units of a decision (as posted) and its (predecessor, successor) pairs."""
    return {"reorganisation_id": reorganisation_id, "effective_date": effective, "decision_no": decision_no,
            "new_units": [{"code": u["code"], "name": u["name"], "unit_type": u["kind"],
                           "parent_code": u.get("parent_code"), "valid_from": effective} for u in new_units],
            "successions": [{"predecessor_code": p, "successor_code": s} for p, s in successions]}


def plan_approved(plan, lines: list, candidates: dict[str, list], approved_at: datetime) -> dict:
    """needs.plan_approved: the plan's lines with their named candidates (highest priority first)."""
    return {
        "plan_id": plan.id, "year": plan.year, "scheme_code": plan.scheme_code, "approved_at": approved_at,
        "lines": [{"line_id": ln.id, "topic_code": ln.topic_code, "competency_codes": ln.competency_codes or [],
                   "unit_code": ln.unit_code, "position_code": ln.position_code, "headcount": ln.headcount,
                   "quarter": ln.quarter,
                   "candidates": [{"civil_servant_id": c.civil_servant_id, "commune_code": c.commune_code,
                                   "priority_score": c.priority_score, "need_ids": c.need_ids or []}
                                  for c in sorted(candidates.get(ln.id, []), key=lambda c: -c.priority_score)]}
                  for ln in lines]}
