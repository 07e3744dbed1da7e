"""Quiet hours 21:00–07:00 Asia/Ho_Chi_Minh: SMS and Zalo deferred to 07:00, e-mail never; pure."""
from datetime import datetime, timezone

import pytest

from shared.localtime import LOCAL_TZ
from shared.notify.quiet import check_window, deferred_until

RULE = {"start": "21:00", "end": "07:00", "channels": ["sms", "zalo"]}


def _local(y, m, d, hh, mm):
    return datetime(y, m, d, hh, mm, tzinfo=LOCAL_TZ).astimezone(timezone.utc)


@pytest.mark.parametrize("at,expected", [
    ((2026, 12, 2, 20, 59), None),
    ((2026, 12, 2, 21, 0), (2026, 12, 3, 7, 0)),
    ((2026, 12, 2, 23, 30), (2026, 12, 3, 7, 0)),
    ((2026, 12, 3, 0, 10), (2026, 12, 3, 7, 0)),
    ((2026, 12, 3, 6, 59), (2026, 12, 3, 7, 0)),
    ((2026, 12, 3, 7, 0), None),
    ((2026, 12, 31, 22, 0), (2027, 1, 1, 7, 0)),
])
def test_sms_in_the_night_is_deferred_to_seven_local(at, expected):
    got = deferred_until(_local(*at), RULE, "sms", LOCAL_TZ)
    assert got == (None if expected is None else datetime(*expected, tzinfo=LOCAL_TZ))


def test_email_is_never_deferred_and_a_day_window_works():
    assert deferred_until(_local(2026, 12, 2, 23, 0), RULE, "email", LOCAL_TZ) is None
    day = {"start": "12:00", "end": "13:30", "channels": ["zalo"]}
    assert deferred_until(_local(2026, 12, 2, 12, 15), day, "zalo", LOCAL_TZ) == \
        datetime(2026, 12, 2, 13, 30, tzinfo=LOCAL_TZ)
    assert deferred_until(_local(2026, 12, 2, 13, 30), day, "zalo", LOCAL_TZ) is None
    # 14:00 UTC is 21:00 in Hanoi: the rule is read in local time, not UTC
    assert deferred_until(datetime(2026, 12, 2, 14, 0, tzinfo=timezone.utc), RULE, "sms", LOCAL_TZ) is not None
    with pytest.raises(ValueError):
        check_window({"start": "9pm", "end": "07:00"})
