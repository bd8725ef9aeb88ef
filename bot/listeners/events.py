"""Events API: the App Home tab is drawn when a user opens it; replies in a card's thread are
recorded in the run's timeline as comments.

One top-level function per listener; `register` binds the dependencies (`bot.listeners.bind`)
and wires them."""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import ids
from bot.deps import Deps, tenant_of
from bot.listeners import bind
from engine import NotFound

log = logging.getLogger("countersign.slack")
# Message subtypes that are a person writing in a thread. Edits (message_changed) and deletions
# are left alone: the timeline keeps what was said when it was said.
COMMENT_SUBTYPES = {None, "thread_broadcast", "file_share"}
THREADS_KEPT = 2000


class ThreadCards:
    """Which card (step) a thread hangs under: read from the parent message's header block_id
    (conversations.history), remembered for the threads seen lately."""

    def __init__(self) -> None:
        self._known: OrderedDict[tuple[str, str], ids.StepRef | None] = OrderedDict()

    async def step_of(
        self, client: AsyncWebClient, channel: str, thread_ts: str, bot_user: str | None
    ) -> ids.StepRef | None:
        key = (channel, thread_ts)
        if key in self._known:
            return self._known[key]
        found = await client.conversations_history(
            channel=channel, latest=thread_ts, inclusive=True, limit=1
        )
        messages: list[dict[str, Any]] = list(found.get("messages") or [])
        parent = messages[0] if messages and messages[0].get("ts") == thread_ts else None
        ours = parent is not None and (parent.get("bot_id") or parent.get("user") == bot_user)
        step = ids.card_step(parent.get("blocks") or []) if parent and ours else None
        self._known[key] = step
        if len(self._known) > THREADS_KEPT:
            self._known.popitem(last=False)
        return step


async def home_opened(deps: Deps, event: dict[str, Any], context: AsyncBoltContext) -> None:
    """`app_home_opened`: draw the user's Home tab."""
    # Events are acked by Bolt before this runs; publishing happens in the background.
    if event.get("tab", "home") == "home":
        deps.home.opened(tenant_of(context), event["user"])


async def thread_reply(
    deps: Deps,
    threads: ThreadCards,
    event: dict[str, Any],
    context: AsyncBoltContext,
    client: AsyncWebClient,
) -> None:
    """`message`: a person's reply in a card's thread becomes a comment in the run's timeline."""
    thread_ts = event.get("thread_ts")
    if (
        not thread_ts
        or thread_ts == event.get("ts")
        or event.get("bot_id")
        or event.get("subtype") not in COMMENT_SUBTYPES
        or not event.get("user")
        or not str(event.get("text") or "").strip()
    ):
        return
    tenant = tenant_of(context)

    async def record() -> None:
        step = await threads.step_of(client, event["channel"], thread_ts, context.bot_user_id)
        if step is None:
            return  # a thread under something else than a card
        try:
            await deps.engine.comment(
                tenant,
                step.run_id,
                event["user"],
                str(event["text"]),
                step_id=step.step_id,
                channel="slack",
            )
        except NotFound:
            log.info("Slack: a reply under a card of run %s, which is gone", step.run_id)

    deps.background.spawn(record(), f"comment by {event['user']}")


def register(app: AsyncApp, deps: Deps) -> None:
    app.event("app_home_opened")(bind(home_opened, deps))
    app.event("message")(bind(thread_reply, deps, ThreadCards()))
