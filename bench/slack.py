"""Slack under bursts, through the real Bolt app (start_slack) on the engine and tests/fakeslack.

`python -m bench.slack [--part acks|limits|both] [--approvers 200] [--rounds 3] [--scale 1.0]
[--database sqlite|postgres]`

acks: N approvers click Approve at the same moment (the fake without rate limits, the app
unpaced: how fast the app itself is). The app runs in a process of its own (bench/slack_app.py),
as in production. Prints ack latency p50/p99 of the click envelopes (the fake's clock: sent ->
acked) and the time until every approver's card shows the outcome. Two shapes, side by side
for `--rounds` bursts each: one run whose step needs all N approvers, and N runs with one
approver each.
Targets: ack p99 < 50 ms, every card updated within 3 s.

limits: the fake enforces Slack's published rate limits at Slack's own rates, the app paces to
them. One burst: 1,000 runs whose cards all go to one channel, 200 approvers clicking on their
DM cards at once, and an escalation that moves 500 cards from one approver to another (`--scale`
multiplies the three counts). Prints when everything was delivered against the least time the
limits allow for the calls made (the busiest limit), the 429s, and whether any call was refused
twice. Target: within 10% of that minimum, nothing lost, no call refused twice.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import asyncpg

from bench.slack_app import TEAM, definition
from bot.blocks import ids
from bot.config import SlackConfig
from bot.message_refs import MessageRef
from bot.service import start_slack
from engine.runtime.service import Engine
from storage import open_storage
from storage.slack_messages import SqlMessageRefs
from tests.fakeslack import ApiCall, Envelope, FakeSlack
from tests.fakeslack import payloads as p
from tests.fakeslack.limits import limit_of

ROOT = Path(__file__).resolve().parents[1]
PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


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
    # The fake stamps each ack as it reads it: a collection in its own process (its records of
    # every call make them long) would stamp them late. That pause is the instrument's, not
    # the app's (in another process, see bench/slack_app.py).
    gc.disable()
    try:
        started = fake.now()
        envelopes = await asyncio.gather(*(fake.send("interactive", pl) for pl in payloads))
        await asyncio.gather(*(fake.ack(env) for env in envelopes))
    finally:
        gc.enable()
    await fake.wait_until(watch.all_closed)
    return [env.ack_seconds for env in envelopes], fake.now() - started


async def posted_cards(
    fake: FakeSlack, users: list[str], before: set[tuple[str, str]] | None = None
) -> dict[str, dict[str, Any]]:
    """Each user's newest approval card, among the messages posted after `before`."""
    old = before or set()

    def ready() -> dict[str, dict[str, Any]] | None:
        newest: dict[str, dict[str, Any]] = {}  # DM channel -> its newest new card
        for key, m in sorted(fake.messages.items()):
            if key not in old and "Approval" in m["text"]:
                newest[key[0]] = m
        cards = {user: newest.get(fake.dm_channel(user)) for user in users}
        return None if None in cards.values() else cards  # type: ignore[return-value]

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


async def quiet(fake: FakeSlack, service: Any, seconds: float = 1.0) -> None:
    """Wait until the app has made no call for `seconds` (what a setup caused is done)."""
    while True:
        before = len(fake.calls)
        await service.settle()
        await asyncio.sleep(seconds)
        if len(fake.calls) == before:
            return


class AppProcess:
    """bench/slack_app.py: the app in its own process, told what to do over a pipe."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, fake: FakeSlack, database: str, approvers: int) -> AppProcess:
        args = ["--database", database, "--api-url", fake.api_url, "--bot-token"]
        args += [fake.bot_token, "--app-token", fake.app_token, "--approvers", str(approvers)]
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.slack_app",
            *args,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        app = cls(process)
        await app._answer("ready")
        return app

    async def _answer(self, expected: str) -> None:
        assert self.process.stdout is not None
        line = (await self.process.stdout.readline()).decode().strip()
        if line != expected:
            raise RuntimeError(f"the app process said {line!r}, not {expected!r}")

    async def do(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{command}\n".encode())
        await self.process.stdin.drain()
        await self._answer("done")

    async def settle(self) -> None:
        await self.do("settle")

    async def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        await self.process.wait()


async def acks(approvers: int, database: str, rounds: int) -> None:
    users = [f"UB{i:04d}" for i in range(approvers)]
    fake = FakeSlack(team_id=TEAM, wait=300)
    for user in [*users, "UREQ"]:
        fake.add_user(user, f"User {user}")
    await fake.start()
    with tempfile.TemporaryDirectory() as folder:
        url, drop = await database_url(database, Path(folder))
        app = await AppProcess.start(fake, url, approvers)
        try:
            shapes = {
                "one": f"one run, all {approvers} approvers must approve",
                "many": f"{approvers} runs, one approver each",
            }
            results: dict[str, list[tuple[list[float], float]]] = defaultdict(list)
            for _ in range(rounds):  # the shapes side by side, a fresh burst each round
                for shape, title in shapes.items():
                    before = set(fake.messages)
                    await app.do(shape)
                    cards = await posted_cards(fake, users, before)
                    await quiet(fake, app)
                    fake.calls.clear()  # only this burst's calls are looked at
                    results[title].append(await burst(fake, cards))
            for title, bursts in results.items():
                report(title, bursts)
        finally:
            await app.stop()
            await drop()
            await fake.stop()


class JumpClock:
    """The wall clock, moved forward on demand (to bring 500 escalations due at once)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


