"""Fixtures of evaluation's unit tests."""
import pytest


@pytest.fixture
def client(make_client):
    """A migrated evaluation app's test client (SQLite, or the `backend` the test asks for)."""
    return make_client("evaluation")
