"""Closing a large campaign as a durable worker job: 202, progress on the campaign, resumable, same needs."""
from dataclasses import replace
from datetime import timedelta

import sqlalchemy as sa

from services.needs import jobs, usecases
from services.needs.models import CivilServant, CloseJob, Need
from shared.localtime import utcnow
from tests.unit.apps import API_AUTH
from tests.unit.needs.factories import seeded, session_of


def _seeded_survey(make_client):
    client = seeded(make_client, civil_servants=111, survey_year=2026)
    return client, client.seed_result["survey"]["campaign_id"]


def _factory(client):
    return client.application.extensions["service"].session_factory


def _needs_fingerprint(client) -> list[tuple]:
    with session_of(client) as session:
        return sorted(session.execute(sa.select(CivilServant.code, Need.kind, Need.topic_code, Need.competency_code,
                                                Need.standard_code, Need.gap, Need.priority_score)
                                      .join(CivilServant, CivilServant.id == Need.civil_servant_id)).all())


def _advancing_clock(step=timedelta(hours=2)):
    """A clock that moves on `step` at every reading (past any back-off), instead of sleeping."""
    now = [utcnow()]

    def read():
        now[0] += step
        return now[0]
    return read


def _campaign(client, campaign_id) -> dict:
    return client.get(f"/api/v1/campaigns/{campaign_id}").get_json()


def test_small_campaign_closes_in_the_request_with_200(make_client):
    client, campaign_id = _seeded_survey(make_client)
    resp = client.post(f"/api/v1/campaigns/{campaign_id}/close", headers=API_AUTH)
    assert resp.status_code == 200, resp.data
    body = resp.get_json()
    assert body["status"] == "closed" and body["people"] == 111 and body["job"]["status"] == "done"
    assert _campaign(client, campaign_id)["close_job"]["people_done"] == 111


def test_large_campaign_close_is_accepted_as_a_job_and_the_worker_computes_the_same_needs(make_client):
    inline, inline_id = _seeded_survey(make_client)
    assert inline.post(f"/api/v1/campaigns/{inline_id}/close", headers=API_AUTH).status_code == 200
    client, campaign_id = _seeded_survey(make_client)
    service = client.application.extensions["service"]
    service.settings = replace(service.settings, close_inline_limit=100)  # 111 surveyed people: above the limit
    resp = client.post(f"/api/v1/campaigns/{campaign_id}/close", headers=API_AUTH)
    assert resp.status_code == 202, resp.data
    assert resp.get_json()["status"] == "closing"
    shown = _campaign(client, campaign_id)
    assert shown["status"] == "closing"
    assert shown["close_job"]["status"] == "queued" and shown["close_job"]["people_total"] == 111
    with session_of(client) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Need)) == 0  # nothing computed in the request
    # answers are refused while closing, and a second close is a conflict
    late = client.post(f"/api/v1/campaigns/{campaign_id}/responses", headers=API_AUTH,
                       json={"civil_servant_id": "x", "role": "self", "levels": {"CM01": 3}})
    assert late.status_code == 409
    again = client.post(f"/api/v1/campaigns/{campaign_id}/close", headers=API_AUTH)
    assert again.status_code == 409 and "campaign_id" in again.get_json()["errors"]["json"]

    assert jobs.run_close_jobs(_factory(client), chunk=25) == 6  # 5 chunks of people + the final step
    shown = _campaign(client, campaign_id)
    assert shown["status"] == "closed" and shown["closed_at"]
    assert shown["close_job"]["status"] == "done" and shown["close_job"]["people_done"] == 111
    assert _needs_fingerprint(client) == _needs_fingerprint(inline)


def test_close_job_resumes_from_its_committed_cursor_after_the_worker_stops(make_client):
    inline, inline_id = _seeded_survey(make_client)
    inline.post(f"/api/v1/campaigns/{inline_id}/close", headers=API_AUTH)
    client, campaign_id = _seeded_survey(make_client)
    assert client.post(f"/api/v1/campaigns/{campaign_id}/close", query_string={"background": "true"},
                       headers=API_AUTH).status_code == 202
    assert jobs.run_close_jobs(_factory(client), chunk=30, max_steps=2) == 2  # the worker dies after two chunks
    job = _campaign(client, campaign_id)["close_job"]
    assert job["status"] == "running" and job["people_done"] == 60 and job["needs"] > 0
    assert jobs.run_close_jobs(_factory(client), chunk=30) == 3  # a new worker goes on from person 61
    assert _campaign(client, campaign_id)["close_job"]["people_done"] == 111
    assert _needs_fingerprint(client) == _needs_fingerprint(inline)


def test_a_chunk_that_keeps_failing_stops_the_job_as_failed_and_closing_again_requeues_it(make_client):
    client, campaign_id = _seeded_survey(make_client)
    client.post(f"/api/v1/campaigns/{campaign_id}/close", query_string={"background": "true"}, headers=API_AUTH)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")
    jobs.run_close_jobs(_factory(client), now_fn=_advancing_clock(), step=broken)  # each retry after its back-off
    shown = _campaign(client, campaign_id)
    assert shown["status"] == "closing"
    assert shown["close_job"]["status"] == "failed" and shown["close_job"]["attempts"] == 5
    assert shown["close_job"]["error"] == "RuntimeError"
    resp = client.post(f"/api/v1/campaigns/{campaign_id}/close", headers=API_AUTH)
    assert resp.status_code == 202 and resp.get_json()["job"]["status"] == "queued"
    jobs.run_close_jobs(_factory(client))
    assert _campaign(client, campaign_id)["status"] == "closed"


def test_closing_an_unknown_campaign_is_404_naming_the_campaign(make_client):
    client = seeded(make_client)
    resp = client.post("/api/v1/campaigns/nope/close", headers=API_AUTH)
    assert resp.status_code == 404 and "campaign_id" in str(resp.get_json()["errors"])


def test_close_job_freezes_the_rules_in_force_when_closing_was_asked(make_client):
    client, campaign_id = _seeded_survey(make_client)
    client.post(f"/api/v1/campaigns/{campaign_id}/close", query_string={"background": "true"}, headers=API_AUTH)
    with session_of(client) as session:
        params = session.get(CloseJob, campaign_id).params
    assert params["combination"]["method"] and params["standards"] and params["priority_weights"]


def test_the_sql_combination_gives_what_the_domain_rule_gives_for_every_pair_and_method():
    from services.needs import domain

    pairs = [(s, p) for s in (None, 1, 2, 3, 4, 5) for p in (None, 1, 2, 3, 4, 5)]
    values = sa.Table("v", sa.MetaData(), sa.Column("s", sa.Integer), sa.Column("p", sa.Integer))
    engine = sa.create_engine("sqlite://")
    values.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(values), [{"s": s, "p": p} for s, p in pairs])
    rules = [domain.CombinationRule("supervisor_else_self"), domain.CombinationRule("minimum"),
             domain.CombinationRule("weighted", 0.3, 0.7), domain.CombinationRule("weighted", 0.5, 0.5),
             domain.CombinationRule("weighted", 0.0, 1.0)]
    with engine.connect() as conn:
        for rule in rules:
            expr = usecases._combination_case(rule, values.c.s, values.c.p)
            got = conn.execute(sa.select(values.c.s, values.c.p, expr)).all()
            assert {(s, p): v for s, p, v in got} == {(s, p): domain.combine(s, p, rule) for s, p in pairs}, rule
