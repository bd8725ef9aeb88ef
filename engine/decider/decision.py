"""What the decider returns for one trigger: the events to append and their consequences."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.commands import Command, Timer
from engine.events import Event
from engine.state import RunState


@dataclass
class Decision:
    events: list[Event] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)
    cancel_timers: list[str] = field(default_factory=list)  # timer ids no longer needed
    # The run's state after `events` (what `fold` gives), as the decider already has it; not
    # part of what the decision is.
    state: RunState | None = field(default=None, compare=False, repr=False)

    def __bool__(self) -> bool:
        return bool(self.events or self.commands or self.timers or self.cancel_timers)
