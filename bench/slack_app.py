"""The app side of `python -m bench.slack --part acks`: the engine and the Slack adapter in a
process of their own, as in production (the fake Slack, like Slack, is elsewhere: its CPU and
its records are not the app's).

Composed as `python app.py` composes them (durable message refs, `gc.freeze()` once started),
but unpaced: the fake it talks to has no rate limits. Reads one command per line on stdin and
answers "done" on stdout: `one` starts the run every approver must approve, `many` starts the
N single-approver runs, `settle` waits for the work the listeners started; end of input stops.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys

from bot.config import SlackConfig
from bot.message_refs import MessageRef
from bot.service import start_slack
from engine.runtime.service import Engine
from storage import open_storage
from storage.slack_messages import SqlMessageRefs

TEAM = "T111"


def definition(name: str, approvers: list[str], policy: str) -> str:
    return (
        f"name: {name}\nsteps:\n  - id: ok\n    type: approval\n    policy: {policy}\n"
        f"    approvers: [{', '.join(approvers)}]\n"
    )


async def serve(database: str, api_url: str, bot_token: str, app_token: str, n: int) -> None:
    users = [f"UB{i:04d}" for i in range(n)]
    storage = await open_storage(database, create=True)
    engine = Engine.from_storage(storage)
    await engine.start()
    await engine.apply_definition(TEAM, definition("everyone", users, "all"))
    for i, user in enumerate(users):
        await engine.apply_definition(TEAM, definition(f"solo-{i}", [user], "any"))
    config = SlackConfig(bot_token=bot_token, app_token=app_token, api_url=api_url, pace=None)
    service = await start_slack(
        engine, engine.router, config, SqlMessageRefs(storage.engine, MessageRef)
    )
    gc.freeze()
    loop = asyncio.get_running_loop()
    try:
        print("ready", flush=True)
        while line := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
            if line == "one":
                await engine.start_run(TEAM, "everyone", {}, "UREQ")
            elif line == "many":
                runs = (engine.start_run(TEAM, f"solo-{i}", {}, "UREQ") for i in range(n))
                await asyncio.gather(*runs)
            elif line == "settle":
                await service.settle()
            print("done", flush=True)
    finally:
        await service.stop()
        await engine.stop()
        await storage.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("database", "api_url", "bot_token", "app_token"):
        parser.add_argument(f"--{name.replace('_', '-')}", required=True)
    parser.add_argument("--approvers", type=int, required=True)
    a = parser.parse_args()
    asyncio.run(serve(a.database, a.api_url, a.bot_token, a.app_token, a.approvers))
