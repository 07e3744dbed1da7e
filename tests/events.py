"""One factory per catalogue event for tests: `make_<event>(**overrides)` returns (message id, JSON body, payload).

Every payload passes its catalogue schema (shared/events.py); overrides replace top-level fields. Sections follow
the producing service.
"""
from __future__ import annotations

# --- needs ------------------------------------------------------------------------------------------------------

# --- courses ----------------------------------------------------------------------------------------------------

# --- evaluation -------------------------------------------------------------------------------------------------

# --- funding ----------------------------------------------------------------------------------------------------
