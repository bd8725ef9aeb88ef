"""Working time: windows in local wall time, across weekends, zones and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from engine.durations import Duration
from engine.working_time import WorkingHours

BERLIN = WorkingHours(default_zone="Europe/Berlin")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_inside_working_hours_is_now() -> None:
    at = utc(2026, 11, 27, 10, 0)  # Friday 11:00 in Berlin
    assert BERLIN.is_working(at, None)
    assert BERLIN.next_start(at, None) == at


def test_friday_evening_moves_to_monday_morning() -> None:
    # Friday 19:30 Berlin -> Monday 09:00 Berlin (08:00 UTC in winter)
    assert BERLIN.next_start(utc(2026, 11, 27, 18, 30), None) == utc(2026, 11, 30, 8, 0)


def test_the_end_of_the_window_is_outside() -> None:
    assert BERLIN.next_start(utc(2026, 11, 30, 17, 0), None) == utc(2026, 12, 1, 8, 0)


def test_another_zone_has_its_own_window() -> None:
    # 19:00 UTC Friday is 11:00 in Los Angeles: working there, not in Berlin.
    at = utc(2026, 11, 27, 19, 0)
    assert BERLIN.is_working(at, "America/Los_Angeles")
    assert not BERLIN.is_working(at, "Europe/Berlin")
    assert BERLIN.next_start(utc(2026, 11, 28, 3, 0), "America/Los_Angeles") == utc(
        2026, 11, 30, 17, 0
    )


def test_unknown_zone_falls_back_to_the_default() -> None:
    assert BERLIN.next_start(utc(2026, 11, 27, 18, 30), "Mars/Olympus") == utc(2026, 11, 30, 8, 0)


def test_sixteen_working_hours_over_a_weekend() -> None:
    # Friday 16:00 Berlin: 2h Friday, 9h Monday, 5h Tuesday -> Tuesday 14:00 Berlin.
    start = utc(2026, 11, 27, 15, 0)
    due = BERLIN.after(start, Duration.parse("16 working hours"), None)
    assert due == utc(2026, 12, 1, 13, 0)
    assert BERLIN.between(start, due, None) == 16 * 3600


def test_working_hours_across_the_october_clock_change() -> None:
    # Berlin leaves summer time on Sunday 2026-10-25: Friday 17:00 CEST (15:00 UTC) plus 2
    # working hours is Monday 10:00 CET, which is 09:00 UTC (not 08:00).
    assert BERLIN.add(utc(2026, 10, 23, 15, 0), 2 * 3600, None) == utc(2026, 10, 26, 9, 0)
    # And the window start follows the local clock: 09:00 is 07:00 UTC before, 08:00 after.
    assert BERLIN.next_start(utc(2026, 10, 23, 16, 0), None) == utc(2026, 10, 26, 8, 0)
    assert BERLIN.next_start(utc(2026, 10, 22, 16, 0), None) == utc(2026, 10, 23, 7, 0)


def test_wall_clock_durations_ignore_working_hours() -> None:
    start = utc(2026, 11, 27, 17, 0)
    assert BERLIN.after(start, Duration.parse("4h"), None) == utc(2026, 11, 27, 21, 0)


def test_reminder_after_moves_into_working_hours() -> None:
    every = Duration.parse("4h")
    assert BERLIN.reminder_after(utc(2026, 11, 27, 15, 0), every, None) == utc(2026, 11, 30, 8, 0)


def test_settings_text() -> None:
    hours = WorkingHours.parse("08:30-17:00", "sun-thu", "Asia/Jerusalem")
    assert hours.start == time(8, 30) and hours.end == time(17, 0)
    assert hours.days == frozenset({6, 0, 1, 2, 3})


@pytest.mark.parametrize(
    ("hours", "days", "zone", "message"),
    [
        ("9-17", "mon-fri", "UTC", "expected a window like '09:00-18:00'"),
        ("18:00-09:00", "mon-fri", "UTC", "must start before they end"),
        ("09:00-18:00", "monday-funday", "UTC", "expected day names"),
        ("09:00-18:00", "mon-fri", "Europe/Nowhere", "is not a time zone"),
        ("25:00-26:00", "mon-fri", "UTC", "not a time of day"),
    ],
)
def test_bad_settings_say_what_is_wrong(hours: str, days: str, zone: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorkingHours.parse(hours, days, zone)
