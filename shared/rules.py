"""Versioned rules: a value set by a regulation (a norm, a cap, a scale, a standard) is a row with a legal basis
and validity dates, and changes by adding a version — never by editing code or an existing row's value.

One mechanism for the four services (today: needs `rule_value`/`set_rule`, evaluation `active_rule(s)`/
`add_rule_version`, courses `_make_room`/`_in_force`/`_set_undated`, funding's cost norms inline).

The semantics (one for every service)
-------------------------------------
* **Value in force on a day** (`in_force`): the version with valid_from ≤ day ≤ valid_to (valid_to None =
  open-ended). If legacy data has two such rows, the latest valid_from wins, ties broken by primary key, so the
  answer is deterministic; with none, `None` (the service decides whether that is a default or a refusal).
* **Adding a version** (`add_version`) applies `supersede` (shared/validity.py, the one pure rule):
  - a new version starting *strictly after* an open-ended version closes it on valid_from − 1 day, in the same
    transaction (real values loaded over the shipped open-ended samples: the everyday case);
  - any other overlap — the same start, a start before the open-ended one's, crossing a closed range, or an
    open-ended new version dated before a later one — is refused with one Vietnamese message naming the clashing
    version's dates in dd/mm/yyyy (`clash_message`), as a conflict on `valid_from`;
  - valid_to before valid_from is refused as invalid on `valid_to` (one day, valid_to == valid_from, is fine).
* **Correcting the current version** (`correct_current`): the undated path courses has for plain settings (duty
  share, buổi times): change the open-ended version in place, keeping its dates; with none, start one the day after
  the last closed version (or on UNDATED_FROM). It is a separate, explicit call — not a fallback of add_version.
* **Ending a version** (`end_version`): give an existing version an earlier (or, if nothing clashes, a later)
  valid_to. The explicit, auditable way to make room before a retroactive version.

Why supersede and not the others
--------------------------------
* Courses and funding already use it, and their tests (and evaluation's) pin its refusals: an earlier-dated or
  crossing version is a 409 naming valid_from.
* Evaluation's "refuse when any later version exists" is the same rule, minus the closed-new-version case.
* Needs' rule silently shortened *closed* versions and slotted a new one in before a later one. That rewrites
  what was in force on past dates, and nobody asked for it. Under one semantics this becomes two explicit steps:
  `end_version` on the covering version, then `add_version` with an explicit valid_to. The one needs test that
  asserts the slot-in (tests/unit/needs/test_registry.py
  `test_a_rule_version_dated_before_a_later_one_ends_the_day_before_it`) changes with that service's move.

Storage
-------
New tables take the `VersionedColumns` mixin. Existing tables keep their columns: a model whose names differ
declares `__version_columns__ = Columns(is_sample="sample")` (needs' `Rule`) or `Columns(legal_basis="note")`
(courses' duty rules and buổi times). No data migration is needed. A model's primary key may be a uuid `id` (filled
in by add_version when missing) or composite (needs' `(code, valid_from)`).

`**key` names the rule a version belongs to (`code="combination"`, `fostering_type=..., variant=None`): a None
value matches NULL, as courses' variant and funding's lecturer tier need. Errors go through `_clash`/`_invalid`
only, so switching them to the shared error kinds (Conflict, Invalid) is one line each.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared.errors import Conflict, Invalid
from shared.validity import Version, supersede  # noqa: F401 - the one pure rule, re-exported for domain code

UNDATED_FROM = date(2000, 1, 1)  # a setting loaded without a start date applies to every date
ONE_DAY = timedelta(days=1)


# --- storage -------------------------------------------------------------------------------------------------------

class VersionedColumns:
    """Declarative mixin: the four columns every versioned rule has (add the rule's key and value columns)."""

    valid_from: Mapped[date] = mapped_column(sa.Date)
    valid_to: Mapped[date | None] = mapped_column(sa.Date)  # last day in force; None = until superseded
    legal_basis: Mapped[str] = mapped_column(sa.String(300))  # the decision behind the value; "MẪU" for samples
    is_sample: Mapped[bool] = mapped_column(sa.Boolean, default=False)


@dataclass(frozen=True)
class Columns:
    """The attribute names of a model's versioning columns (None: the model has no such column)."""

    valid_from: str = "valid_from"
    valid_to: str = "valid_to"
    is_sample: str | None = "is_sample"
    legal_basis: str | None = "legal_basis"


DEFAULT_COLUMNS = Columns()


def columns_of(model) -> Columns:
    """The versioning columns of `model`: its `__version_columns__`, or the VersionedColumns names."""
    return getattr(model, "__version_columns__", DEFAULT_COLUMNS)


# --- errors (one place each: the switch to shared error kinds is one line) -------------------------------------

def clash_message(clash: Version) -> str:
    """The one Vietnamese refusal of an overlapping version, naming the clashing version's dates."""
    until = f" đến {clash.valid_to:%d/%m/%Y}" if clash.valid_to else " (chưa có ngày hết hiệu lực)"
    return (f"Trùng thời gian hiệu lực với phiên bản từ {clash.valid_from:%d/%m/%Y}{until}; phiên bản mới phải bắt "
            "đầu sau ngày bắt đầu của phiên bản đang áp dụng.")


def _clash(clash: Version):
    raise Conflict(clash_message(clash), field="valid_from")


def _invalid(message: str, field: str):
    raise Invalid(message, field=field)


def check_range(valid_from: date, valid_to: date | None) -> None:
    """Refuse a validity that ends before it starts (naming valid_to)."""
    if valid_to is not None and valid_to < valid_from:
        _invalid("Ngày hết hiệu lực trước ngày bắt đầu hiệu lực.", "valid_to")  # the wording funding's tests pin


# --- reading ---------------------------------------------------------------------------------------------------

def _where(model, key: dict[str, Any]) -> list:
    return [getattr(model, k).is_(None) if v is None else getattr(model, k) == v for k, v in key.items()]


def _covering(model, on: date) -> list:
    cols = columns_of(model)
    start, end = getattr(model, cols.valid_from), getattr(model, cols.valid_to)
    return [start <= on, sa.or_(end.is_(None), end >= on)]


def _primary_key(model) -> tuple:
    return tuple(sa.inspect(model).primary_key)


def in_force(session: Session, model, on: date, /, **key):
    """The version of the rule `key` in force on `on`, or None (latest start wins, then primary key)."""
    start = getattr(model, columns_of(model).valid_from)
    stmt = (sa.select(model).where(*_covering(model, on), *_where(model, key))
            .order_by(start.desc(), *(c.desc() for c in _primary_key(model))).limit(1))
    return session.scalar(stmt)


def in_force_by(session: Session, model, on: date, by: str, /, among: Iterable | None = None, **key) -> dict:
    """The versions in force on `on` of several rules in one query, keyed by the column `by` (e.g. code):
    evaluation's `active_rules`, courses' buổi times. `among` limits the `by` values; missing ones are absent."""
    start, column = getattr(model, columns_of(model).valid_from), getattr(model, by)
    stmt = sa.select(model).where(*_covering(model, on), *_where(model, key))
    if among is not None:
        stmt = stmt.where(column.in_(list(among)))
    stmt = stmt.order_by(start, *_primary_key(model))  # ascending: the latest start is written last and wins
    return {getattr(row, by): row for row in session.scalars(stmt)}


def versions(session: Session, model, /, *, order_by: tuple = (), newest_first: bool = False, **key) -> list:
    """Every version of the rule `key` (of every rule, if no key), by start date after the `order_by` columns."""
    start = getattr(model, columns_of(model).valid_from)
    stmt = sa.select(model).where(*_where(model, key)).order_by(*order_by, start.desc() if newest_first else start)
    return list(session.scalars(stmt))


# --- writing ---------------------------------------------------------------------------------------------------

def _model_names(cols: Columns, values: dict) -> dict:
    """Accept the canonical names (valid_from, valid_to, is_sample, legal_basis) for a model that spells them
    otherwise (needs' `sample`)."""
    out = dict(values)
    for canonical in ("valid_from", "valid_to", "is_sample", "legal_basis"):
        actual = getattr(cols, canonical)
        if actual and actual != canonical and canonical in out:
            out[actual] = out.pop(canonical)
    return out


def _locked(session: Session, model, key: dict) -> list:
    start = getattr(model, columns_of(model).valid_from)
    return list(session.scalars(sa.select(model).where(*_where(model, key)).order_by(start).with_for_update()))


def _new_row(model, cols: Columns, key: dict, values: dict):
    for k, v in key.items():
        if k in values and values[k] != v:
            raise ValueError(f"values[{k!r}] differs from the rule key")
    data = {**values, **key}
    if cols.is_sample:
        data.setdefault(cols.is_sample, False)
    mapper_columns = sa.inspect(model).columns
    if "id" in mapper_columns and "id" not in data and isinstance(mapper_columns["id"].type, sa.String):
        data["id"] = str(uuid.uuid4())
    return model(**data)


def add_version(session: Session, model, values: dict, /, **key):
    """Add a version of the rule `key` from values[valid_from] (valid_to optional): an open-ended version that
    started earlier ends the day before; any other overlap is refused (`_clash`). Flushes; returns the new row.

    The rule's existing rows are locked (FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE serialises writers).
    """
    cols = columns_of(model)
    values = _model_names(cols, values)
    valid_from, valid_to = values[cols.valid_from], values.get(cols.valid_to)
    check_range(valid_from, valid_to)
    rows = _locked(session, model, key)
    close, clash = supersede([Version(str(n), getattr(r, cols.valid_from), getattr(r, cols.valid_to))
                              for n, r in enumerate(rows)], valid_from, valid_to)
    if clash is not None:
        _clash(clash)
    for n in close:
        setattr(rows[int(n)], cols.valid_to, valid_from - ONE_DAY)
    session.flush()  # the closed versions first: a unique (key, valid_to)-style index never sees both
    row = _new_row(model, cols, key, {**values, cols.valid_to: valid_to})
    session.add(row)
    session.flush()
    return row


def correct_current(session: Session, model, values: dict, /, *, undated_from: date = UNDATED_FROM, **key):
    """Correct the rule `key` without a date: the open-ended version takes `values` in place (its dates kept);
    with none, a version starts the day after the last closed one (or on `undated_from`). Marks it not a sample.

    An end date without a start date is refused (naming valid_from): a correction has no dates of its own.
    """
    cols = columns_of(model)
    values = _model_names(cols, values)
    if values.pop(cols.valid_to, None) is not None:
        _invalid("Có ngày hết hiệu lực thì cần ngày bắt đầu hiệu lực.", "valid_from")
    if values.get(cols.valid_from) is not None:
        raise ValueError("correct_current takes no valid_from; use add_version for a dated version")
    values.pop(cols.valid_from, None)
    rows = _locked(session, model, key)
    current = next((r for r in reversed(rows) if getattr(r, cols.valid_to) is None), None)
    if current is None:
        last_end = max((getattr(r, cols.valid_to) for r in rows), default=None)
        current = _new_row(model, cols, key, {cols.valid_from: last_end + ONE_DAY if last_end else undated_from,
                                              cols.valid_to: None, **values})
        session.add(current)
    for k, v in values.items():
        setattr(current, k, v)
    if cols.is_sample:
        setattr(current, cols.is_sample, False)
    session.flush()
    return current


def end_version(session: Session, model, row, valid_to: date, /, **key):
    """Give the version `row` of the rule `key` a new last day (closing an open-ended one, shortening a closed one,
    or lengthening it when no other version clashes). Flushes; returns the row."""
    cols = columns_of(model)
    check_range(getattr(row, cols.valid_from), valid_to)
    others = [r for r in _locked(session, model, key) if r is not row]
    _, clash = supersede([Version(str(n), getattr(r, cols.valid_from), getattr(r, cols.valid_to))
                          for n, r in enumerate(others)], getattr(row, cols.valid_from), valid_to)
    if clash is not None:
        _clash(clash)
    setattr(row, cols.valid_to, valid_to)
    session.flush()
    return row
