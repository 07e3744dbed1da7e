"""Quiet hours: no SMS or Zalo message at night, local time. Pure: the window comes from a versioned rule (needs'
rule `notify_quiet_hours`, value {"start": "21:00", "end": "07:00", "channels": ["sms", "zalo"]}); a message due
inside the window is deferred to its end, never dropped."""
from __future__ import annotations

from datetime import datetime, time, timedelta, tzinfo


def _hm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def check_window(value: dict) -> None:
    """Raise ValueError unless `value` is {start: "HH:MM", end: "HH:MM", channels: [...]}."""
    _hm(value["start"]), _hm(value["end"])
    if not isinstance(value.get("channels", []), list):
        raise ValueError("channels must be a list")


def deferred_until(now: datetime, value: dict, channel: str, tz: tzinfo) -> datetime | None:
    """None if `channel` may send at `now` (aware); else the aware local end of the quiet window it is in.
    A window whose start is after its end runs over midnight (21:00–07:00)."""
    if channel not in value.get("channels", ()):
        return None
    start, end = _hm(value["start"]), _hm(value["end"])
    if start == end:
        return None
    local = now.astimezone(tz)
    t = local.time().replace(tzinfo=None)
    day = local.date()
    if start < end:  # a window inside one day
        inside, end_day = start <= t < end, day
    elif t >= start:  # evening part of an overnight window: ends tomorrow
        inside, end_day = True, day + timedelta(days=1)
    else:  # morning part
        inside, end_day = t < end, day
    if not inside:
        return None
    return datetime.combine(end_day, end, tz)
