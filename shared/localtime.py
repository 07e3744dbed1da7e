"""The clock and local time, in one place: times are stored in UTC and shown in Asia/Ho_Chi_Minh.

Standard library only, so a service's `domain.py` may import it. Today the zone is spelled in five modules
(courses/domain.py, evaluation/usecases.py, evaluation/web.py, needs/usecases.py, shared/tabular.py) and three of
them hold a "today, local" helper (courses `local_today(now)`, evaluation `_local_today()`, needs `_today()`);
each can switch to the names below with its output unchanged:

| today                                                        | here                       | prints            |
|--------------------------------------------------------------|----------------------------|-------------------|
| `d.strftime("%d/%m/%Y")`, courses `domain.vn_date(d)`        | `vn_date(d)`               | 02/03/2026        |
| `dt.astimezone(LOCAL_TZ).strftime("%d/%m/%Y")`               | `vn_date(dt)`              | 02/03/2026        |
| `dt.astimezone(LOCAL_TZ).strftime("%H:%M ngày %d/%m/%Y")`    | `vn_datetime(dt)`          | 17:00 ngày 02/03/2026 |
| tabular `_display(dt)`: `"%d/%m/%Y %H:%M"` (naive as is)     | `vn_timestamp(dt)`         | 02/03/2026 17:00  |
| `dt.astimezone(LOCAL_TZ).strftime("%H:%M")` (courses schemas) | `vn_time(dt)`             | 17:00             |
| `utcnow().astimezone(ZoneInfo(...)).date()`                  | `local_today()`            | date(2026, 3, 2)  |

`vn_datetime` keeps evaluation's wording "HH:MM ngày dd/mm/yyyy" — the only date-and-time sentence the services
show people (the feedback page's deadline, reminder texts) — rather than a new bare "HH:MM dd/mm/yyyy" that nothing
prints today. tools/demo.py's "%H:%M:%S %d/%m/%Y" console column is an operator printout: it only needs LOCAL_TZ.

Naive datetimes: the database hands back aware UTC datetimes (shared.db.UTCDateTime refuses naive ones), so a naive
value reaching `to_local` is a bug and is refused. The one exception is a spreadsheet cell, which holds local wall
clock time without a zone: `vn_timestamp` prints a naive value as it is, exactly as shared/tabular.py does.

`utcnow` is defined here (stdlib) with the same contract as `shared.db.utcnow`; shared/db.py can later import it
from here so there is one clock. Time-dependent use cases take `now`/`today` parameters and call these only for
their defaults, so tests pass a time instead of patching a private function.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (stored as UTC everywhere)."""
    return datetime.now(timezone.utc)


def to_local(dt: datetime) -> datetime:
    """An aware datetime in Asia/Ho_Chi_Minh (07:00 ahead of UTC, no daylight saving). Naive values are refused."""
    if dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None:
        raise ValueError("naive datetime given; use aware UTC datetimes")
    return dt.astimezone(LOCAL_TZ)


def local_today(now: datetime | None = None) -> date:
    """Today's date in Asia/Ho_Chi_Minh at `now` (the current time by default): 20:00 UTC is already tomorrow."""
    return to_local(now if now is not None else utcnow()).date()


def vn_date(d: date | datetime) -> str:
    """A date the Vietnamese way: 02/03/2026. An aware datetime is first taken to local time."""
    if isinstance(d, datetime):
        d = to_local(d)
    return d.strftime("%d/%m/%Y")


def vn_datetime(dt: datetime) -> str:
    """A moment in local time as the services write it in sentences: "17:00 ngày 02/03/2026"."""
    return to_local(dt).strftime("%H:%M ngày %d/%m/%Y")


def vn_time(dt: datetime) -> str:
    """The local wall-clock time of a moment: "17:00"."""
    return to_local(dt).strftime("%H:%M")


def vn_timestamp(dt: datetime) -> str:
    """A moment as a spreadsheet cell shows it: "02/03/2026 17:00" (local time; a naive value is printed as is,
    being already a local wall-clock time read from a file)."""
    if dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None:
        return dt.strftime("%d/%m/%Y %H:%M")
    return to_local(dt).strftime("%d/%m/%Y %H:%M")
