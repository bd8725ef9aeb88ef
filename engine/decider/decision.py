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

    def then(self, later: Decision) -> Decision:
        """The one decision with the effect of this one and then `later`: events and commands in
        order, and each timer's net effect, kept as `Builder.arm` and `disarm` keep it (an id is
        either armed or cancelled, never both). Stores cancel before they arm, so a timer armed
        here and cancelled by `later` must end up cancelled, and one cancelled here and armed by
        `later` armed."""
        timers = list(self.timers)
        cancels = list(self.cancel_timers)
        for timer_id in later.cancel_timers:
            timers = [t for t in timers if t.id != timer_id]
            if timer_id not in cancels:
                cancels.append(timer_id)
        for timer in later.timers:
            if timer.id in cancels:
                cancels.remove(timer.id)
            timers = [t for t in timers if t.id != timer.id]
            timers.append(timer)
        return Decision(
            events=[*self.events, *later.events],
            commands=[*self.commands, *later.commands],
            timers=timers,
            cancel_timers=cancels,
            state=later.state if later.events else self.state,
        )
