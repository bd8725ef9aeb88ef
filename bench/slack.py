"""Slack under a burst: N approvers click Approve at the same moment, through the fake Slack.

`python -m bench.slack [--approvers 200] [--database sqlite|postgres]` runs the real Bolt app
(start_slack) on the engine, against tests/fakeslack, and prints:
- ack latency p50/p99 of the N click envelopes (the fake's clock: sent -> acked);
- the time from the burst until every approver's card shows the outcome (buttons gone).

Two shapes: one run whose step needs all N approvers, and N runs with one approver each.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg

from bot.blocks import ids
from bot.config import SlackConfig
from bot.message_refs import MessageRef
from bot.service import start_slack
from engine.runtime.service import Engine
from storage import open_storage
from storage.slack_messages import SqlMessageRefs
from tests.fakeslack import FakeSlack
from tests.fakeslack import payloads as p

TEAM = "T111"
PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def definition(name: str, approvers: list[str], policy: str) -> str:
    return (
        f"name: {name}\nsteps:\n  - id: ok\n    type: approval\n    policy: {policy}\n"
        f"    approvers: [{', '.join(approvers)}]\n"
    )


class CardWatch:
    """Which cards show a closed step, read incrementally from the fake's call log."""

    def __init__(self, fake: FakeSlack, channels: set[str]) -> None:
        self.fake, self.waiting, self.seen = fake, set(channels), len(fake.calls)

    def all_closed(self) -> bool:
        for call in self.fake.calls[self.seen :]:
            if call.method == "chat.update" and call.status == 200:
                blocks = str(call.args.get("blocks"))
                if "Approved" in blocks and ids.APPROVE not in blocks:
                    self.waiting.discard(call.args["channel"])
        self.seen = len(self.fake.calls)
        return not self.waiting


async def burst(fake: FakeSlack, cards: dict[str, dict[str, Any]]) -> tuple[list[float], float]:
    """Every user clicks Approve on their card at once: (ack latencies, seconds until all
    cards are closed)."""
    watch = CardWatch(fake, {card["channel"] for card in cards.values()})
    payloads = [p.block_action(user, card, ids.APPROVE) for user, card in cards.items()]
    started = fake.now()
    envelopes = await asyncio.gather(*(fake.send("interactive", pl) for pl in payloads))
    await asyncio.gather(*(fake.ack(env) for env in envelopes))
    await fake.wait_until(watch.all_closed)
    return [env.ack_seconds for env in envelopes], fake.now() - started


async def posted_cards(fake: FakeSlack, users: list[str]) -> dict[str, dict[str, Any]]:
    def ready() -> dict[str, dict[str, Any]] | None:
        cards = {}
        for user in users:
            found = [m for m in fake.messages_in(fake.dm_channel(user)) if "Approval" in m["text"]]
            if not found:
                return None
            cards[user] = found[-1]
        return cards

    cards: dict[str, dict[str, Any]] = await fake.wait_until(ready)
    return cards


async def database_url(kind: str, folder: Path) -> tuple[str, Callable[[], Any]]:
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{folder / 'bench.db'}", lambda: asyncio.sleep(0)
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG.replace("+asyncpg", ""))
    await admin.execute(f'CREATE SCHEMA "{schema}"')

    async def drop() -> None:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()

    return f"{PG}?search_path={schema}", drop


async def main(approvers: int, database: str) -> None:
    users = [f"UB{i:04d}" for i in range(approvers)]
    fake = FakeSlack(team_id=TEAM, wait=300)
    for user in [*users, "UREQ"]:
        fake.add_user(user, f"User {user}")
    await fake.start()
    with tempfile.TemporaryDirectory() as folder:
        url, drop = await database_url(database, Path(folder))
        storage = await open_storage(url, create=True)
        engine = Engine.from_storage(storage)
        await engine.start()
        config = SlackConfig(
            bot_token=fake.bot_token, app_token=fake.app_token, api_url=fake.api_url, pace=None
        )
        service = await start_slack(
            engine, engine.router, config, SqlMessageRefs(storage.engine, MessageRef)
        )
        try:
            await engine.apply_definition(TEAM, definition("everyone", users, "all"))
            await engine.start_run(TEAM, "everyone", {}, "UREQ")
            acks, closed = await burst(fake, await posted_cards(fake, users))
            report(f"one run, all {approvers} approvers must approve", acks, closed)

            for i, user in enumerate(users):
                await engine.apply_definition(TEAM, definition(f"solo-{i}", [user], "any"))
            fake.messages.clear()
            await asyncio.gather(
                *(engine.start_run(TEAM, f"solo-{i}", {}, "UREQ") for i in range(approvers))
            )
            acks, closed = await burst(fake, await posted_cards(fake, users))
            report(f"{approvers} runs, one approver each", acks, closed)
        finally:
            await service.stop()
            await engine.stop()
            await storage.close()
            await drop()
            await fake.stop()


def report(title: str, acks: list[float], closed: float) -> None:
    print(f"{title}:")
    print(
        f"  ack latency  p50 {percentile(acks, 0.5) * 1000:7.1f} ms   "
        f"p99 {percentile(acks, 0.99) * 1000:7.1f} ms   max {max(acks) * 1000:7.1f} ms"
    )
    print(
        f"  every card updated {closed:6.2f} s after the burst "
        f"(mean ack {statistics.fmean(acks) * 1000:.1f} ms)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--approvers", type=int, default=200)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    began = time.perf_counter()
    asyncio.run(main(args.approvers, args.database))
    print(f"(bench took {time.perf_counter() - began:.1f} s)")
