"""shared/rules.py: one semantics for versioned rules — supersede an open-ended earlier version, refuse any other
overlap with one message — against tables spelled like the services' (a uuid id or a composite key, `is_sample` or
`sample`)."""
from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import make_engine, make_session_factory, transaction
from shared.errors import DomainError
from shared.web import status_of
from shared.rules import (UNDATED_FROM, Columns, Version, VersionedColumns, add_version, clash_message, columns_of,
                          correct_current, end_version, in_force, in_force_by, supersede, versions)


class Base(DeclarativeBase):
    pass


class Norm(VersionedColumns, Base):
    """Like funding's CostNorm / courses' LengthRule: uuid id, a key with a nullable part."""

    __tablename__ = "norms"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    item: Mapped[str] = mapped_column(sa.String(40))
    tier: Mapped[int | None] = mapped_column(sa.Integer)
    amount: Mapped[int] = mapped_column(sa.Integer)


class Rule(Base):
    """Like needs' Rule: primary key (code, valid_from), `sample` instead of is_sample, JSON value."""

    __tablename__ = "rules"
    __version_columns__ = Columns(is_sample="sample")
    code: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    valid_from: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    valid_to: Mapped[date | None] = mapped_column(sa.Date)
    value: Mapped[dict] = mapped_column(sa.JSON)
    legal_basis: Mapped[str] = mapped_column(sa.String(300))
    sample: Mapped[bool] = mapped_column(sa.Boolean, default=True)


class Setting(Base):
    """Like courses' CommuneDutyRule / BuoiTime: `note` instead of legal_basis, corrected without a date."""

    __tablename__ = "settings"
    __version_columns__ = Columns(legal_basis="note")
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    commune_code: Mapped[str] = mapped_column(sa.String(40))
    percent: Mapped[int] = mapped_column(sa.Integer)
    note: Mapped[str] = mapped_column(sa.String(300))
    valid_from: Mapped[date] = mapped_column(sa.Date)
    valid_to: Mapped[date | None] = mapped_column(sa.Date)
    is_sample: Mapped[bool] = mapped_column(sa.Boolean, default=False)


D = date
SAMPLE_FROM = D(2025, 10, 28)


# --- the pure rule ---------------------------------------------------------------------------------------------

EXISTING = [Version("closed", D(2018, 1, 1), D(2025, 10, 27)), Version("open", SAMPLE_FROM, None)]


@pytest.mark.parametrize("new_from, new_to, closes, clash", [
    (D(2026, 1, 1), None, ["open"], None),  # strictly after the open-ended start: supersedes it
    (D(2025, 10, 29), D(2026, 1, 1), ["open"], None),  # a closed new version supersedes too
    (D(2025, 10, 28), None, [], "open"),  # the same start: a real overlap
    (D(2025, 10, 27), None, [], "closed"),  # starts inside the closed range
    (D(2025, 1, 1), None, [], "closed"),  # crosses the closed range
    (D(2018, 1, 1), D(2018, 2, 1), [], "closed"),
    (D(2017, 1, 1), D(2017, 12, 31), [], None),  # before everything, touching: fits
    (D(2017, 1, 1), None, [], "closed"),  # open-ended before a later version: refused, never slotted in
])
def test_supersede(new_from, new_to, closes, clash):
    got_close, got_clash = supersede(EXISTING, new_from, new_to)
    assert got_close == closes and (got_clash.id if got_clash else None) == clash


def test_the_clash_message_names_the_clashing_versions_dates():
    assert clash_message(Version("x", D(2026, 1, 1), D(2026, 5, 31))) == (
        "Trùng thời gian hiệu lực với phiên bản từ 01/01/2026 đến 31/05/2026; phiên bản mới phải bắt đầu sau ngày "
        "bắt đầu của phiên bản đang áp dụng.")
    assert "từ 28/10/2025 (chưa có ngày hết hiệu lực)" in clash_message(Version("y", SAMPLE_FROM, None))


def test_columns_default_to_the_mixin_names():
    assert columns_of(Norm) == Columns() and columns_of(Rule).is_sample == "sample"


# --- against a database ----------------------------------------------------------------------------------------

@pytest.fixture
def db(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'rules.db'}")
    Base.metadata.create_all(engine)
    yield make_session_factory(engine)
    engine.dispose()


def norm(s, valid_from, valid_to=None, amount=1, tier=2, item="fee", **extra):
    return add_version(s, Norm, {"amount": amount, "legal_basis": "NQ thử", "valid_from": valid_from,
                                 "valid_to": valid_to, **extra}, item=item, tier=tier)


def dates(s, model=Norm, **key):
    return [(v.valid_from, v.valid_to) for v in versions(s, model, **key)]


def refused(fn, status, field):
    with pytest.raises(DomainError) as caught:
        fn()
    assert (status_of(caught.value), caught.value.field) == (status, field)
    return caught.value.message


