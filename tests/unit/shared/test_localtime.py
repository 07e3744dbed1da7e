"""shared/localtime.py prints what the services print today, so each can switch to it with its output unchanged."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from shared.localtime import LOCAL_TZ, local_today, to_local, utcnow, vn_date, vn_datetime, vn_time, vn_timestamp

EVENING_UTC = datetime(2026, 3, 1, 20, 30, tzinfo=timezone.utc)  # 03:30 on 2 March in Việt Nam


def test_the_zone_is_asia_ho_chi_minh_seven_hours_ahead_all_year():
    assert LOCAL_TZ == ZoneInfo("Asia/Ho_Chi_Minh")
    for month in (1, 7):
        assert datetime(2026, month, 1, tzinfo=LOCAL_TZ).utcoffset() == timedelta(hours=7)


def test_utcnow_is_aware_utc():
    now = utcnow()
    assert now.tzinfo is timezone.utc and abs((datetime.now(timezone.utc) - now).total_seconds()) < 5


def test_local_today_is_already_tomorrow_after_17_utc():
    assert local_today(EVENING_UTC) == date(2026, 3, 2)
    assert local_today(datetime(2026, 3, 1, 16, 59, tzinfo=timezone.utc)) == date(2026, 3, 1)


def test_local_today_defaults_to_the_clock():
    before = utcnow()
    today = local_today()
    after = utcnow()
    assert today in {local_today(before), local_today(after)}  # the local day of the real now


def test_to_local_converts_and_refuses_naive_datetimes():
    assert to_local(EVENING_UTC) == datetime(2026, 3, 2, 3, 30, tzinfo=LOCAL_TZ)
    assert to_local(EVENING_UTC).tzinfo is LOCAL_TZ
    with pytest.raises(ValueError):
        to_local(datetime(2026, 3, 1, 20, 30))


def test_vn_date_of_a_date_and_of_a_moment():
    d = date(2026, 3, 2)
    assert vn_date(d) == "02/03/2026" == d.strftime("%d/%m/%Y")  # courses' domain.vn_date
    # evaluation: deadline.astimezone(LOCAL_TZ).strftime('%d/%m/%Y')
    assert vn_date(EVENING_UTC) == EVENING_UTC.astimezone(LOCAL_TZ).strftime("%d/%m/%Y") == "02/03/2026"


def test_vn_datetime_is_evaluations_sentence_form():
    # evaluation/web.py and evaluation/usecases.py: astimezone(LOCAL_TZ).strftime("%H:%M ngày %d/%m/%Y")
    assert vn_datetime(EVENING_UTC) == EVENING_UTC.astimezone(LOCAL_TZ).strftime("%H:%M ngày %d/%m/%Y")
    assert vn_datetime(EVENING_UTC) == "03:30 ngày 02/03/2026"


def test_vn_time_is_courses_local_clock_time():
    assert vn_time(EVENING_UTC) == EVENING_UTC.astimezone(LOCAL_TZ).strftime("%H:%M") == "03:30"


def test_vn_timestamp_is_what_a_spreadsheet_cell_shows():
    from shared.tabular import _display  # the cell formatter it can replace

    naive = datetime(2026, 3, 2, 8, 15)
    assert vn_timestamp(EVENING_UTC) == _display(EVENING_UTC) == "02/03/2026 03:30"
    assert vn_timestamp(naive) == _display(naive) == "02/03/2026 08:15"


def test_another_zone_is_converted_too():
    tokyo = datetime(2026, 3, 2, 10, 0, tzinfo=timezone(timedelta(hours=9)))  # 08:00 in Việt Nam
    assert vn_datetime(tokyo) == "08:00 ngày 02/03/2026"