ROOM = "C0BURST"
REQUESTER = "email:requester@example.com"  # not a Slack user: no run messages in the burst


def escalation(first: str, then: str) -> str:
    return (
        "name: escalate\nsteps:\n  - id: ok\n    type: approval\n"
        f"    approvers: [{first}]\n    timeout: 1h\n    on_timeout: escalate\n"
        f"    escalate_to: [[{then}]]\n"
    )


def room(approver: str) -> str:
    return (
        "name: room\nsteps:\n  - id: ok\n    type: approval\n"
        f"    channel: {ROOM}\n    approvers: [{approver}]\n"
    )


def cards_of(fake: FakeSlack, channel: str) -> list[tuple[str, str]]:
    return [
        key
        for key, m in fake.messages.items()
        if key[0] == channel and ids.APPROVE in str(m["blocks"]) and not m.get("thread_ts")
    ]


async def limits(scale: float, database: str) -> None:
    """The rate-limited burst (see the module's docstring)."""
    channel_runs, clickers, moved = round(1000 * scale), round(200 * scale), round(500 * scale)
    users = [f"UC{i:04d}" for i in range(clickers)]
    fake = FakeSlack(team_id=TEAM, wait=3600)
    for user in [*users, "UROOM", "UESC1", "UESC2"]:
        fake.add_user(user, f"User {user}")
    fake.add_channel(ROOM, "approvals-burst", ["UROOM"])
    await fake.start()
    clock = JumpClock()
    with tempfile.TemporaryDirectory() as folder:
        url, drop = await database_url(database, Path(folder))
        storage = await open_storage(url, create=True)
        engine = Engine.from_storage(storage, clock=clock)
        await engine.start()
        config = SlackConfig(  # paced to Slack's own rates
            bot_token=fake.bot_token, app_token=fake.app_token, api_url=fake.api_url, pace=1.0
        )
        refs = SqlMessageRefs(storage.engine, MessageRef)
        # The set-up goes unpaced against a fake without limits; the burst gets a paced app.
        service = await start_slack(engine, engine.router, replace(config, pace=None), refs)
        try:
            # Set-up: the DM cards to click and to escalate.
            await engine.apply_definition(TEAM, room("UROOM"))
            await engine.apply_definition(TEAM, escalation("UESC1", "UESC2"))
            for i, user in enumerate(users):
                await engine.apply_definition(TEAM, definition(f"solo-{i}", [user], "any"))
            await asyncio.gather(
                *(engine.start_run(TEAM, f"solo-{i}", {}, REQUESTER) for i in range(clickers)),
                *(engine.start_run(TEAM, "escalate", {}, REQUESTER) for _ in range(moved)),
            )
            clicked = await posted_cards(fake, users)
            first = fake.dm_channel("UESC1")
            await fake.wait_until(lambda: len(cards_of(fake, first)) >= moved)
            escalated = cards_of(fake, first)
            await quiet(fake, service)
            await service.stop()
            service = await start_slack(engine, engine.router, config, refs)
            gc.freeze()  # as `python app.py` does once started (cli/serve.py)
            print(f"set-up done: {len(clicked)} DM cards to click, {len(escalated)} to escalate")

            # The burst, under Slack's limits.
            fake.enforce_limits()
            calls_before = len(fake.calls)
            started = fake.now()
            clock.offset += timedelta(hours=2)  # the 500 escalations come due
            clicks = [p.block_action(user, card, ids.APPROVE) for user, card in clicked.items()]
            envelopes, _ = await asyncio.gather(
                asyncio.gather(*(fake.send("interactive", pl) for pl in clicks)),
                asyncio.gather(
                    *(engine.start_run(TEAM, "room", {}, REQUESTER) for _ in range(channel_runs))
                ),
            )
            await asyncio.gather(*(fake.ack(env) for env in envelopes))
            second = fake.dm_channel("UESC2")
            click_keys = [(card["channel"], card["ts"]) for card in clicked.values()]

            def left() -> dict[str, int]:
                def open_(keys: list[tuple[str, str]]) -> int:
                    return sum(ids.APPROVE in str(fake.messages[k]["blocks"]) for k in keys)

                return {
                    "channel cards to post": channel_runs - len(cards_of(fake, ROOM)),
                    "clicked cards to close": open_(click_keys),
                    "escalated cards to post": moved - len(cards_of(fake, second)),
                    "escalated-from cards to redraw": open_(escalated),
                }

            # Polled: checking after every call (wait_until) would cost the app's loop.
            while any(left().values()):  # noqa: ASYNC110
                await asyncio.sleep(0.5)
            delivered = fake.now() - started
            await quiet(fake, service)
            report_limits(fake.calls[calls_before:], delivered, envelopes)
        finally:
            await service.stop()
            await engine.stop()
            await storage.close()
            await drop()
            await fake.stop()


