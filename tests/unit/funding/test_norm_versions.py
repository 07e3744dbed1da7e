"""Cost norm versions: a later version supersedes an open-ended one (the shipped TT 100/2025 samples), real overlaps
are refused, past amounts keep their norm; the per-person endpoints need the API token."""
from __future__ import annotations

from datetime import date

import pytest

from services.funding.models import CostNorm, SettlementLine
from shared.validity import Version, supersede
from tests.unit.apps import API_AUTH, deliver
from tests.unit.funding.factories import completed_from, file_problems, scheduled, trainee
from tests.unit.funding.test_operations import HEADER, upload
from tests.unit.funding.test_settlement import events, make_app, rows


def fee_norm(**overrides) -> dict:
    return {"item": "lecturer_fee", "unit": "per_buoi", "lecturer_tier": 2, "province_code": "CM",
            "amount": 2_500_000, "legal_basis": "NQ 05/2026/NQ-HĐND tỉnh Cà Mau", "valid_from": "2026-04-01",
            **overrides}


def tier2_fees(app) -> list[tuple[date, date | None, int, bool]]:
    return sorted((n.valid_from, n.valid_to, n.amount, n.is_sample) for n in rows(app, CostNorm)
                  if n.item == "lecturer_fee" and n.lecturer_tier == 2)


# --- the pure rule -------------------------------------------------------------------------------------------------

V = Version


@pytest.mark.parametrize("new_from, new_to, closes, clash", [
    (date(2026, 1, 1), None, ["open"], None),  # strictly after the open-ended start: supersedes it
    (date(2025, 10, 29), date(2026, 1, 1), ["open"], None),  # a closed new version supersedes too
    (date(2025, 10, 28), None, [], "open"),  # the same start: a real overlap
    (date(2025, 1, 1), None, [], "closed"),  # crosses the closed range
    (date(2018, 1, 1), date(2018, 2, 1), [], "closed"),
])
def test_supersede_closes_only_an_open_ended_version_that_started_earlier(new_from, new_to, closes, clash):
    existing = [V("closed", date(2018, 1, 1), date(2025, 10, 27)), V("open", date(2025, 10, 28), None)]
    got_close, got_clash = supersede(existing, new_from, new_to)
    assert got_close == closes and (got_clash.id if got_clash else None) == clash


# --- through the API -----------------------------------------------------------------------------------------------

def test_a_real_norm_supersedes_the_open_ended_sample_and_each_course_gets_the_norm_of_its_date(tmp_path, backend):
    app = make_app(tmp_path, backend=backend)
    before, plan_before = scheduled(trainees=[trainee()], start=date(2026, 3, 2))
    deliver(app, before)
    resp = app.test_client().post("/api/v1/rules/cost-norms", json=fee_norm(), headers=API_AUTH)
    assert resp.status_code == 201, resp.data
    # the sample open-ended from 28/10/2025 (TT 100/2025 shape) now ends the day before the real version
    assert tier2_fees(app) == [(date(2018, 1, 1), date(2025, 10, 27), 1_800_000, True),
                               (date(2025, 10, 28), date(2026, 3, 31), 2_000_000, True),
                               (date(2026, 4, 1), None, 2_500_000, False)]
    after, plan_after = scheduled(trainees=[trainee()], start=date(2026, 4, 6))
    deliver(app, after)
    fee = {e["course_id"]: next(x for x in e["lines"] if x["item"] == "lecturer_fee")
           for e in (app.test_client().get(f"/api/v1/courses/{p['course_id']}/estimate", headers=API_AUTH).get_json()
                     for p in (plan_before, plan_after))}
    assert fee[plan_before["course_id"]]["unit_amount"] == 2_000_000  # March: the sample version
    assert fee[plan_after["course_id"]]["unit_amount"] == 2_500_000  # April: the real version


def test_a_settled_course_keeps_the_norm_it_was_computed_with(tmp_path, backend):
    app = make_app(tmp_path, backend=backend)
    body, plan = scheduled(trainees=[trainee()], start=date(2026, 3, 2))
    deliver(app, body)
    deliver(app, completed_from(plan)[0])
    [settled_fee] = [(x.norm_id, x.unit_amount) for x in rows(app, SettlementLine) if x.item == "lecturer_fee"]
    assert app.test_client().post("/api/v1/rules/cost-norms", json=fee_norm(valid_from="2026-03-15"),
                                  headers=API_AUTH).status_code == 201
    assert [(x.norm_id, x.unit_amount) for x in rows(app, SettlementLine) if x.item == "lecturer_fee"] == \
        [settled_fee]
    sample = next(n for n in rows(app, CostNorm) if n.id == settled_fee[0])
    assert (sample.valid_from, sample.valid_to) == (date(2025, 10, 28), date(2026, 3, 14))
    assert len(events(app, "funding.course_settled")) == 1


def test_a_norm_starting_with_or_before_the_open_ended_version_is_refused(tmp_path, backend):
    app = make_app(tmp_path, backend=backend)
    for start in ("2025-10-28", "2025-06-01"):
        resp = app.test_client().post("/api/v1/rules/cost-norms", json=fee_norm(valid_from=start), headers=API_AUTH)
        assert resp.status_code == 409 and "valid_from" in resp.get_json()["errors"]["json"], resp.data
    assert [n for n in tier2_fees(app) if not n[3]] == []


def test_a_norm_file_supersedes_the_samples_and_open_ended_rows_earlier_in_the_file(tmp_path, backend):
    app = make_app(tmp_path, backend=backend)
    resp = upload(app, HEADER + "lecturer_fee,per_buoi,2,CM,2500000,NQ 05/2026,2026-04-01,\n"
                                "lecturer_fee,per_buoi,2,CM,2700000,NQ 09/2026,2026-09-01,\n")
    assert resp.status_code == 201, resp.data
    assert resp.get_json() == {"imported": 2, "superseded": 1}
    assert tier2_fees(app)[1:] == [(date(2025, 10, 28), date(2026, 3, 31), 2_000_000, True),
                                   (date(2026, 4, 1), date(2026, 8, 31), 2_500_000, False),
                                   (date(2026, 9, 1), None, 2_700_000, False)]


def test_a_norm_file_with_a_real_overlap_changes_nothing(tmp_path, backend):
    app = make_app(tmp_path, backend=backend)
    before = tier2_fees(app)
    resp = upload(app, HEADER + "lecturer_fee,per_buoi,2,CM,2500000,NQ 05/2026,2026-04-01,\n"
                                "lecturer_fee,per_buoi,2,CM,2600000,NQ 06/2026,2026-04-01,\n")
    assert "valid_from" in file_problems(resp)["3"]
    assert tier2_fees(app) == before  # the sample was not closed either


# --- per-person data needs the token ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/api/v1/settlements/{course}", "/api/v1/settlements/{course}/payees",
    "/api/v1/settlements/{course}/payees?format=csv",
    "/api/v1/courses/{course}/estimate", "/api/v1/incentives", "/api/v1/degree-commitments", "/api/v1/receivables"])
def test_per_person_funding_data_is_refused_without_the_api_token(tmp_path, path):
    app = make_app(tmp_path)
    body, plan = scheduled(trainees=[trainee()])
    deliver(app, body)
    deliver(app, completed_from(plan)[0])
    url = path.format(course=plan["course_id"])
    client = app.test_client()
    assert client.get(url).status_code == 401
    assert client.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get(url, headers=API_AUTH).status_code == 200
