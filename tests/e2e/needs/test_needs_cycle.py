"""The needs processes end to end (web + worker as the Procfile starts them): survey → needs → approved plan on the
bus, and the loop closed by course and evaluation events arriving from the bus."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import date, timedelta

import pytest
import requests

from shared.config import PROJECT_ROOT
from shared.db import utcnow
from shared.events import new_event
from tests.e2e.conftest import publish
from tests.helpers import wait_until
from tests.integration.conftest import Broker

pytestmark = [pytest.mark.slow, pytest.mark.broker]
API = {"Authorization": "Bearer e2e-api"}
ADMIN = {"Authorization": "Bearer e2e-admin"}


def ok(resp, status=200):
    assert resp.status_code == status, f"{resp.request.method} {resp.url} → {resp.status_code} {resp.text[:300]}"
    return resp.json()


def ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/health/ready", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_a_closed_survey_becomes_an_approved_plan_on_the_bus_and_training_closes_the_needs(bus, stack_factory):
    stack = stack_factory({})
    subprocess.run([sys.executable, "-m", "shared.migrate", "needs"], env=stack.env, check=True, cwd=PROJECT_ROOT,
                   stdout=subprocess.DEVNULL)
    broker = Broker(bus)
    try:
        plans = broker.capture("needs.plan_approved")
        stack.start(["needs-web", "needs-worker"])
        needs = stack.url("needs")
        wait_until(lambda: ready(needs), timeout=60, what="the needs web process ready")

        seeded = ok(requests.post(f"{needs}/admin/needs/seed", json={"survey_year": 2026}, headers=ADMIN))
        campaign_id = seeded["survey"]["campaign_id"]
        # closing as a national campaign does: the request queues the job (202), the worker process computes it
        queued = ok(requests.post(f"{needs}/api/v1/campaigns/{campaign_id}/close", params={"background": "true"},
                                  headers=API), 202)
        assert queued["status"] == "closing" and queued["job"]["people_total"] == 111
        campaign_url = f"{needs}/api/v1/campaigns/{campaign_id}"
        wait_until(lambda: ok(requests.get(campaign_url))["status"] == "closed", timeout=60,
                   what="the needs worker closing the campaign")
        job = ok(requests.get(campaign_url))["close_job"]
        assert job["status"] == "done" and job["people_done"] == 111 and job["needs"] > 0
        plan = ok(requests.post(f"{needs}/api/v1/plans", json={"year": 2026, "title": "Kế hoạch 2026",
                                                              "topic_codes": ["KN-CNTT"]}, headers=API), 201)
        plan_id = plan["plan"]["id"]
        ok(requests.post(f"{needs}/api/v1/plans/{plan_id}/submit", headers=API))
        ok(requests.post(f"{needs}/api/v1/plans/{plan_id}/approve", json={"decision_no": "QĐ 01/QĐ-UBND"},
                         headers=API))

        [(_, _, body)] = broker.take(plans, 1, timeout=30)
        event = json.loads(body)
        assert event["payload"]["plan_id"] == plan_id
        line = event["payload"]["lines"][0]
        candidate = line["candidates"][0]
        assert line["topic_code"] == "KN-CNTT" and candidate["need_ids"]

        start = date(2026, 5, 4)
        env, completed = new_event("courses.course_completed", {
            "course_id": str(uuid.uuid4()), "code": "K-1", "title": "Kỹ năng số", "organizer_unit_code": line["unit_code"],
            "start_date": start, "end_date": start + timedelta(days=1), "completed_at": utcnow(), "total_sessions": 2,
            "topic_code": "KN-CNTT", "plan_line_id": line["line_id"],
            "sessions": [{"session_id": "s1", "date": start, "buoi": "morning", "lecturer_id": "L", "lecturer_tier": 2}],
            "participants": [{"civil_servant_id": candidate["civil_servant_id"], "commune_code": line["unit_code"],
                              "sessions_attended": 2, "days_attended": 2, "completed": True, "certified": True,
                              "need_ids": candidate["need_ids"]}]}, producer="courses")
        publish(bus, env.type, [(env.id, completed)])
        met = {"civil_servant_id": candidate["civil_servant_id"], "status": "met"}
        wait_until(lambda: ok(requests.get(f"{needs}/api/v1/needs", params=met, headers=API))["total"] ==
                   len(candidate["need_ids"]), timeout=30, what="the candidate's needs met")

        env, evaluated = new_event("evaluation.course_evaluated", {
            "course_id": env.payload["course_id"], "evaluated_at": utcnow() + timedelta(minutes=1),
            "request_count": 1, "valid_responses": 1, "response_rate": 1.0, "general_index": 8.0, "band": "good",
            "assessed_levels": [{"civil_servant_id": candidate["civil_servant_id"], "competency_code": "CM06",
                                 "level": 4}]}, producer="evaluation")
        publish(bus, env.type, [(env.id, evaluated)])

        def current_it_level():
            profile = ok(requests.get(f"{needs}/api/v1/civil-servants/{candidate['civil_servant_id']}/competencies",
                                      headers=API))
            return next((c for c in profile["current"] if c["competency_code"] == "CM06"
                         and c["source"] == "evaluation"), None)
        assert wait_until(current_it_level, timeout=30, what="the evaluated level recorded")["level"] == 4

        coverage = ok(requests.get(f"{needs}/api/v1/reports/plan-coverage", params={"plan_id": plan_id}))
        assert sum(row["trained"] for row in coverage) == 1
    finally:
        broker.close()