def test_a_later_version_closes_the_open_ended_sample_the_day_before(db):
    with transaction(db) as s:
        sample = norm(s, SAMPLE_FROM, is_sample=True)
        real = norm(s, D(2026, 4, 1), amount=2)
        assert sample.valid_to == D(2026, 3, 31) and real.valid_to is None
        assert real.id and real.is_sample is False and sample.is_sample is True
        assert dates(s, item="fee", tier=2) == [(SAMPLE_FROM, D(2026, 3, 31)), (D(2026, 4, 1), None)]


def test_every_other_overlap_is_refused_with_one_message_and_changes_nothing(db):
    with transaction(db) as s:
        norm(s, D(2026, 1, 1), D(2026, 5, 31))
        norm(s, D(2026, 6, 1))
    for start, end in [(D(2026, 6, 1), None), (D(2026, 5, 1), None), (D(2026, 3, 1), D(2026, 3, 31)),
                       (D(2025, 1, 1), None)]:
        with transaction(db) as s:
            message = refused(lambda: norm(s, start, end), 409, "valid_from")
            assert message.startswith("Trùng thời gian hiệu lực với phiên bản từ ")
    with transaction(db) as s:
        assert dates(s) == [(D(2026, 1, 1), D(2026, 5, 31)), (D(2026, 6, 1), None)]


def test_the_message_names_the_first_clashing_version(db):
    with transaction(db) as s:
        norm(s, D(2026, 1, 1), D(2026, 5, 31))
        assert "từ 01/01/2026 đến 31/05/2026;" in refused(lambda: norm(s, D(2026, 5, 1)), 409, "valid_from")


def test_an_end_before_the_start_is_invalid_naming_valid_to_and_one_day_is_fine(db):
    with transaction(db) as s:
        refused(lambda: norm(s, D(2026, 1, 2), D(2026, 1, 1)), 422, "valid_to")
        assert norm(s, D(2026, 1, 1), D(2026, 1, 1)).valid_to == D(2026, 1, 1)


def test_the_key_separates_rules_and_none_matches_null(db):
    with transaction(db) as s:
        norm(s, D(2026, 1, 1), tier=None)
        norm(s, D(2026, 1, 1), tier=2)  # another tier: no overlap
        norm(s, D(2026, 1, 1), item="support", tier=None)
        norm(s, D(2026, 7, 1), tier=None, amount=9)
        assert dates(s, item="fee", tier=None) == [(D(2026, 1, 1), D(2026, 6, 30)), (D(2026, 7, 1), None)]
        assert dates(s, item="fee", tier=2) == [(D(2026, 1, 1), None)]
        assert in_force(s, Norm, D(2026, 8, 1), item="fee", tier=None).amount == 9


def test_in_force_on_a_day_and_none_outside(db):
    with transaction(db) as s:
        norm(s, D(2026, 1, 1), amount=1)
        norm(s, D(2026, 4, 1), amount=2)
        assert in_force(s, Norm, D(2025, 12, 31), item="fee", tier=2) is None
        assert in_force(s, Norm, D(2026, 3, 31), item="fee", tier=2).amount == 1
        assert in_force(s, Norm, D(2026, 4, 1), item="fee", tier=2).amount == 2
        assert in_force(s, Norm, D(2099, 1, 1), item="fee", tier=2).amount == 2


def test_in_force_is_deterministic_over_overlapping_legacy_rows(db):
    with transaction(db) as s:  # rows written before the rule existed (no add_version)
        s.add_all([Norm(id="b", item="fee", tier=2, amount=1, legal_basis="x", valid_from=D(2026, 1, 1)),
                   Norm(id="a", item="fee", tier=2, amount=2, legal_basis="x", valid_from=D(2026, 1, 1)),
                   Norm(id="c", item="fee", tier=2, amount=3, legal_basis="x", valid_from=D(2025, 1, 1))])
    with transaction(db) as s:
        assert in_force(s, Norm, D(2026, 2, 1), item="fee", tier=2).id == "b"  # latest start, then highest key


def test_several_rules_in_force_in_one_query(db):
    with transaction(db) as s:
        for code, start in (("scoring", D(2025, 1, 1)), ("scoring", D(2026, 1, 1)), ("window", D(2025, 1, 1)),
                            ("later", D(2030, 1, 1))):
            add_version(s, Rule, {"value": {"from": start.isoformat()}, "legal_basis": "x", "valid_from": start},
                        code=code)
        found = in_force_by(s, Rule, D(2026, 2, 1), "code", among=("scoring", "window", "later"))
        assert {c: r.value["from"] for c, r in found.items()} == {"scoring": "2026-01-01", "window": "2025-01-01"}


