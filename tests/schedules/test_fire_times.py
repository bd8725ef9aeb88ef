"""When a schedule fires: APScheduler's triggers on the schedule's wall clock, each wall-clock time
exactly once across daylight-saving changes, and what a late fire does per misfire policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.definitions.models import Schedule
from engine.schedules import fire_key, next_fire, plan_fire

BERLIN = "Europe/Berlin"


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def fires(schedule: Schedule, after: datetime, until: datetime) -> list[datetime]:
    out: list[datetime] = []
    at = after
    while True:
        found = next_fire(schedule, at, anchor=after)
        assert found is not None and found > at, "each fire must be strictly after the one before"
        if found > until:
            return out
        out.append(found)
        at = found


def test_weekday_cron_in_berlin_fires_at_nine_local_on_weekdays_only() -> None:
    schedule = Schedule(cron="0 9 * * mon-fri", timezone=BERLIN)
    # Fri 23 Oct 2026 .. Tue 27 Oct: summer time ends on Sunday 25 Oct.
    found = fires(schedule, utc(2026, 10, 23, 0, 0), utc(2026, 10, 28, 0, 0))
    assert found == [
        utc(2026, 10, 23, 7, 0),  # Friday 09:00 CEST (UTC+2)
        utc(2026, 10, 26, 8, 0),  # Monday 09:00 CET (UTC+1)
        utc(2026, 10, 27, 8, 0),
    ]


def test_a_time_the_autumn_change_repeats_fires_once_at_its_first_occurrence() -> None:
    # 02:30 happens twice in Berlin on 25 Oct 2026 (CEST, then again CET).
    schedule = Schedule(cron="30 2 * * *", timezone=BERLIN)
    found = fires(schedule, utc(2026, 10, 24, 12, 0), utc(2026, 10, 26, 12, 0))
    assert found == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


def test_the_repeated_hour_fires_each_quarter_once() -> None:
    schedule = Schedule(cron="*/15 2 * * *", timezone=BERLIN)
    found = fires(schedule, utc(2026, 10, 24, 23, 0), utc(2026, 10, 25, 6, 0))
    assert found == [utc(2026, 10, 25, 0, m) for m in (0, 15, 30, 45)]


def test_looking_from_inside_the_repeated_hour_does_not_fire_it_again() -> None:
    schedule = Schedule(cron="45 2 * * *", timezone=BERLIN)
    # 01:10 UTC is 02:10 CET, the second pass through 02:xx; 02:45 fired at 00:45 UTC already.
    assert next_fire(schedule, utc(2026, 10, 25, 1, 10), anchor=utc(2026, 1, 1)) == utc(
        2026, 10, 26, 1, 45
    )


def test_a_time_the_spring_change_skips_fires_an_hour_later() -> None:
    # 02:30 does not exist in Berlin on 29 Mar 2026; it fires at 03:30 CEST (01:30 UTC).
    schedule = Schedule(cron="30 2 * * *", timezone=BERLIN)
    found = fires(schedule, utc(2026, 3, 28, 12, 0), utc(2026, 3, 30, 12, 0))
    assert found == [utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)]


def test_every_counts_elapsed_time_from_its_start_across_the_change() -> None:
    schedule = Schedule(every="12h", start=datetime(2026, 10, 24, 9, 0), timezone=BERLIN)
    found = fires(schedule, utc(2026, 10, 24, 0, 0), utc(2026, 10, 26, 0, 0))
    assert found == [utc(2026, 10, 24, 7, 0) + timedelta(hours=12 * i) for i in range(4)]


def test_every_without_start_counts_from_the_anchor() -> None:
    schedule = Schedule(every="90m")
    anchor = utc(2026, 5, 1, 10, 0)
    assert next_fire(schedule, anchor, anchor) == utc(2026, 5, 1, 11, 30)
    assert next_fire(schedule, utc(2026, 5, 1, 14, 0), anchor) == utc(2026, 5, 1, 14, 30)


@pytest.mark.parametrize("misfire", ["run_once", "skip"])
def test_a_fire_on_time_starts_a_run_whatever_the_policy(misfire: str) -> None:
    schedule = Schedule(every="1h", misfire=misfire)
    plan = plan_fire("report", schedule, utc(2026, 5, 1, 10), utc(2026, 5, 1, 10, 0, 30))
    assert plan.start and not plan.late
    assert plan.next_fire == utc(2026, 5, 1, 11)
    assert plan.key == fire_key("report", utc(2026, 5, 1, 10))


def test_a_late_fire_runs_once_and_arms_the_next_future_fire() -> None:
    schedule = Schedule(every="1h", misfire="run_once")
    plan = plan_fire("report", schedule, utc(2026, 5, 1, 10), utc(2026, 5, 1, 15, 20))
    assert plan.start and plan.late
    assert plan.next_fire == utc(2026, 5, 1, 16)  # 11:00..15:00 were missed: one run for all


def test_a_late_fire_under_skip_starts_nothing_and_arms_the_next_future_fire() -> None:
    schedule = Schedule(cron="0 9 * * *", timezone=BERLIN, misfire="skip")
    plan = plan_fire("report", schedule, utc(2026, 5, 1, 7), utc(2026, 5, 3, 12))
    assert not plan.start and plan.late
    assert plan.next_fire == utc(2026, 5, 4, 7)


def test_grace_decides_what_counts_as_late() -> None:
    schedule = Schedule(every="1h", misfire="skip", grace="5m")
    assert plan_fire("r", schedule, utc(2026, 5, 1, 10), utc(2026, 5, 1, 10, 5)).start
    assert not plan_fire("r", schedule, utc(2026, 5, 1, 10), utc(2026, 5, 1, 10, 6)).start
