"""The Slack app under test, driven through the fake Slack the way Slack drives it.

`SlackHarness` runs the engine on a SQLite file and `start_slack()` against a `FakeSlack`; nothing
in Bolt or slack_sdk is patched: the app reaches the fake only because its API URL points there.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from bot.blocks import ids
from bot.config import SlackConfig
from bot.message_refs import MessageRef, MessageRefs
from bot.service import SlackService, start_slack
from engine import Grant, GrantStore
from engine.events import Event
from engine.ports import Clock
from engine.runtime.service import Engine, RuntimeSettings
from engine.state import RunState
from storage import Storage, open_storage
from storage.slack_functions import SqlFunctionSteps
from storage.slack_home import SqlHomeOpeners
from storage.slack_messages import SqlMessageRefs
from tests.fakeslack import Envelope, FakeSlack
from tests.fakeslack import payloads as p
from tests.fakeslack.server import WAIT

TEAM = "T111"
ADMIN = "UADMIN"
PEOPLE = {
    "UADA": "Ada Lovelace",
    "UBOB": "Bob Bates",
    "UCAT": "Cat Cole",
    "UDAN": "Dan Dorsey",
    "UEVE": "Eve Intruder",
    ADMIN: "Ann Admin",
}
E = TypeVar("E", bound=Event)
ACK_LIMIT = 3.0  # seconds Slack allows for an acknowledgement
SECRET_KEY = "a test secret key, sealing the Slack steps' tokens"


class ObservedRefs:
    """The app's card store, observed: tests can wait until a card's location is saved."""

    def __init__(self, inner: MessageRefs) -> None:
        self._inner = inner
        self._saved = asyncio.Condition()

    async def get(
        self, tenant_id: str, run_id: str, step_id: str, principal: str
    ) -> MessageRef | None:
        return await self._inner.get(tenant_id, run_id, step_id, principal)

    async def put(
        self, tenant_id: str, run_id: str, step_id: str, principal: str, ref: MessageRef
    ) -> None:
        await self._inner.put(tenant_id, run_id, step_id, principal, ref)
        async with self._saved:
            self._saved.notify_all()

    async def for_step(self, tenant_id: str, run_id: str, step_id: str) -> dict[str, MessageRef]:
        return await self._inner.for_step(tenant_id, run_id, step_id)

    async def saved(self, run_id: str, step_id: str, principal: str) -> MessageRef:
        async def loop() -> MessageRef:
            async with self._saved:
                while (ref := await self.get(TEAM, run_id, step_id, principal)) is None:
                    await self._saved.wait()
                return ref

        return await asyncio.wait_for(loop(), WAIT)


class ObservedGrants:
    """The engine's grant store, observed: the dispatcher stores a grant after the approval that
    gave it commits, and tests can wait for that."""

    def __init__(self, inner: GrantStore) -> None:
        self._inner = inner
        self._stored = asyncio.Condition()

    async def put(self, grant: Grant) -> None:
        await self._inner.put(grant)
        async with self._stored:
            self._stored.notify_all()

    async def get(self, tenant_id: str, grant_id: str) -> Grant | None:
        return await self._inner.get(tenant_id, grant_id)

    async def active(self, tenant_id: str, now: Any, **only: Any) -> list[Grant]:
        return await self._inner.active(tenant_id, now, **only)

    async def revoke(self, tenant_id: str, grant_id: str, by: str, at: Any) -> Grant | None:
        return await self._inner.revoke(tenant_id, grant_id, by, at)

    async def stored(self, grant_id: str) -> Grant:
        async def loop() -> Grant:
            async with self._stored:
                while (grant := await self.get(TEAM, grant_id)) is None:
                    await self._stored.wait()
                return grant

        return await asyncio.wait_for(loop(), WAIT)


class SlackUsers:
    """People using Slack: they type commands, click buttons and fill in modals."""

    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake

    # ------------------------------------------------------------ acting as Slack users

    async def command(self, user: str, text: str) -> Envelope:
        payload = p.slash_command(user, text, response_url=self.fake.response_url())
        env = await self.fake.send("slash_commands", payload)
        await self.fake.ack(env)
        return env

    async def reply(self, user: str, text: str) -> dict[str, Any]:
        """Type a slash command and return the reply only `user` sees (response_url) or the
        text the ack carried (help)."""
        before = len(self.fake.calls_to("response_url"))
        env = await self.command(user, text)
        if env.ack_payload and env.ack_payload.get("text"):
            return env.ack_payload
        calls = await self.fake.wait_for_call("response_url", count=before + 1)
        return calls[before].args

    async def click(self, user: str, message: dict[str, Any], action_id: str) -> Envelope:
        env = await self.fake.send("interactive", p.block_action(user, message, action_id))
        await self.fake.ack(env)
        return env

    async def submit(self, user: str, view: dict[str, Any], values: dict[str, Any]) -> Envelope:
        env = await self.fake.send("interactive", p.view_submission(user, view, values))
        await self.fake.ack(env)
        return env

    async def open_home(self, user: str) -> Envelope:
        env = await self.fake.send("events_api", p.app_home_opened(user))
        await self.fake.ack(env)
        return env

    # ------------------------------------------------------------ what users see

    async def card(self, user: str, action_id: str = ids.APPROVE) -> dict[str, Any]:
        """The latest message in `user`'s DM that has the button `action_id` (a snapshot)."""
        return await self.card_in(self.fake.dm_channel(user), action_id)

    async def card_in(self, channel: str, action_id: str = ids.APPROVE) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            for message in reversed(self.fake.messages_in(channel)):
                if action_id in str(message["blocks"]):
                    snapshot: dict[str, Any] = copy.deepcopy(message)
                    return snapshot
            return None

        found: dict[str, Any] = await self.fake.wait_until(find)
        return found

    async def dm(self, user: str, containing: str) -> dict[str, Any]:
        """The latest message in `user`'s DM whose text or blocks contain `containing`."""
        channel = self.fake.dm_channel(user)

        def find() -> dict[str, Any] | None:
            for message in reversed(self.fake.messages_in(channel)):
                if containing in message["text"] or containing in str(message["blocks"]):
                    snapshot: dict[str, Any] = copy.deepcopy(message)
                    return snapshot
            return None

        found: dict[str, Any] = await self.fake.wait_until(find)
        return found

    async def opened_view(self, user: str, after: int = 0) -> dict[str, Any]:
        """The view the app opened for `user` with views.open (the `after`+1-th one)."""
        calls = await self.fake.wait_for_call("views.open", count=after + 1)
        return self.fake.views[calls[after].response["view"]["id"]]

    async def ephemeral_to(self, user: str, containing: str) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            for sent in self.fake.ephemeral:
                if sent["user"] == user and containing in sent.get("text", ""):
                    return sent
            return None

        found: dict[str, Any] = await self.fake.wait_until(find)
        return found

    def assert_every_envelope_acked_in_time(self) -> None:
        for env in self.fake.envelopes.values():
            assert env.acked.is_set(), f"envelope {env.type} was never acked"
            assert env.ack_seconds < ACK_LIMIT, f"{env.type} acked after {env.ack_seconds:.2f}s"


