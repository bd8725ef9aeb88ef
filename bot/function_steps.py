"""Slack Workflow Builder steps (Slack calls them custom steps, or functions) run by Countersign:
where each waiting step is kept, and how it is finished when its run ends.

Slack starts a step with a `function_executed` event carrying the execution id and a bot token
scoped to the execution (xwfp-…). Both are kept (`FunctionSteps`; durable and sealed in
production: storage.slack_functions) until the run ends; then the engine's outbox sends
`complete_slack_step`, which `finish` performs: `functions.completeSuccess` with the step's
outputs, or `functions.completeError` with a one-line reason. At least once: a step already
finished is not finished again, and a restart finds the step where it was kept.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clients import SlackClients
from engine import (
    CompleteSlackStep,
    EngineApi,
    Failed,
    Outcome,
    SecretUnreadable,
    StepResult,
    Succeeded,
    step_result,
)

log = logging.getLogger("countersign.slack")

GET_APPROVAL = "get_approval"  # the callback ids of the app's functions (manifests/slack-app.yaml)
RUN_WORKFLOW = "run_workflow"
# Slack errors that mean the function token is no longer good: the workspace's bot token
# finishes the step instead.
TOKEN_GONE = {"invalid_auth", "token_expired", "token_revoked", "not_authed"}


class FunctionStep(Protocol):
    @property
    def execution_id(self) -> str: ...
    @property
    def callback_id(self) -> str: ...
    @property
    def token(self) -> str: ...
    @property
    def completed(self) -> bool: ...


class FunctionSteps(Protocol):
    """The steps Slack started, by tenant and execution id (the run names its step's)."""

    async def put(
        self, tenant_id: str, execution_id: str, callback_id: str, token: str, now: datetime
    ) -> None: ...
    async def refresh_token(self, tenant_id: str, execution_id: str, token: str) -> None: ...
    async def completed(self, tenant_id: str, execution_id: str, now: datetime) -> None: ...
    async def get(self, tenant_id: str, execution_id: str) -> FunctionStep | None: ...


@dataclass
class _Kept:
    execution_id: str
    callback_id: str
    token: str
    completed: bool = False


class MemoryFunctionSteps:
    """In memory (tests, or a process without a database): lost with the process."""

    def __init__(self) -> None:
        self._steps: dict[tuple[str, str], _Kept] = {}

    async def put(
        self, tenant_id: str, execution_id: str, callback_id: str, token: str, now: datetime
    ) -> None:
        kept = self._steps.get((tenant_id, execution_id))
        if kept is None:
            self._steps[(tenant_id, execution_id)] = _Kept(execution_id, callback_id, token)
        else:
            kept.token = token

    async def refresh_token(self, tenant_id: str, execution_id: str, token: str) -> None:
        if (kept := self._steps.get((tenant_id, execution_id))) is not None:
            kept.token = token

    async def completed(self, tenant_id: str, execution_id: str, now: datetime) -> None:
        self._steps[(tenant_id, execution_id)].completed = True

    async def get(self, tenant_id: str, execution_id: str) -> FunctionStep | None:
        return self._steps.get((tenant_id, execution_id))


def slack_outputs(callback_id: str, result: StepResult) -> dict[str, Any]:
    """The step's outputs in the types the manifest declares for them."""
    if callback_id == GET_APPROVAL:
        outputs: dict[str, Any] = {
            "decision": result.outcome,
            "decided_by": result.decided_by,
            "comment": result.comment,
        }
        if result.decided_at is not None:  # slack#/types/timestamp: seconds since the epoch
            outputs["decided_at"] = int(result.decided_at.timestamp())
        return outputs
    return {
        "outcome": result.outcome,
        "outputs": json.dumps(result.outputs, ensure_ascii=False, sort_keys=True),
    }


class StepFinisher:
    """Performs `complete_slack_step` for the Slack channel (which words Slack's errors as
    the engine's outcomes: a rate limit is tried again later)."""

    def __init__(self, engine: EngineApi, steps: FunctionSteps, clients: SlackClients) -> None:
        self._engine = engine
        self._steps = steps
        self._clients = clients

    async def finish(self, command: CompleteSlackStep) -> Outcome:
        run = await self._engine.get_run(command.tenant_id, command.run_id)
        try:
            step = await self._steps.get(command.tenant_id, run.slack_step or "")
        except SecretUnreadable as exc:  # no retry will help: the operator sees it as dead
            return Failed(exc.message)
        if step is None:  # kept before the run started: only a lost table gets here
            return Failed("this run's Slack step is not known (its execution was not kept)")
        if step.completed:
            return Succeeded({"skipped": "the Slack step was already finished"})
        result = step_result(await self._engine.run_definition(run), run)
        try:
            await _complete(self._clients.with_token(step.token), step, result)
        except SlackApiError as e:
            if str(e.response.get("error")) not in TOKEN_GONE:
                raise
            # The step's own token is no longer good: the workspace's bot token finishes it.
            log.info("Slack: the step of run %s finished with the bot token", run.run_id)
            await _complete(await self._clients.for_tenant(command.tenant_id), step, result)
        await self._steps.completed(command.tenant_id, step.execution_id, self._engine.clock.now())
        if result.succeeded:
            return Succeeded({"completed": result.outcome})
        return Succeeded({"failed": result.error})


async def _complete(client: AsyncWebClient, step: FunctionStep, result: StepResult) -> None:
    if result.succeeded:
        await client.functions_completeSuccess(
            function_execution_id=step.execution_id,
            outputs=slack_outputs(step.callback_id, result),
        )
    else:
        await client.functions_completeError(
            function_execution_id=step.execution_id, error=result.error
        )
