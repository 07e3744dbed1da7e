"""Validity ranges of versioned rules (norms, caps, standards): how a new version fits among the existing ones.

Pure functions, no framework: every service keeps regulated values as versions with valid_from/valid_to, and
operators load real values over the shipped samples by adding a version from its effective date.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Version:
    """A version as far as superseding is concerned: its id and validity (valid_to None = open-ended)."""

    id: str
    valid_from: date
    valid_to: date | None


def supersede(existing: list[Version], valid_from: date, valid_to: date | None) -> tuple[list[str], Version | None]:
    """Decide how a new version [valid_from, valid_to] fits among the existing versions of the same rule.

    Returns (ids of open-ended versions to close on valid_from − 1 day, the first real clash or None). A new version
    starting strictly after an open-ended one supersedes it (e.g. real norms loaded over the TT 100/2025 samples that
    are open-ended from 2025-10-28); one starting on or before its start, or overlapping a closed range, is a real
    overlap and is refused. Values already computed keep the version they were computed with.
    """
    far = date.max
    close, clash = [], None
    for v in sorted(existing, key=lambda v: v.valid_from):
        if not (v.valid_from <= (valid_to or far) and (v.valid_to or far) >= valid_from):
            continue
        if v.valid_to is None and v.valid_from < valid_from:
            close.append(v.id)
        elif clash is None:
            clash = v
    return ([] if clash else close), clash
