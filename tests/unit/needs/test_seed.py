"""Seed data of the needs service against domain.md §2: 12 former units → 5 communes, 111 synthetic civil servants."""
from collections import Counter
from datetime import date

from services.needs import seed
from services.needs.domain import Succession, unit_on
from services.needs.schemas import CivilServantCreateSchema

# domain.md §2 [S, NQ 1655/NQ-UBTVQH15], by the seed's codes
EXPECTED_GROUPS = {
    "CM-THOIBINH": {"TB-TT-THOIBINH", "TB-X-THOIBINH"},
    "CM-BIENBACH": {"TB-X-BIENBACH", "TB-X-BIENBACHDONG", "TB-X-TANBANG"},
    "CM-TRIPHAI": {"TB-X-TRIPHAI", "TB-X-TRILUC", "TB-X-TANPHU"},
    "CM-TANLOC": {"TB-X-TANLOC", "TB-X-TANLOCBAC", "TB-X-TANLOCDONG"},
    "CM-HOTHIKY": {"TB-X-HOTHIKY"},
}
EXPECTED_NAMES = {
    "Thị trấn Thới Bình", "Xã Thới Bình", "Xã Biển Bạch", "Xã Biển Bạch Đông", "Xã Tân Bằng", "Xã Trí Phải",
    "Xã Trí Lực", "Xã Tân Phú", "Xã Tân Lộc", "Xã Tân Lộc Bắc", "Xã Tân Lộc Đông", "Xã Hồ Thị Kỷ",
}


def test_seed_lists_the_12_former_units_of_thoi_binh_by_name():
    assert len(seed.FORMER_UNITS) == 12
    assert {name for _, name, _, _ in seed.FORMER_UNITS} == EXPECTED_NAMES
    assert len({code for code, *_ in seed.FORMER_UNITS}) == 12


def test_the_12_former_units_map_to_exactly_the_5_communes_of_domain_md():
    succ = [Succession(code, commune, seed.MERGER_DATE) for code, _, _, commune in seed.FORMER_UNITS]
    groups: dict[str, set[str]] = {}
    for code, *_ in seed.FORMER_UNITS:
        groups.setdefault(unit_on(code, date(2025, 7, 1), succ), set()).add(code)
    assert groups == EXPECTED_GROUPS
    assert {code for code, _, _ in seed.COMMUNES} == set(EXPECTED_GROUPS)


def test_merger_takes_effect_on_2025_07_01():
    assert seed.MERGER_DATE == date(2025, 7, 1)


def test_synthetic_civil_servants_are_deterministic():
    assert seed.synthetic_civil_servants(111) == seed.synthetic_civil_servants(111)


def test_a_different_seed_gives_different_people():
    assert seed.synthetic_civil_servants(111, seed=1) != seed.synthetic_civil_servants(111)


def test_synthetic_civil_servants_are_111_with_unique_codes():
    people = seed.synthetic_civil_servants(111)
    assert len(people) == 111
    assert len({p["code"] for p in people}) == 111


def test_synthetic_civil_servants_cover_all_12_former_units():
    per_unit = Counter(p["unit_code"] for p in seed.synthetic_civil_servants(111))
    assert set(per_unit) == {code for code, *_ in seed.FORMER_UNITS}
    assert max(per_unit.values()) - min(per_unit.values()) <= 1  # 111 = 12 × 9 + 3: spread evenly


def test_synthetic_civil_servants_hold_only_and_all_6_legacy_titles():
    titles = {p["position_code"] for p in seed.synthetic_civil_servants(111)}
    assert titles == set(seed.LEGACY_TITLES)
    assert len(seed.LEGACY_TITLES) == 6


def test_every_synthetic_civil_servant_passes_the_http_contract():
    schema = CivilServantCreateSchema()
    for person in seed.synthetic_civil_servants(111):
        assert schema.validate(person) == {}, person["code"]


def test_a_smaller_count_is_a_prefix_of_the_full_list():
    assert seed.synthetic_civil_servants(10) == seed.synthetic_civil_servants(111)[:10]