def report_limits(calls: list[ApiCall], delivered: float, envelopes: list[Envelope]) -> None:
    by_limit: dict[str, list[ApiCall]] = defaultdict(list)
    for call in calls:
        by_limit[call.limit or f"{call.method} (not limited)"].append(call)
    rows = []
    for name, made in by_limit.items():
        accepted = [c for c in made if c.status == 200]
        limit = limit_of(made[0].method, made[0].args, TEAM) if made[0].limit else None
        least = limit.minimum_seconds(len(accepted)) if limit else 0.0
        rows.append((least, name, len(accepted), len(made) - len(accepted)))
    rows.sort(reverse=True)
    print("calls in the burst, by limit (the busiest first):")
    for least, name, accepted, refused in rows[:8]:
        print(f"  {name:55s} {accepted:5d} made  {refused:4d} refused  least {least:7.1f} s")
    if os.environ.get("BENCH_GAPS"):  # where the busiest limits sat idle, to find out why
        start = min(c.at for c in calls)
        for _, name, _, _ in rows[:3]:
            times = [c.at - start for c in by_limit[name] if c.status == 200]
            gaps = [(round(a, 1), round(b - a, 1)) for a, b in pairwise(times) if b - a > 1.5]
            print(f"  {name}: first {times[0]:.1f} s, last {times[-1]:.1f} s, gaps {gaps[:12]}")
            refused = [round(c.at - start, 1) for c in by_limit[name] if c.status == 429]
            print(f"    refused at {refused[:10]}")
    refusals = Counter(
        f"{c.method} {json.dumps(c.args, sort_keys=True)}" for c in calls if c.status == 429
    )
    least = rows[0][0] if rows else 0.0
    acked = [env.ack_seconds for env in envelopes]
    print(
        f"everything delivered after {delivered:7.1f} s; the limits allow {least:7.1f} s at the "
        f"least: {delivered / least if least else float('nan'):.3f}x (target <= 1.10)"
    )
    twice = sum(1 for n in refusals.values() if n > 1)
    most = max(refusals.values(), default=0)
    print(f"429s: {sum(refusals.values())}; calls refused twice: {twice} (at most {most} times)")
    print(
        f"click acks under the burst: p50 {percentile(acked, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(acked, 0.99) * 1000:.1f} ms"
    )


def report(title: str, bursts: list[tuple[list[float], float]]) -> None:
    acks = [ack for acked, _ in bursts for ack in acked]
    closed = [seconds for _, seconds in bursts]
    print(f"{title} ({len(bursts)} bursts, {len(acks)} clicks):")
    print(
        f"  ack latency  p50 {percentile(acks, 0.5) * 1000:7.1f} ms   "
        f"p99 {percentile(acks, 0.99) * 1000:7.1f} ms   max {max(acks) * 1000:7.1f} ms"
    )
    each = ", ".join(f"{seconds:.2f}" for seconds in closed)
    print(f"  every card updated after {each} s (the slowest burst: {max(closed):.2f} s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["acks", "limits", "both"], default="both")
    parser.add_argument("--approvers", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="bursts of each shape (acks)")
    parser.add_argument("--scale", type=float, default=1.0, help="of the rate-limited burst")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # commands put off under the limits log warnings
    began = time.perf_counter()
    if args.part in ("acks", "both"):
        asyncio.run(acks(args.approvers, args.database, args.rounds))
    if args.part in ("limits", "both"):
        asyncio.run(limits(args.scale, args.database))
    print(f"(bench took {time.perf_counter() - began:.1f} s)")
