"""What an `Engine` is built with: its tuning (`RuntimeSettings`) and its stores (`Stores`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from engine.ports import AwayStore, DefinitionStore, Outbox, RunStore, TimerStore


@dataclass(frozen=True)
class RuntimeSettings:
    batch_size: int = 200  # commands (or timers) claimed at once
    concurrency: int = 64  # commands performed at the same time
    workers: int = 2  # dispatcher loops: one performs while another records
    command_lease: timedelta = timedelta(seconds=60)  # a dead claimer's commands wait this long
    timer_lease: timedelta = timedelta(seconds=60)
    sweep_every: float = 5.0  # seconds between timer sweeps (timers armed by other processes)
    poll_every: float = 1.0  # seconds between outbox polls when nothing wakes the dispatcher
    max_attempts: int = 10  # tries of one change on a run that keeps changing under it
    stop_grace: float = 10.0  # seconds stop() lets a batch in hand finish
    reconcile_every: float = 300.0  # seconds between passes checking every schedule's timer


class Stores(Protocol):
    """What `Engine.from_storage` needs: `storage.Storage` and `engine.testing.MemoryStorage`."""

    @property
    def definitions(self) -> DefinitionStore: ...
    @property
    def runs(self) -> RunStore: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def timers(self) -> TimerStore: ...
    @property
    def aways(self) -> AwayStore: ...
