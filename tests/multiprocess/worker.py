"""One engine process for the multi-process timer test and `bench.timers`:
`python -m tests.multiprocess.worker DATABASE_URL`.

It runs the production runtime (timer wake-ups, sweeps and the outbox dispatcher) on the real
clock against the shared database, prints `ready` once its start-up sweep is done, `fired` for
every timer it fires (a wait step completing in this process), and on SIGTERM stops and prints
`done N`, N being how many it fired. Before `ready` it says when it will next wake for a timer
(`wakeup ISO`): all it keeps in memory of the pending timers."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from engine.events import Event
from engine.runtime.service import Engine
from engine.state import RunState
from storage import open_storage


async def serve(url: str) -> None:
    storage = await open_storage(url, pool_size=4)
    engine = Engine.from_storage(storage)
    fired = 0

    async def count(state: RunState, events: list[Event]) -> None:
        nonlocal fired
        for event in events:
            if event.type == "step_completed" and getattr(event, "step_id", None) == "wait":
                fired += 1
                sys.stdout.write("fired\n")
        sys.stdout.flush()

    engine.subscribe(count)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await engine.start()
    wakeup = engine._timers.next_wakeup  # what it holds of the pending timers: one instant
    print(f"wakeup {wakeup.isoformat() if wakeup else '-'}", flush=True)
    print("ready", flush=True)
    await stop.wait()
    await engine.stop()
    await storage.close()
    print(f"done {fired}", flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(serve(sys.argv[1]))
