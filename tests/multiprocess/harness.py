"""Engine processes sharing one database, and timers for them to fire: used by the multi-process
test and by `python -m bench.timers`.

Each timer is the wait step of its own run (`until` a due time given as the run's input), so a
firing is a run change committed by whichever process claims the timer. Lateness is read back
from the database: the run's `finished_at`, written by the firing process at the moment it fired
(the wait step is the run's only step), minus the due time."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

from sqlalchemy import func, select

from engine.runtime.service import Engine
from storage import Storage
from storage.schema import events, runs, timers

REPO = Path(__file__).resolve().parents[2]
TENANT = "T_TIMERS"
WORKFLOW = """\
name: tick
inputs:
  - id: due
    type: text
    required: true
steps:
  - id: wait
    type: wait
    until: "{{ inputs.due }}"
"""


async def seed(
    engine: Engine, first_due: datetime, count: int, window: float
) -> dict[str, datetime]:
    """Start `count` runs whose timers come due evenly over `window` seconds from `first_due`;
    returns run id -> due time. The runs' start notices are handed over here, so the engine
    processes only have the timers to fire."""
    await engine.apply_definition(TENANT, WORKFLOW)
    step = window / max(count - 1, 1)
    dues = [first_due + timedelta(seconds=i * step) for i in range(count)]
    out: dict[str, datetime] = {}
    slots = asyncio.Semaphore(32)

    async def start(due: datetime) -> None:
        async with slots:
            run = await engine.start_run(TENANT, "tick", {"due": due.isoformat()}, "U0SEED")
            out[run.run_id] = due

    await asyncio.gather(*(start(due) for due in dues))
    await engine.run_until_idle()
    return out


BEAT = """\
name: beat
steps:
  - id: hold
    type: signal
schedule:
  every: {every}
  start: "{start}"
"""


async def seed_schedule(engine: Engine, start: datetime, every: str) -> None:
    """A workflow scheduled every `every` from `start`: its fires are schedule timers, one row
    re-armed by whichever process fires it."""
    await engine.apply_definition(TENANT, BEAT.format(every=every, start=start.isoformat()))


async def schedule_fires(storage: Storage) -> list[datetime]:
    """The fire instants the scheduled runs were started for (from their idempotency keys)."""
    async with storage.engine.connect() as conn:
        keys = (
            await conn.execute(
                select(runs.c.idempotency_key).where(
                    runs.c.tenant_id == TENANT, runs.c.workflow == "beat"
                )
            )
        ).scalars()
        return sorted(datetime.fromisoformat(key.split(":", 2)[2]) for key in keys)


@dataclass
class Worker:
    proc: asyncio.subprocess.Process
    fired: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    done: int | None = None
    wakeup: str = ""  # when the process will next wake for a timer, as it said after start


class Fleet:
    """`processes` engine processes (tests.multiprocess.worker) on `url`."""

    def __init__(self, url: str, processes: int, log_dir: Path) -> None:
        self.url = url
        self.processes = processes
        self.log_dir = log_dir
        self.workers: list[Worker] = []
        self.total = 0
        self._changed = asyncio.Event()
        self._readers: list[asyncio.Task[None]] = []
        self._logs: list[IO[bytes]] = []

    async def start(self, within: float = 60.0) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        for i in range(self.processes):
            log = (self.log_dir / f"worker-{i}.log").open("wb")
            self._logs.append(log)
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.multiprocess.worker",
                self.url,
                cwd=REPO,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )
            worker = Worker(proc)
            self.workers.append(worker)
            self._readers.append(asyncio.create_task(self._read(worker)))
        async with asyncio.timeout(within):
            await asyncio.gather(*(w.ready.wait() for w in self.workers))

    async def _read(self, worker: Worker) -> None:
        assert worker.proc.stdout is not None
        async for raw in worker.proc.stdout:
            line = raw.decode().strip()
            if line == "ready":
                worker.ready.set()
            elif line == "fired":
                worker.fired += 1
                self.total += 1
                self._changed.set()
            elif line.startswith("wakeup "):
                worker.wakeup = line.split()[1]
            elif line.startswith("done "):
                worker.done = int(line.split()[1])

    async def wait_fired(self, count: int, within: float) -> None:
        """Until the processes together fired `count` timers (or `within` seconds passed)."""
        try:
            async with asyncio.timeout(within):
                while self.total < count:
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            pass

    async def stop(self) -> list[int]:
        """SIGTERM every process; returns how many timers each fired."""
        for w in self.workers:
            if w.proc.returncode is None:
                w.proc.send_signal(signal.SIGTERM)
        for w in self.workers:
            await asyncio.wait_for(w.proc.wait(), 30)
        await asyncio.gather(*self._readers)
        for log in self._logs:
            log.close()
        return [w.fired for w in self.workers]


@dataclass(frozen=True)
class Outcome:
    lateness: list[float]  # seconds from due to fired, one per fired timer
    fires_per_run: Counter[int]  # how many runs saw 0, 1, 2... firings
    timers_left: int

    def percentile(self, q: float) -> float:
        ordered = sorted(self.lateness)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def outcome(storage: Storage, dues: dict[str, datetime]) -> Outcome:
    async with storage.engine.connect() as conn:
        finished: dict[str, datetime | None] = dict(
            (
                await conn.execute(
                    select(runs.c.run_id, runs.c.finished_at).where(runs.c.tenant_id == TENANT)
                )
            ).all()
        )
        completions: dict[str, int] = dict(
            (
                await conn.execute(
                    select(events.c.run_id, func.count())
                    .where(events.c.tenant_id == TENANT, events.c.type == "step_completed")
                    .group_by(events.c.run_id)
                )
            ).all()
        )
        left = (
            await conn.execute(
                select(func.count()).where(timers.c.tenant_id == TENANT, timers.c.kind == "wait")
            )
        ).scalar_one()
    lateness = [
        (at - due).total_seconds()
        for run_id, due in dues.items()
        if (at := finished.get(run_id)) is not None
    ]
    fires = Counter(completions.get(run_id, 0) for run_id in dues)
    return Outcome(lateness, fires, left)
