"""Working time: which instants fall inside working hours in a time zone, and how far N working
hours reach from an instant. Pure (zoneinfo only reads the tz database), so the decider can use it.

Working hours are one window per working day, e.g. 09:00-18:00 Monday to Friday, in local wall
time of a zone; the window's end is outside it. Local times are turned into instants day by day,
so a daylight-saving change moves the window with the local clock (09:00 stays 09:00).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.durations import Duration

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@lru_cache(maxsize=512)
def zone_info(name: str) -> ZoneInfo | None:
    """The zone called `name`, or None when the tz database does not know it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def check_zone(name: str) -> str:
    """`name` if it is a known IANA zone; ValueError saying what is expected otherwise."""
    if zone_info(name) is None:
        raise ValueError(f"{name!r} is not a time zone; use an IANA name like Europe/Berlin")
    return name


def _parse_days(text: str) -> frozenset[int]:
    days: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        ends = part.split("-")
        if len(ends) > 2 or any(e[:3] not in WEEKDAYS for e in ends):
            raise ValueError(
                f"working days {text!r}: expected day names like 'mon-fri' or 'mon,tue,thu'"
            )
        first, last = WEEKDAYS.index(ends[0][:3]), WEEKDAYS.index(ends[-1][:3])
        day = first
        while True:  # a range may wrap around the week end, e.g. sun-thu
            days.add(day)
            if day == last:
                break
            day = (day + 1) % 7
    return frozenset(days)


@dataclass(frozen=True)
class WorkingHours:
    """The working window (local wall time) on working days (0 = Monday), and the zone used for
    anyone whose own zone is unknown (email approvers, channels)."""

    start: time = time(9, 0)
    end: time = time(18, 0)
    days: frozenset[int] = field(default_factory=lambda: frozenset(range(5)))
    default_zone: str = "UTC"

    def __post_init__(self) -> None:
        if self.start >= self.end:
            raise ValueError(
                f"working hours must start before they end (got {self.start:%H:%M}-"
                f"{self.end:%H:%M}); overnight windows are not supported"
            )
        if not self.days:
            raise ValueError("at least one working day is needed")
        check_zone(self.default_zone)

    @classmethod
    def parse(
        cls, hours: str = "09:00-18:00", days: str = "mon-fri", zone: str = "UTC"
    ) -> WorkingHours:
        """From settings text: hours "09:00-18:00", days "mon-fri", zone "Europe/Berlin".
        Raises ValueError naming what is wrong."""
        m = _HOURS.match(hours)
        if not m:
            raise ValueError(f"working hours {hours!r}: expected a window like '09:00-18:00'")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
            raise ValueError(f"working hours {hours!r}: not a time of day")
        end = time(23, 59, 59, 999999) if h2 == 24 else time(h2, m2)
        return cls(start=time(h1, m1), end=end, days=_parse_days(days), default_zone=zone)

    def zone(self, name: str | None) -> ZoneInfo:
        """The zone `name`, or the default zone when it is None or unknown."""
        found = zone_info(name) if name else None
        return found or zone_info(self.default_zone) or ZoneInfo("UTC")

    def _windows(self, at: datetime, tz: ZoneInfo) -> Iterator[tuple[datetime, datetime]]:
        """Working windows (UTC instants) from the local day of `at` on, in order."""
        day = at.astimezone(tz).date() - timedelta(days=1)  # a window may straddle UTC midnight
        while True:
            if day.weekday() in self.days:
                start = datetime.combine(day, self.start, tz).astimezone(UTC)
                end = datetime.combine(day, self.end, tz).astimezone(UTC)
                if end > at:
                    yield start, end
            day += timedelta(days=1)

    def is_working(self, at: datetime, zone: str | None) -> bool:
        return self.next_start(at, zone) == at

    def next_start(self, at: datetime, zone: str | None) -> datetime:
        """`at` when it is inside working hours, else the start of the next working window."""
        for start, _end in self._windows(at, self.zone(zone)):
            return max(start, at)
        raise AssertionError("unreachable: there is always a next working day")  # pragma: no cover

    def add(self, at: datetime, seconds: float, zone: str | None) -> datetime:
        """The instant `seconds` of working time after `at` (counting only working hours)."""
        left = timedelta(seconds=seconds)
        for start, end in self._windows(at, self.zone(zone)):
            begin = max(start, at)
            if left <= end - begin:
                return begin + left
            left -= end - begin
        raise AssertionError("unreachable")  # pragma: no cover

    def between(self, a: datetime, b: datetime, zone: str | None) -> float:
        """Seconds of working time from `a` to `b` (0 when b <= a)."""
        total = timedelta()
        if b <= a:
            return 0.0
        for start, end in self._windows(a, self.zone(zone)):
            if start >= b:
                break
            total += min(end, b) - max(start, a)
        return total.total_seconds()

    # ------------------------------------------------------------ durations

    def after(self, at: datetime, duration: Duration, zone: str | None) -> datetime:
        """`at` plus `duration`: working time for a `working` duration, else wall-clock time."""
        if duration.working:
            return self.add(at, duration.seconds, zone)
        return at + duration.delta

    def left(self, now: datetime, due: datetime, duration: Duration, zone: str | None) -> float:
        """How much of `duration`'s kind of time is left from `now` until `due`, in seconds."""
        if duration.working:
            return self.between(now, due, zone)
        return max(0.0, (due - now).total_seconds())

    def resume(self, now: datetime, left: float, duration: Duration, zone: str | None) -> datetime:
        """The new due time when `left` seconds (of `duration`'s kind) remain from `now`."""
        if duration.working:
            return self.add(now, left, zone)
        return now + timedelta(seconds=left)

    def reminder_after(self, at: datetime, every: Duration, zone: str | None) -> datetime:
        """The next reminder after one at `at`: `every` later, moved to the next working start
        of `zone` when that falls outside working hours."""
        return self.next_start(self.after(at, every, zone), zone)


DEFAULT_HOURS = WorkingHours()