class SlackHarness(SlackUsers):
    """The app in this process, so tests can also look at the engine."""

    def __init__(
        self,
        fake: FakeSlack,
        engine: Engine,
        service: SlackService,
        refs: ObservedRefs,
        storage: Storage,
        grants: ObservedGrants | None = None,
    ) -> None:
        super().__init__(fake)
        self.storage = storage
        self.grants = grants
        self.engine = engine
        self.service = service
        self.refs = refs

    async def recorded(self, run_id: str, kind: type[E], count: int = 1) -> list[E]:
        """Wait (on the engine's change notifications) until the run's timeline holds `count`
        events of `kind`; returns them."""
        changed = asyncio.Event()

        async def listener(state: RunState, events: list[Event]) -> None:
            if state.run_id == run_id:
                changed.set()

        self.engine.subscribe(listener)
        try:
            while True:
                timeline = await self.engine.timeline(TEAM, run_id)
                found: list[E] = [r.event for r in timeline if isinstance(r.event, kind)]
                if len(found) >= count:
                    return found
                await asyncio.wait_for(changed.wait(), WAIT)
                changed.clear()
        finally:
            self.engine.unsubscribe(listener)

    async def run_reaches(self, run_id: str, *statuses: str) -> RunState:
        """Wait (on the engine's change notifications) until the run has one of `statuses`."""
        changed = asyncio.Event()

        async def listener(state: RunState, events: list[Event]) -> None:
            if state.run_id == run_id:
                changed.set()

        self.engine.subscribe(listener)
        try:
            while (run := await self.engine.get_run(TEAM, run_id)).status not in statuses:
                await asyncio.wait_for(changed.wait(), WAIT)
                changed.clear()
            return run
        finally:
            self.engine.unsubscribe(listener)


def fake_slack() -> FakeSlack:
    fake = FakeSlack(team_id=TEAM)
    for user, name in PEOPLE.items():
        fake.add_user(user, name, email=f"{name.split()[0].lower()}@example.com")
    return fake


@asynccontextmanager
async def app_process(
    fake: FakeSlack,
    db_path: Path,
    clock: Clock | None = None,
    *,
    public_url: str | None = None,
    **settings: Any,
) -> AsyncIterator[SlackHarness]:
    """One app process (engine and Slack adapter) on the SQLite file `db_path`; entering it
    again on the same file is a restart, and two at once are two replicas. `public_url` is the
    web server's (PUBLIC_URL: cards link to runs' pages); `settings` are RuntimeSettings."""
    storage: Storage = await open_storage(f"sqlite+aiosqlite:///{db_path}", create=True)
    runtime = RuntimeSettings(poll_every=0.2, **settings)
    grants = ObservedGrants(storage.grants)
    engine = (
        Engine.from_storage(storage, settings=runtime, clock=clock, grants=grants)
        if clock
        else Engine.from_storage(storage, settings=runtime, grants=grants)
    )
    await engine.start()
    config = SlackConfig(
        bot_token=fake.bot_token,
        app_token=fake.app_token,
        api_url=fake.api_url,
        admins=[ADMIN],
        public_url=public_url,
        pace=fake.limits.speed if fake.limits else None,  # the limits of the fake, if any
    )
    refs = ObservedRefs(SqlMessageRefs(storage.engine, MessageRef))
    openers = SqlHomeOpeners(storage.engine)
    steps = SqlFunctionSteps(storage.engine, lambda: SECRET_KEY)
    service = await start_slack(
        engine, engine.router, config, refs, home_openers=openers, function_steps=steps
    )
    harness = SlackHarness(fake, engine, service, refs, storage, grants)
    try:
        yield harness
    finally:
        await service.stop()
        await engine.stop()
        await storage.close()


@asynccontextmanager
async def running_app(
    tmp_path: Path, clock: Clock | None = None, *, public_url: str | None = None, **settings: Any
) -> AsyncIterator[SlackHarness]:
    fake = fake_slack()
    await fake.start()
    try:
        async with app_process(
            fake, tmp_path / "cs.db", clock, public_url=public_url, **settings
        ) as harness:
            yield harness
    finally:
        await fake.stop()
    harness.assert_every_envelope_acked_in_time()
