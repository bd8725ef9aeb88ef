"""The Slack channel: performs the engine's human-facing commands with the Web API.

Registered on the engine's router as "slack". Every command is idempotent on what it changes:
a card already posted for (run, step, person) is updated in place rather than posted again, so a
command re-dispatched after a crash does no harm. Rate limits are retried by slack_sdk's retry
handlers on the client; what still fails is reported as the engine's `Unavailable` (try later)
or `Failed` (no point retrying, e.g. an unknown channel).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.approval_card import approval_card, input_card
from bot.blocks.limits import MESSAGE_TEXT, escape, truncate
from bot.blocks.run_status import run_message
from bot.clients import SlackClients
from bot.coalesce import Coalescer
from bot.message_refs import RUN_MESSAGE, MessageRef, MessageRefs
from engine.commands import (
    Command,
    RequestApproval,
    RequestInput,
    RunChanged,
    SendNotification,
    UpdateApproval,
)
from engine.decider.context import template_context
from engine.definitions.models import ApprovalStep, InputStep, WorkflowDefinition
from engine.errors import EngineError, NotFound
from engine.ports import Failed, Outcome, Succeeded, Unavailable
from engine.runtime.service import Engine
from engine.state import RunState
from engine.templates import render

log = logging.getLogger("countersign.slack")

# Slack errors that mean "try again later"; any other error will not get better by retrying.
TRANSIENT = {
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "team_added_to_org",
}
UPDATE_CONCURRENCY = 20
REDRAW_INTERVAL = 1.0  # seconds between redraws of one step's cards while decisions pour in


def is_slack_user(principal: str) -> bool:
    return principal[:1] in ("U", "W") and principal[1:].isalnum() and principal.isupper()


class SlackChannel:
    """A `CommandHandler` for request_approval, update_approval, request_input,
    send_notification and run_changed."""

    def __init__(self, clients: SlackClients, engine: Engine, refs: MessageRefs) -> None:
        self._clients = clients
        self._engine = engine
        self._refs = refs
        self._dms: dict[tuple[str, str], str] = {}  # (tenant, user) -> DM channel (stable)
        self._coalescer = Coalescer(min_interval=REDRAW_INTERVAL)

    async def perform(self, command: Command) -> Outcome:
        try:
            return await self._perform(command)
        except SlackApiError as e:
            error = str(e.response.get("error", "unknown"))
            if error in TRANSIENT:
                return Unavailable(f"Slack: {error}", retry_after=5.0)
            return Failed(f"Slack refused {command.type}: {error}")
        except (aiohttp.ClientError, TimeoutError) as e:
            return Unavailable(f"Slack unreachable: {e!r}")
        except NotFound as e:  # e.g. the workspace uninstalled Countersign
            return Failed(e.message)

    async def _perform(self, command: Command) -> Outcome:
        if isinstance(command, RequestApproval | RequestInput):
            return await self._request(command)
        if isinstance(command, UpdateApproval):
            return await self._update_step(command)
        if isinstance(command, SendNotification):
            return await self._notify(command)
        if isinstance(command, RunChanged):
            return await self._run_changed(command)
        raise TypeError(f"the Slack channel does not perform {command.type}")

    async def _load(self, tenant_id: str, run_id: str) -> tuple[RunState, WorkflowDefinition]:
        run = await self._engine.get_run(tenant_id, run_id)
        stored = await self._engine.get_definition(tenant_id, run.workflow, run.version)
        return run, stored.definition

    @staticmethod
    def message(run: RunState, definition: WorkflowDefinition, step_id: str) -> str | None:
        step = definition.step(step_id)
        template = step.message if isinstance(step, ApprovalStep | InputStep) else None
        if not template:
            return None
        try:
            return render(template, template_context(run))
        except EngineError as e:
            return f"(the step's message could not be rendered: {e.message})"

    def _card(
        self, run: RunState, definition: WorkflowDefinition, step_id: str, principal: str
    ) -> tuple[str, list[Block]]:
        message = self.message(run, definition, step_id)
        if run.steps[step_id].type == "input":
            return input_card(run, definition, step_id, message)
        return approval_card(run, definition, step_id, principal, message)

    async def _request(self, command: RequestApproval | RequestInput) -> Outcome:
        who = command.approver if isinstance(command, RequestApproval) else command.assignee
        run, definition = await self._load(command.tenant_id, command.run_id)
        step = definition.step(command.step_id)
        channel = step.channel if isinstance(step, ApprovalStep) and step.channel else None
        # A step with a channel has one shared card there; its key is the channel itself.
        principal = channel or who
        text, blocks = self._card(run, definition, command.step_id, "" if channel else who)
        client = await self._clients.for_tenant(command.tenant_id)
        ref = await self._refs.get(command.tenant_id, command.run_id, command.step_id, principal)
        if ref is None:
            target = channel or await self._dm(client, command.tenant_id, who)
            posted = await client.chat_postMessage(channel=target, text=text, blocks=blocks)
            ref = MessageRef(str(posted["channel"]), str(posted["ts"]))
            await self._refs.put(command.tenant_id, command.run_id, command.step_id, principal, ref)
            # A decision committed while we posted may have redrawn the step's cards before this
            # one was known: redraw it once more if the run moved on.
            latest = await self._engine.get_run(command.tenant_id, command.run_id)
            if latest.seq != run.seq:
                await self._update_step(
                    UpdateApproval(
                        key=command.key, tenant_id=run.tenant_id, run_id=run.run_id, step_id=step.id
                    )
                )
        else:
            await client.chat_update(channel=ref.channel, ts=ref.ts, text=text, blocks=blocks)
        if command.kind != "request":
            note = (
                "Reminder: this still waits on you."
                if command.kind == "reminder"
                else ("This was escalated to you.")
            )
            mention = f"<@{who}> " if channel else ""
            await client.chat_postMessage(
                channel=ref.channel, thread_ts=ref.ts, text=mention + note
            )
        return Succeeded({"channel": ref.channel, "ts": ref.ts})

    async def _update_step(self, command: UpdateApproval) -> Outcome:
        await self.refresh_cards(command.tenant_id, command.run_id, command.step_id)
        return Succeeded()

    async def refresh_cards(self, tenant_id: str, run_id: str, step_id: str) -> None:
        """Redraw every card of a step from the run's latest state (coalesced per step)."""

        async def redraw() -> None:
            run, definition = await self._load(tenant_id, run_id)
            await self._redraw(run, definition, step_id)

        await self._coalescer.run((tenant_id, run_id, step_id), redraw)

    async def _redraw(self, run: RunState, definition: WorkflowDefinition, step_id: str) -> None:
        refs = await self._refs.for_step(run.tenant_id, run.run_id, step_id)
        client = await self._clients.for_tenant(run.tenant_id)
        limit = asyncio.Semaphore(UPDATE_CONCURRENCY)

        async def update(principal: str, ref: MessageRef) -> None:
            shown = principal if is_slack_user(principal) else ""
            text, blocks = self._card(run, definition, step_id, shown)
            async with limit:
                await client.chat_update(channel=ref.channel, ts=ref.ts, text=text, blocks=blocks)

        await asyncio.gather(*(update(p, r) for p, r in refs.items()))

    async def _notify(self, command: SendNotification) -> Outcome:
        to = command.to
        if to == "requester":
            to = (await self._engine.get_run(command.tenant_id, command.run_id)).requester
        client = await self._clients.for_tenant(command.tenant_id)
        target = await self._dm(client, command.tenant_id, to) if is_slack_user(to) else to
        posted = await client.chat_postMessage(
            channel=target, text=truncate(escape(command.text), MESSAGE_TEXT)
        )
        return Succeeded({"channel": str(posted["channel"]), "ts": str(posted["ts"])})

    async def _run_changed(self, command: RunChanged) -> Outcome:
        tenant_id, run_id = command.tenant_id, command.run_id
        if command.final:  # close the cards of steps the end interrupted (cancel, failure)
            run, _ = await self._load(tenant_id, run_id)
            for step in run.steps.values():
                if step.type in ("approval", "input"):
                    await self.refresh_cards(tenant_id, run_id, step.id)
        # Coalesced per run: concurrent changes neither post the message twice nor let an
        # older state overwrite a newer one.
        await self._coalescer.run(
            (tenant_id, run_id, RUN_MESSAGE), lambda: self._show_run(tenant_id, run_id)
        )
        return Succeeded()

    async def _show_run(self, tenant_id: str, run_id: str) -> None:
        run, definition = await self._load(tenant_id, run_id)
        if not is_slack_user(run.requester):
            return
        text, blocks = run_message(run, definition)
        client = await self._clients.for_tenant(tenant_id)
        ref = await self._refs.get(tenant_id, run_id, RUN_MESSAGE, run.requester)
        if ref is None:
            dm = await self._dm(client, tenant_id, run.requester)
            posted = await client.chat_postMessage(channel=dm, text=text, blocks=blocks)
            ref = MessageRef(str(posted["channel"]), str(posted["ts"]))
            await self._refs.put(tenant_id, run_id, RUN_MESSAGE, run.requester, ref)
        else:
            await client.chat_update(channel=ref.channel, ts=ref.ts, text=text, blocks=blocks)

    async def _dm(self, client: AsyncWebClient, tenant_id: str, user: str) -> str:
        if (tenant_id, user) not in self._dms:
            opened: Any = await client.conversations_open(users=user)
            self._dms[(tenant_id, user)] = str(opened["channel"]["id"])
        return self._dms[(tenant_id, user)]
