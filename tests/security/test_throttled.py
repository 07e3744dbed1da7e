"""A throttled answer says when to come back: shared.errors.Throttled carries `retry_after` seconds and shared.web's
error handler sends them as Retry-After on the JSON 429 (the courses check-in page did; the JSON check-in route,
POST /api/v1/checkin/{token}, answered 429 without it). Both backends: the refused attempts are rows."""
from __future__ import annotations

import secrets

import pytest

pytestmark = pytest.mark.usefixtures("backend")

CLIENT_LIMIT = 10  # services/courses/settings.py: checkin_max_failures_per_client
WINDOW_S = 15 * 60  # checkin_failure_window_minutes


def test_a_throttled_json_check_in_carries_retry_after_in_seconds(make_client):
    client = make_client("courses")
    device = {"X-Real-IP": "203.0.113.7"}
    statuses = [client.post(f"/api/v1/checkin/{secrets.token_urlsafe(32)}", headers=device)
                for _ in range(CLIENT_LIMIT + 2)]
    assert [r.status_code for r in statuses] == [404] * CLIENT_LIMIT + [429, 429], [r.status_code for r in statuses]
    for refused in statuses[:CLIENT_LIMIT]:
        assert "Retry-After" not in refused.headers
    throttled = statuses[-1]
    assert throttled.mimetype == "application/json" and throttled.get_json()["code"] == 429
    assert throttled.headers.get("Retry-After") == str(WINDOW_S)
    other = client.post(f"/api/v1/checkin/{secrets.token_urlsafe(32)}", headers={"X-Real-IP": "203.0.113.8"})
    assert other.status_code == 404 and "Retry-After" not in other.headers  # another device is not throttled

