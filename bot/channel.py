"""The Slack channel: performs the engine's human-facing commands with the Web API.

Registered on the engine's router as "slack". Every command is idempotent on what it changes:
a card already posted for (run, step, person) is updated in place rather than posted again, so a
command re-dispatched after a crash does no harm. Rate limits are retried by slack_sdk's retry
handlers on the client; what still fails is reported as the engine's `Unavailable` (try later)
or `Failed` (no point retrying, e.g. an unknown channel).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from datetime import timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.approval_card import approval_card, input_card
from bot.blocks.handoffs import answer_note, nudge, question_message
from bot.blocks.kit import MESSAGE_TEXT, escape, truncate, visible_text
from bot.blocks.run_status import run_message
from bot.clients import SlackClients
from bot.coalesce import Coalescer, LastDrawn
from bot.directory import SlackDirectory
from bot.function_steps import StepFinisher
from bot.hooks import WebHooks
from bot.message_refs import RUN_MESSAGE, MessageRef, MessageRefs
from bot.pacing import Paced, waiting_at_most
from engine import (
    AnswerDelivered,
    ApprovalStep,
    AskQuestion,
    Command,
    CompleteSlackStep,
    EngineApi,
    EngineError,
    Failed,
    InputStep,
    NotFound,
    Outcome,
    RequestApproval,
    RequestInput,
    RunChanged,
    RunState,
    SendNotification,
    Shown,
    StepState,
    Succeeded,
    Unavailable,
    UpdateApproval,
    WorkflowDefinition,
    render,
    template_context,
)
from engine import principal as principals

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
# Slack errors that mean this person cannot get a message from us (left, deactivated, hidden, a
# bot): email is then the fallback when their address is known.
UNREACHABLE = {
    "user_not_found",
    "user_disabled",
    "user_not_visible",
    "cannot_dm_bot",
    "account_inactive",
    "not_in_channel",
    "channel_not_found",
    "is_archived",
}
WHAT = {
    "request_approval": "the approval request",
    "request_input": "the form request",
    "send_notification": "the notification",
    "ask_question": "the question",
    "answer_delivered": "the answer",
}
QUESTION = "question:"  # message refs of questions to the requester: QUESTION + question id
UPDATE_CONCURRENCY = 20
# Seconds a command may wait for its turn under Slack's rate limits: the dispatcher holds its
# batch that long. A command whose turn is further off is put off to COMMAND_LEAD seconds before
# it (the dispatcher wakes for it then, so it is in hand when its turn comes); coming back up to
# COMMAND_EARLY seconds ahead (its batch ran long) it still takes the turn kept for it.
COMMAND_WAIT = 2.0
COMMAND_EARLY = COMMAND_WAIT + 2.0
COMMAND_LEAD = 0.5
REDRAW_INTERVAL = 1.0  # seconds between redraws of one step's cards while decisions pour in
STOPPED_RETRY = 5.0  # seconds before a command handed over while Slack stops is tried again


def looks(text: str, blocks: list[Block]) -> str:
    """A digest of a message as Slack would show it."""
    drawn = json.dumps([text, [block.to_dict() for block in blocks]], sort_keys=True)
    return hashlib.blake2b(drawn.encode(), digest_size=16).hexdigest()


def come_back_in(paced: Paced) -> float:
    """Seconds until a put-off command should be tried again: a little before its turn."""
    return max(0.0, paced.wait - COMMAND_LEAD)


def is_slack_user(who: str) -> bool:
    return principals.is_kind(who, "user")


def waits_on(step: StepState, who: str, *, shared: bool = False) -> bool:
    """The step still needs something from `who` (from anyone, for a `shared` channel card)."""
    if step.status != "waiting":
        return False
    return shared or (who in step.approvers and all(v.actor != who for v in step.votes))


class UserUnreachable(Exception):
    """Slack will not deliver a DM to `user` (`error` is Slack's reason)."""

    def __init__(self, user: str, error: str) -> None:
        super().__init__(f"Slack cannot reach {user} ({error})")
        self.user = user
        self.error = error


class SlackChannel:
    """A `CommandHandler` for request_approval, update_approval, request_input,
    send_notification, run_changed, ask_question, answer_delivered and (with a `finisher`)
    complete_slack_step."""

    def __init__(
        self,
        clients: SlackClients,
        engine: EngineApi,
        refs: MessageRefs,
        directory: SlackDirectory,
        hooks: WebHooks,
        public_url: str | None = None,
    ) -> None:
        self._clients = clients
        self._public_url = (public_url or "").rstrip("/")  # the web server, for links to runs
        self._engine = engine
        self._refs = refs
        self._directory = directory
        self._hooks = hooks
        self._dms: dict[tuple[str, str], str] = {}  # (tenant, user) -> DM channel (stable)
        self._coalescer = Coalescer(min_interval=REDRAW_INTERVAL)
        self.finisher: StepFinisher | None = None  # finishes Slack workflow steps
        self._drawn = LastDrawn()  # a redraw that changes nothing is not sent

    async def perform(self, command: Command) -> Outcome:
        if self._clients.closed:
            # Stopping: the engine may still hand over a command; it waits for the next start.
            return Unavailable("Slack is stopped", retry_after=STOPPED_RETRY)
        try:
            with waiting_at_most(command.key, COMMAND_WAIT, COMMAND_EARLY):
                return await self._perform(command)
        except Paced as e:
            # Its turn under Slack's limits is kept: the dispatcher brings it back then, without
            # holding its batch meanwhile. What it did already is not done again (a posted card
            # is found by its ref, a redraw of an unchanged card is skipped).
            back_at = self._engine.clock.now() + timedelta(seconds=come_back_in(e))
            return Unavailable(str(e), retry_at=back_at)
        except UserUnreachable as e:
            return await self._by_email(command, e)
        except SlackApiError as e:
            error = str(e.response.get("error", "unknown"))
            if error in TRANSIENT:
                return Unavailable(f"Slack: {error}", retry_after=5.0)
            return Failed(f"Slack refused {command.type}: {error}")
        except (aiohttp.ClientError, TimeoutError) as e:
            return Unavailable(f"Slack unreachable: {e!r}")
        except NotFound as e:  # e.g. the workspace uninstalled Countersign
            return Failed(e.message)

    async def _by_email(self, command: Command, e: UserUnreachable) -> Outcome:
        """Email the command to a person Slack cannot reach, when their address is known and
        the email channel is on; the outcome and the log say it went by email."""
        address = await self._directory.email_of(command.tenant_id, e.user)
        deliver = self._hooks.email
        if address is None or deliver is None:
            why = "no email address is known" if address is None else "email is off"
            log.warning("%s for %s; %s, so it is not delivered", e, command.key, why)
            return Failed(f"{e}; {why}, so {command.type} could not be delivered")
        outcome = await deliver(command, address)
        if isinstance(outcome, Failed):  # e.g. a command that has no email
            return Failed(f"{e}; and {outcome.error}")
        if isinstance(outcome, Succeeded):
            log.warning(
                "%s: %s %s was emailed to %s instead", e, command.type, command.key, address
            )
            what = WHAT.get(command.type, command.type)
            await self._note(command, f"{e}: {what} was emailed to {address} instead")
            return Succeeded(
                {
                    **outcome.result,
                    "delivered_by": "email",
                    "address": address,
                    "slack_error": e.error,
                }
            )
        return outcome

    async def _note(self, command: Command, text: str) -> None:
        """A line in the run's timeline, so the audit trail shows how a person was reached."""
        step_id = getattr(command, "step_id", None)
        try:
            await self._engine.comment(
                command.tenant_id, command.run_id, "system", text, step_id=step_id, channel="email"
            )
        except EngineError as exc:
            log.warning("could not note on run %s: %s", command.run_id, exc.message)

    async def _perform(self, command: Command) -> Outcome:
        if isinstance(command, RequestApproval | RequestInput):
            return await self._request(command)
        if isinstance(command, UpdateApproval):
            return await self._update_step(command)
        if isinstance(command, SendNotification):
            return await self._notify(command)
        if isinstance(command, RunChanged):
            return await self._run_changed(command)
        if isinstance(command, AskQuestion):
            return await self._ask(command)
        if isinstance(command, AnswerDelivered):
            return await self._answered(command)
        if isinstance(command, CompleteSlackStep):
            if self.finisher is None:
                return Unavailable("Slack workflow steps are not set up", retry_after=30.0)
            return await self.finisher.finish(command)
        raise TypeError(f"the Slack channel does not perform {command.type}")

    async def _load(self, tenant_id: str, run_id: str) -> tuple[RunState, WorkflowDefinition]:
        run = await self._engine.get_run(tenant_id, run_id)
        return run, await self._engine.run_definition(run)

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
            return input_card(run, definition, step_id, message, principal)
        return approval_card(run, definition, step_id, principal, message, self.run_url(run.run_id))

    def run_url(self, run_id: str) -> str | None:
        """The run's page on the web server, when its address is known."""
        return f"{self._public_url}/runs/{run_id}" if self._public_url else None

    async def _request(self, command: RequestApproval | RequestInput) -> Outcome:
        who = command.approver if isinstance(command, RequestApproval) else command.assignee
        run, definition = await self._load(command.tenant_id, command.run_id)
        step = definition.step(command.step_id)
        # A request addressed to a channel (the step's `channel`, or an escalation level that is
        # a channel) is one shared card there; its key is the channel itself.
        channel = None
        if not is_slack_user(who) and self._directory.is_channel(who):
            channel = await self._directory.channel_id(command.tenant_id, who)
        elif isinstance(step, ApprovalStep) and step.channel:
            channel = step.channel
        principal = channel or who
        state = run.steps[step.id]
        if command.kind == "reminder" and not waits_on(state, who, shared=bool(channel)):
            return Succeeded({"skipped": f"{who} has nothing left to do on this step"})
        text, blocks = self._card(run, definition, command.step_id, "" if channel else who)
        client = await self._clients.for_tenant(command.tenant_id)
        ref = await self._refs.get(command.tenant_id, command.run_id, command.step_id, principal)
        if ref is None:
            if channel:
                posted = await client.chat_postMessage(channel=channel, text=text, blocks=blocks)
            else:
                posted = await self._to_user(
                    client, command.tenant_id, who, text=text, blocks=blocks
                )
            ref = MessageRef(str(posted["channel"]), str(posted["ts"]))
            self._drawn.drawn(ref, looks(text, blocks))
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
            try:
                await self._update(client, ref, text, blocks)
            except SlackApiError as e:
                error = str(e.response.get("error", ""))
                if channel or error not in UNREACHABLE:
                    raise
                raise UserUnreachable(who, error) from e
        await self._record_shown(run, [self._shown(run, step.id, principal, text, blocks)])
        if command.kind == "escalated":
            # The earlier levels' cards were redrawn when the step timed out, maybe before the
            # new approvers were looked up: draw them again now they are known.
            await self.refresh_cards(command.tenant_id, command.run_id, command.step_id)
        note = nudge(state, command.kind, who, self._engine.clock.now())
        if note and waits_on(state, who, shared=bool(channel)):
            text = (f"<@{who}> " if channel and is_slack_user(who) else "") + note
            if channel:
                await client.chat_postMessage(channel=ref.channel, thread_ts=ref.ts, text=text)
            else:
                await self._to_user(client, command.tenant_id, who, thread_ts=ref.ts, text=text)
        return Succeeded({"channel": ref.channel, "ts": ref.ts})

    async def _ask(self, command: AskQuestion) -> Outcome:
        """The requester's DM message with the question and an Answer button (redrawn with the
        step's cards, so it shows the answer once given)."""
        run, definition = await self._load(command.tenant_id, command.run_id)
        key = QUESTION + command.question_id
        text, blocks = question_message(run, definition, command.step_id, command.question_id)
        client = await self._clients.for_tenant(command.tenant_id)
        ref = await self._refs.get(command.tenant_id, command.run_id, command.step_id, key)
        if ref is None:
            posted = await self._to_user(
                client, command.tenant_id, command.to, text=text, blocks=blocks
            )
            ref = MessageRef(str(posted["channel"]), str(posted["ts"]))
            await self._refs.put(command.tenant_id, command.run_id, command.step_id, key, ref)
        else:
            await self._update(client, ref, text, blocks)
        return Succeeded({"channel": ref.channel, "ts": ref.ts})

    async def _answered(self, command: AnswerDelivered) -> Outcome:
        """Tell the asker, under their card (the card itself shows the answer too)."""
        run, definition = await self._load(command.tenant_id, command.run_id)
        step = run.steps[command.step_id]
        question = next((q for q in step.questions if q.id == command.question_id), None)
        note = answer_note(question.text if question else "", command.text, command.by)
        step_def = definition.step(command.step_id)
        channel = step_def.channel if isinstance(step_def, ApprovalStep) else None
        who = channel or command.to
        client = await self._clients.for_tenant(command.tenant_id)
        ref = await self._refs.get(command.tenant_id, command.run_id, command.step_id, who)
        text = (f"<@{command.to}> " if channel else "") + note
        if ref is not None and channel:
            posted = await client.chat_postMessage(channel=ref.channel, thread_ts=ref.ts, text=text)
        else:
            thread = {"thread_ts": ref.ts} if ref else {}
            posted = await self._to_user(client, command.tenant_id, command.to, text=text, **thread)
        return Succeeded({"channel": str(posted["channel"]), "ts": str(posted["ts"])})

    async def _update_step(self, command: UpdateApproval) -> Outcome:
        await self.refresh_cards(command.tenant_id, command.run_id, command.step_id)
        return Succeeded()

    async def refresh_cards(
        self, tenant_id: str, run_id: str, step_id: str, *, stale: bool = False
    ) -> None:
        """Redraw every card of a step from the run's latest state (coalesced per step). A card
        already showing that state is left alone, unless someone acted on a `stale` one."""

        if stale:  # the next pass draws them all again
            for ref in (await self._refs.for_step(tenant_id, run_id, step_id)).values():
                self._drawn.forget(ref)

        async def redraw() -> None:
            run, definition = await self._load(tenant_id, run_id)
            await self._redraw(run, definition, step_id)

        await self._coalescer.run((tenant_id, run_id, step_id), redraw)

    async def _redraw(self, run: RunState, definition: WorkflowDefinition, step_id: str) -> None:
        """Redraw the step's cards that changed, and record what those show. Drawing is CPU only
        (200 cards of a quorum step take tens of ms): one card per pass of the event loop, so
        acks and other work are not held back while it draws."""
        refs = await self._refs.for_step(run.tenant_id, run.run_id, step_id)
        client = await self._clients.for_tenant(run.tenant_id)
        limit = asyncio.Semaphore(UPDATE_CONCURRENCY)

        cards: list[Shown] = []

        async def send(
            principal: str, ref: MessageRef, text: str, blocks: list[Block], digest: str
        ) -> None:
            async with limit:
                await self._update(client, ref, text, blocks, digest)
            if not principal.startswith(QUESTION):
                cards.append(self._shown(run, step_id, principal, text, blocks))

        sends = []
        for principal, ref in refs.items():
            await asyncio.sleep(0)
            if principal.startswith(QUESTION):
                question_id = principal.removeprefix(QUESTION)
                text, blocks = question_message(run, definition, step_id, question_id)
            else:
                shown = principal if is_slack_user(principal) else ""
                text, blocks = self._card(run, definition, step_id, shown)
            digest = looks(text, blocks)
            if not self._drawn.same(ref, digest):  # unchanged: nothing new shown
                sends.append(send(principal, ref, text, blocks, digest))
        await asyncio.gather(*sends)
        await self._record_shown(run, cards)

    @staticmethod
    def _shown(run: RunState, step_id: str, principal: str, text: str, blocks: Any) -> Shown:
        """A card as its reader saw it (a channel's card is `shared`: everyone there sees it)."""
        return Shown(
            step_id=step_id,
            recipient=principal,
            channel="slack",
            surface="slack card",
            text=visible_text(blocks),
            fields={"notification": text},
            shared=not is_slack_user(principal),
        )

    async def _record_shown(self, run: RunState, shown: list[Shown]) -> None:
        """Tell the engine what the cards showed, in one call (it records what changed)."""
        try:
            await self._engine.record_shown(run.tenant_id, run.run_id, shown, drawn_from=run)
        except EngineError as exc:  # e.g. the run is gone; an outage fails the command instead
            log.warning("could not record what the cards of run %s showed: %s", run.run_id, exc)

    async def _notify(self, command: SendNotification) -> Outcome:
        to = command.to
        if to == "requester":
            to = (await self._engine.get_run(command.tenant_id, command.run_id)).requester
        client = await self._clients.for_tenant(command.tenant_id)
        text = truncate(escape(command.text), MESSAGE_TEXT)
        if is_slack_user(to):
            posted = await self._to_user(client, command.tenant_id, to, text=text)
        else:
            posted = await client.chat_postMessage(channel=to, text=text)
        return Succeeded({"channel": str(posted["channel"]), "ts": str(posted["ts"])})

    async def _run_changed(self, command: RunChanged) -> Outcome:
        # Cards are not redrawn here: every step that closes, whatever closed it (a decision,
        # a form, a timeout, a cancel), comes with its own update_approval.
        tenant_id, run_id = command.tenant_id, command.run_id
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
            self._drawn.drawn(ref, looks(text, blocks))
            await self._refs.put(tenant_id, run_id, RUN_MESSAGE, run.requester, ref)
        else:
            await self._update(client, ref, text, blocks)

    async def _update(
        self,
        client: AsyncWebClient,
        ref: MessageRef,
        text: str,
        blocks: list[Block],
        digest: str | None = None,
    ) -> None:
        """chat.update, unless this process last drew the message just so (`digest`: its
        `looks`, when the caller has it already)."""
        digest = digest or looks(text, blocks)
        if self._drawn.same(ref, digest):
            return
        self._drawn.forget(ref)  # until Slack confirms the new content
        await client.chat_update(channel=ref.channel, ts=ref.ts, text=text, blocks=blocks)
        self._drawn.drawn(ref, digest)

    async def _to_user(
        self, client: AsyncWebClient, tenant_id: str, user: str, **message: Any
    ) -> Any:
        """chat.postMessage in `user`'s DM; `UserUnreachable` when Slack will not deliver it."""
        try:
            dm = await self._dm(client, tenant_id, user)
            return await client.chat_postMessage(channel=dm, **message)
        except SlackApiError as e:
            error = str(e.response.get("error", ""))
            if error in UNREACHABLE:
                self._dms.pop((tenant_id, user), None)
                raise UserUnreachable(user, error) from e
            raise

    async def _dm(self, client: AsyncWebClient, tenant_id: str, user: str) -> str:
        if (tenant_id, user) not in self._dms:
            opened: Any = await client.conversations_open(users=user)
            self._dms[(tenant_id, user)] = str(opened["channel"]["id"])
        return self._dms[(tenant_id, user)]
