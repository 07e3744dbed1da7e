"""Security tests reuse the unit tests' app fixtures (real apps on throw-away SQLite files, no broker)."""
from tests.unit.conftest import make_client  # noqa: F401
