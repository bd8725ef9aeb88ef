"""The slash command (`/workflow` by default): help, list, start, define, status, cancel, inbox,
web, schedules; away and reassign are in `handoff_commands`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.handoffs import sla_line
from bot.blocks.modals import define_modal, start_modal
from bot.blocks.run_status import (
    help_text,
    inbox_blocks,
    runs_blocks,
    schedules_blocks,
    status_blocks,
    web_link_blocks,
    workflows_blocks,
)
from bot.deps import Deps, dm, tenant_of
from bot.home import agent_requests
from bot.listeners import bind, handoff_commands
from bot.listeners.command_request import Request
from engine import EngineError

log = logging.getLogger("countersign.slack")
INBOX_SHOWN = 10
RECENT_RUNS = 10


async def _list(r: Request) -> None:
    definitions = await r.engine.list_definitions(r.tenant)
    await r.say("Workflows", workflows_blocks(definitions))


async def _start(r: Request) -> None:
    if not r.args:
        await r.say(f"Which workflow? Try `{r.deps.config.command} list`.")
        return
    stored = await r.engine.get_definition(r.tenant, r.args[0])
    if stored.disabled:
        await r.say(f"Workflow {stored.name} is disabled.")
        return
    await r.client.views_open(
        trigger_id=r.trigger_id, view=start_modal(stored.definition, stored.version)
    )


async def _define(r: Request) -> None:
    try:
        r.engine.may_define(r.deps.actor(r.user))
    except EngineError as refused:
        if refused.code != "not_admin":
            raise
        await r.say("Only Countersign admins can define workflows. Ask one of them.")
        return
    await r.client.views_open(trigger_id=r.trigger_id, view=define_modal())


async def _status(r: Request) -> None:
    if not r.args:
        page = await r.engine.list_runs(r.tenant, requester=r.user, limit=RECENT_RUNS)
        await r.say("Your recent runs", runs_blocks(page.runs))
        return
    run = await r.engine.get_run(r.tenant, r.args[0])
    definition = await r.engine.run_definition(run)
    events = await r.engine.timeline(r.tenant, run.run_id)
    blocks = status_blocks(run, definition, events, admin=r.deps.is_admin(r.user))
    await r.say(f"Run {run.run_id}: {run.status}", blocks)


async def _cancel(r: Request) -> None:
    if not r.args:
        await r.say(f"Which run? `{r.deps.config.command} cancel RUN`")
        return
    run = await r.engine.cancel(
        r.tenant, r.args[0], r.deps.actor(r.user), reason="cancelled from Slack"
    )
    await r.say(
        f"Run {run.run_id} is cancelled; completed steps are being undone where they can be."
        if run.status == "compensating"
        else f"Run {run.run_id}: {run.status}."
    )


async def _inbox(r: Request) -> None:
    tasks = await r.engine.pending_for(r.tenant, r.user, limit=INBOX_SHOWN + 1)
    now = r.engine.clock.now()
    details = {
        (t.run_id, t.step_id): t
        for t in await r.engine.sla(r.tenant, principal=r.user, limit=INBOX_SHOWN + 1)
    }
    slas = {key: sla_line(t, now) for key, t in details.items()}
    shown = tasks[:INBOX_SHOWN]
    agents = await agent_requests(r.engine, r.tenant, shown)
    blocks = inbox_blocks(shown, len(tasks) > INBOX_SHOWN, slas, details, agents)
    await r.say("Waiting on you", blocks)


async def _web(r: Request) -> None:
    sign_in_url = r.deps.hooks.sign_in_url
    if sign_in_url is None:
        await r.say(
            "The web dashboard is off: Countersign's web server is not running here. "
            "Ask an admin to start it (it starts with `python app.py` unless turned off)."
        )
        return
    url = sign_in_url(r.tenant, r.user)
    text = f"Your sign-in link to the Countersign dashboard: {url}"
    await dm(r.client, r.user, text, blocks=web_link_blocks(url))
    await r.say("I sent you a sign-in link to the dashboard in a direct message.")


async def _schedules(r: Request) -> None:
    schedules = await r.engine.list_schedules(r.tenant)
    await r.say("Scheduled workflows", schedules_blocks(schedules))


SUBCOMMANDS: dict[str, Callable[[Request], Awaitable[None]]] = {
    "list": _list,
    "start": _start,
    "define": _define,
    "status": _status,
    "cancel": _cancel,
    "inbox": _inbox,
    "web": _web,
    "schedules": _schedules,
    "away": handoff_commands.away,
    "reassign": handoff_commands.reassign,
}


async def _run(sub: str, r: Request) -> None:
    try:
        await SUBCOMMANDS[sub](r)
    except EngineError as e:
        await r.say(e.message)
    except Exception:
        await r.say("Sorry, that failed on our side; the error is in Countersign's log.")
        raise


async def workflow_command(
    deps: Deps,
    ack: AsyncAck,
    command: dict[str, Any],
    context: AsyncBoltContext,
    respond: AsyncRespond,
    client: AsyncWebClient,
) -> None:
    """The slash command (`/workflow` by default): ack at once (help or an unknown
    subcommand is the ack's text), then run the subcommand in the background."""
    words = str(command.get("text") or "").split()
    sub = words[0].lower() if words else "help"
    if sub not in SUBCOMMANDS:
        unknown = "" if sub == "help" else f"I don't know `{sub}`.\n"
        await ack(text=unknown + help_text(deps.config.command))
        return
    await ack()
    request = Request(deps, command, tenant_of(context), respond, client)
    deps.background.spawn(_run(sub, request), f"{deps.config.command} {sub}")


def register(app: AsyncApp, deps: Deps) -> None:
    app.command(deps.config.command)(bind(workflow_command, deps))
