"""Quiet hours: no SMS or Zalo message at night, local time. Pure: the window comes from a versioned rule (needs'
rule `notify_quiet_hours`, value {"start": "21:00", "end": "07:00", "channels": ["sms", "zalo"]}); a message due
inside the window is deferred to its end, never dropped."""
from __future__ import annotations

from datetime import datetime, time, timedelta, tzinfo


QUIET_RULE = "notify_quiet_hours"  # the rule's code in needs' versioned rules (kind quiet-hours)
QUIET_CHANNELS = ("email", "sms", "zalo")


def _hm(text: str) -> time:
    hours, minutes = text.split(":")
    if not (hours.isascii() and hours.isdigit() and len(minutes) == 2 and minutes.isascii() and minutes.isdigit()):
        raise ValueError(f"{text!r} is not HH:MM")
    return time(int(hours), int(minutes))


def check_window(value: dict) -> None:
    """Raise ValueError (or KeyError/TypeError) unless `value` is {start: "HH:MM", end: "HH:MM", channels: [...]}
    with known channels, nothing else: what deferred_until reads."""
    if not isinstance(value, dict) or set(value) - {"start", "end", "channels"}:
        raise ValueError("the value has only start, end and channels")
    for key in ("start", "end"):
        if not isinstance(value[key], str):
            raise TypeError(f"{key} must be a text HH:MM")
        _hm(value[key])
    channels = value.get("channels", [])
    if not isinstance(channels, list) or not all(isinstance(c, str) and c in QUIET_CHANNELS for c in channels):
        raise ValueError(f"channels must be a list of {', '.join(QUIET_CHANNELS)}")


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
