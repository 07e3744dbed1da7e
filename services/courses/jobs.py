"""Durable jobs of the courses service: none today (every change happens in a request or an event handler).

A job would be `run_<kind>(job, session, settings)` → one use case, listed in JOBS (shared.jobs runs them)."""
from __future__ import annotations

JOBS: dict = {}
