"""What the decider is told about the world besides the run: working hours, the time zones the
runtime knows, who is out of office. All plain values, so `decide` stays pure; whatever of it a
decision uses is recorded in its events (zones on the request, away as a delegation), so replay
never needs it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from engine.away import Away
from engine.working_time import DEFAULT_HOURS, WorkingHours


@dataclass(frozen=True)
class DecideEnv:
    hours: WorkingHours = DEFAULT_HOURS
    zones: Mapping[str, str] = field(default_factory=dict)  # Slack user id -> IANA zone
    aways: Sequence[Away] = ()
    # Raise `MissingTimeZones` rather than use the default zone for a user whose zone a
    # decision needs and `zones` lacks: the runtime looks them up and decides again.
    strict_zones: bool = False


DEFAULT_ENV = DecideEnv()


class MissingTimeZones(Exception):
    """A decision needs the time zones of these users; look them up and decide again."""

    def __init__(self, principals: Iterable[str]) -> None:
        self.principals = sorted(set(principals))
        super().__init__(f"time zones needed for {', '.join(self.principals)}")