def test_a_composite_key_model_with_its_own_sample_column(db):
    with transaction(db) as s:
        seed = add_version(s, Rule, {"value": {"w": 10}, "legal_basis": "MẪU", "valid_from": D(2025, 7, 1),
                                     "is_sample": True}, code="priority_weights")
        assert seed.sample is True
        real = add_version(s, Rule, {"value": {"w": 12}, "legal_basis": "QĐ", "valid_from": D(2025, 8, 1)},
                           code="priority_weights")
        assert real.sample is False and seed.valid_to == D(2025, 7, 31)
        refused(lambda: add_version(s, Rule, {"value": {}, "legal_basis": "x", "valid_from": D(2025, 8, 1)},
                                    code="priority_weights"), 409, "valid_from")
    with transaction(db) as s:
        assert in_force(s, Rule, D(2025, 7, 15), code="priority_weights").value == {"w": 10}
        assert [r.valid_from for r in versions(s, Rule, newest_first=True, code="priority_weights")] == [
            D(2025, 8, 1), D(2025, 7, 1)]


def test_a_retroactive_version_takes_two_explicit_steps_end_then_add(db):
    """Needs used to slot a version in silently; now: end the covering version, then add with an end date."""
    rule = {"value": {}, "legal_basis": "x"}
    with transaction(db) as s:
        add_version(s, Rule, {**rule, "valid_from": D(2025, 7, 1)}, code="w")
        add_version(s, Rule, {**rule, "valid_from": D(2027, 1, 1)}, code="w")
        refused(lambda: add_version(s, Rule, {**rule, "valid_from": D(2026, 1, 1)}, code="w"), 409, "valid_from")
    with transaction(db) as s:
        first = in_force(s, Rule, D(2025, 7, 1), code="w")
        refused(lambda: end_version(s, Rule, first, D(2027, 1, 1), code="w"), 409, "valid_from")  # would cross
        refused(lambda: end_version(s, Rule, first, D(2025, 6, 30), code="w"), 422, "valid_to")
        end_version(s, Rule, first, D(2025, 12, 31), code="w")
        add_version(s, Rule, {**rule, "valid_from": D(2026, 1, 1), "valid_to": D(2026, 12, 31)}, code="w")
        assert dates(s, Rule, code="w") == [(D(2025, 7, 1), D(2025, 12, 31)), (D(2026, 1, 1), D(2026, 12, 31)),
                                            (D(2027, 1, 1), None)]


def test_correct_current_changes_the_open_ended_version_in_place(db):
    with transaction(db) as s:
        add_version(s, Setting, {"percent": 30, "note": "mẫu", "valid_from": D(2017, 9, 1), "is_sample": True},
                    commune_code="*")
        row = correct_current(s, Setting, {"percent": 35, "note": "sửa", "valid_to": None}, commune_code="*")
        assert (row.percent, row.note, row.valid_from, row.valid_to, row.is_sample) == (
            35, "sửa", D(2017, 9, 1), None, False)
        assert len(versions(s, Setting, commune_code="*")) == 1


def test_correct_current_starts_a_version_after_the_last_closed_one_or_from_the_start(db):
    with transaction(db) as s:
        add_version(s, Setting, {"percent": 30, "note": "x", "valid_from": D(2020, 1, 1),
                                 "valid_to": D(2025, 12, 31)}, commune_code="CM-A")
        row = correct_current(s, Setting, {"percent": 40, "note": "y"}, commune_code="CM-A")
        assert (row.valid_from, row.valid_to, row.commune_code) == (D(2026, 1, 1), None, "CM-A")
        fresh = correct_current(s, Setting, {"percent": 50, "note": "z"}, commune_code="CM-B")
        assert fresh.valid_from == UNDATED_FROM and fresh.id


def test_correct_current_with_an_end_date_but_no_start_is_invalid_naming_valid_from(db):
    with transaction(db) as s:
        refused(lambda: correct_current(s, Setting, {"percent": 1, "note": "x", "valid_to": D(2026, 1, 1)},
                                        commune_code="*"), 422, "valid_from")
        with pytest.raises(ValueError):
            correct_current(s, Setting, {"percent": 1, "note": "x", "valid_from": D(2026, 1, 1)}, commune_code="*")


def test_values_contradicting_the_key_are_a_programming_error(db):
    with transaction(db) as s, pytest.raises(ValueError):
        add_version(s, Setting, {"percent": 1, "note": "x", "valid_from": D(2026, 1, 1), "commune_code": "B"},
                    commune_code="A")


def test_a_refused_version_writes_nothing(db):
    """add_version checks before it writes, so the caller may go on in the same transaction."""
    with transaction(db) as s:
        norm(s, D(2026, 1, 1))
    with transaction(db) as s:
        refused(lambda: norm(s, D(2026, 1, 1)), 409, "valid_from")
        assert dates(s) == [(D(2026, 1, 1), None)]
