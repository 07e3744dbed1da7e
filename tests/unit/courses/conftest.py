"""Fixtures of the courses unit tests: a courses app on its own SQLite file."""
import pytest

from tests.helpers import Clock
from tests.unit.apps import API_AUTH


@pytest.fixture
def clock():
    """The courses app's clock: the real now until a test sets `clock.at` (a check-in window, a later day)."""
    return Clock()


@pytest.fixture
def client(make_client, clock):
    """A courses app whose on-duty share allows whole communes away (tests of the share set their own rule)."""
    c = make_client("courses", clock=clock)
    resp = c.post("/api/v1/rules/duty-shares", json={"commune_code": "*", "max_absent_percent": 100,
                                                    "note": "tests"}, headers=API_AUTH)
    assert resp.status_code == 200, resp.data
    return c


@pytest.fixture
def strict_client(make_client):
    """A courses app with the shipped default on-duty share (30 %)."""
    return make_client("courses")
