"""Migration 0004 reads the registry's free-text ethnicities into codes of the official list (QĐ 121-TCTK/PPCĐ 1979)
and derives the minority flag from them; an unreadable value becomes NULL and keeps the flag the old rule gave."""
from __future__ import annotations

import unicodedata
from datetime import date, datetime, timezone

import sqlalchemy as sa
from alembic import command

from shared.migrate import alembic_config, upgrade

# stored free text → (code, minority) after the migration
CASES = {
    "Kinh": ("01", False),
    "kinh ": ("01", False),
    "Việt": ("01", False),  # the old rule made this a minority
    "Tày": ("02", True),
    unicodedata.normalize("NFD", "Tày"): ("02", True),
    "Khmer": ("05", True),
    "Khơ Me": ("05", True),
    "Người Hoa": ("04", True),
    "Mường": ("06", True),
    "Khác": (None, True),  # no group: NULL, and the flag the old rule derived ("anything but kinh")
    "": (None, True),
}


def _seed_0003(url: str) -> None:
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    meta.reflect(engine, only=["units", "positions", "civil_servants"])
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with engine.begin() as conn:
        conn.execute(meta.tables["units"].insert().values(code="U1", name="Xã Một", kind="xa", province_code="CM",
                                                         valid_from=date(2020, 1, 1)))
        conn.execute(meta.tables["positions"].insert().values(code="VHXH", name="Văn hoá - xã hội", legacy=False))
        conn.execute(meta.tables["civil_servants"].insert(), [
            {"id": f"id-{i}", "code": f"CS-{i}", "full_name": "Người Thử", "gender": "female", "birth_year": 1990,
             "ethnicity": text, "unit_code": "U1", "position_code": "VHXH", "hard_area": False,
             "child_under_36_months": False, "created_at": now} for i, text in enumerate(CASES)])
    engine.dispose()


def _rows(url: str, *columns: str) -> dict[str, tuple]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        got = {row[0]: tuple(row[1:]) for row in conn.execute(
            sa.text(f"SELECT code, {', '.join(columns)} FROM civil_servants"))}
    engine.dispose()
    return got


def test_free_text_ethnicities_become_codes_and_the_flag_is_derived(db_url_factory):
    url = db_url_factory("mig_ethnicity")
    upgrade("needs", url, "0003")
    _seed_0003(url)
    upgrade("needs", url, "0004")
    got = _rows(url, "ethnicity_code", "ethnic_minority")
    assert {code: (c, bool(m)) for code, (c, m) in got.items()} == {
        f"CS-{i}": expected for i, expected in enumerate(CASES.values())}


def test_downgrade_puts_the_official_name_back(db_url_factory):
    url = db_url_factory("mig_ethnicity_down")
    upgrade("needs", url, "0003")
    _seed_0003(url)
    upgrade("needs", url, "0004")
    command.downgrade(alembic_config("needs", url), "0003")
    got = _rows(url, "ethnicity")
    texts = list(CASES)
    assert got[f"CS-{texts.index('Việt')}"] == ("Kinh",)
    assert got[f"CS-{texts.index('Khơ Me')}"] == ("Khơ-me",)
    assert got[f"CS-{texts.index('Khác')}"] == ("",)
