"""The production clock (tests use `engine.testing.ManualClock`)."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    """The wall clock, timezone-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)
