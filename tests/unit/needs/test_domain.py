"""Pure rules of the needs service: which unit carries a former unit on a day, and which units are in force."""
from datetime import date

import pytest

from services.needs import seed
from services.needs.domain import Succession, Unit, unit_on, units_valid_on

MERGER = date(2025, 7, 1)
EVE = date(2025, 6, 30)


def merger_2025() -> list[Succession]:
    """The NQ 1655 merger of the 12 Thới Bình units, as the seed ships it."""
    return [Succession(code, commune, seed.MERGER_DATE) for code, _, _, commune in seed.FORMER_UNITS]


def make_unit(code: str = "U", valid_from: date = date(1990, 1, 1), valid_to: date | None = None,
              name: str | None = None, kind: str = "xa") -> Unit:
    return Unit(code, name or code, kind, valid_from, valid_to)


# --- unit_on ---------------------------------------------------------------------------------------------------

def test_former_unit_is_its_own_unit_the_day_before_the_merger():
    assert unit_on("TB-X-TANLOCBAC", EVE, merger_2025()) == "TB-X-TANLOCBAC"


def test_former_unit_belongs_to_its_new_commune_from_the_merger_day():
    assert unit_on("TB-X-TANLOCBAC", MERGER, merger_2025()) == "CM-TANLOC"
    assert unit_on("TB-X-TANLOCBAC", date(2030, 12, 31), merger_2025()) == "CM-TANLOC"


def test_thi_tran_and_xa_thoi_binh_both_become_commune_thoi_binh():
    succ = merger_2025()
    assert unit_on("TB-TT-THOIBINH", MERGER, succ) == unit_on("TB-X-THOIBINH", MERGER, succ) == "CM-THOIBINH"


def test_unchanged_ho_thi_ky_still_maps_to_its_new_code():
    assert unit_on("TB-X-HOTHIKY", MERGER, merger_2025()) == "CM-HOTHIKY"


def test_a_unit_without_history_is_its_own_unit():
    assert unit_on("CM-TANLOC", MERGER, merger_2025()) == "CM-TANLOC"
    assert unit_on("UNKNOWN", MERGER, []) == "UNKNOWN"


def test_follows_a_chain_of_mergers_only_as_far_as_the_day_allows():
    succ = [Succession("A", "B", date(2020, 1, 1)), Succession("B", "C", date(2025, 7, 1))]
    assert unit_on("A", date(2019, 12, 31), succ) == "A"
    assert unit_on("A", date(2020, 1, 1), succ) == "B"
    assert unit_on("A", date(2025, 6, 30), succ) == "B"
    assert unit_on("A", date(2025, 7, 1), succ) == "C"


def test_latest_effective_succession_of_a_unit_wins():
    succ = [Succession("A", "B", date(2020, 1, 1)), Succession("A", "C", date(2024, 1, 1))]
    assert unit_on("A", date(2023, 12, 31), succ) == "B"
    assert unit_on("A", date(2024, 1, 1), succ) == "C"


def test_raises_on_a_cycle_in_the_merger_history():
    succ = [Succession("A", "B", date(2020, 1, 1)), Succession("B", "A", date(2021, 1, 1))]
    with pytest.raises(ValueError, match="cycle"):
        unit_on("A", date(2022, 1, 1), succ)


def test_a_cycle_not_yet_in_force_on_the_day_does_not_raise():
    succ = [Succession("A", "B", date(2020, 1, 1)), Succession("B", "A", date(2030, 1, 1))]
    assert unit_on("A", date(2025, 1, 1), succ) == "B"


# --- units_valid_on --------------------------------------------------------------------------------------------

def seeded_units() -> list[Unit]:
    last_day = date.fromordinal(seed.MERGER_DATE.toordinal() - 1)
    return ([make_unit(code, seed.BEFORE_RECORDS, last_day, name=name, kind=kind)
             for code, name, kind, _ in seed.FORMER_UNITS]
            + [make_unit(code, seed.MERGER_DATE, None, name=name, kind=kind) for code, name, kind in seed.COMMUNES])


def test_the_12_former_units_are_in_force_up_to_and_including_2025_06_30():
    codes = {u.code for u in units_valid_on(seeded_units(), EVE)}
    assert codes == {code for code, *_ in seed.FORMER_UNITS}
    assert len(codes) == 12


def test_only_the_5_new_communes_are_in_force_from_2025_07_01():
    codes = {u.code for u in units_valid_on(seeded_units(), MERGER)}
    assert codes == {code for code, *_ in seed.COMMUNES}
    assert len(codes) == 5


def test_unit_validity_includes_both_end_days_and_nothing_outside():
    unit = make_unit(valid_from=date(2024, 1, 1), valid_to=date(2024, 12, 31))
    assert units_valid_on([unit], date(2024, 1, 1)) == [unit]
    assert units_valid_on([unit], date(2024, 12, 31)) == [unit]
    assert units_valid_on([unit], date(2023, 12, 31)) == []
    assert units_valid_on([unit], date(2025, 1, 1)) == []


def test_open_ended_unit_stays_in_force():
    unit = make_unit(valid_from=MERGER, valid_to=None)
    assert units_valid_on([unit], date(2099, 1, 1)) == [unit]
    assert units_valid_on([unit], EVE) == []
