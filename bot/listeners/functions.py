"""Workflow Builder steps (Slack's custom steps, `function_executed`): "Get approval" runs the
built-in approval workflow, "Run a Countersign workflow" one of the workspace's workflows.

Bolt acks the event; each listener reads the step's inputs (`bot.function_inputs`), keeps the
step (execution id and its token, `bot.function_steps`), then starts the run naming the
execution (`slack_step`), so the run's end finishes the step through the engine's outbox, after
a restart too. A step that cannot run ends at once with `fail` and a line the Workflow Builder
user can act on.

Interactions with messages posted in a step's context carry `function_data` and a fresh
function token, which Bolt attaches to the listener's client (`attaching_function_token`); the
middleware here keeps that newer token for the step's completion."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.fail.async_fail import AsyncFail

from bot.deps import Deps, tenant_of
from bot.function_inputs import (
    StepRefused,
    approval_ask,
    canonical,
    requester_of,
    workflow_inputs,
)
from bot.function_steps import GET_APPROVAL, RUN_WORKFLOW, FunctionSteps
from bot.listeners import bind
from engine import (
    APPROVAL_WORKFLOW,
    DefinitionError,
    EngineError,
    InvalidInput,
    NotFound,
    WorkflowDisabled,
    approval_definition,
    one_line,
)

log = logging.getLogger("countersign.slack")
REASON_MAX = 200


class BuiltInVersions:
    """Which version of the built-in approval workflow each request shape was applied as (a
    version never changes once written: this saves the apply round trip)."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], int] = {}

    async def version(self, deps: Deps, tenant_id: str, source: str) -> int:
        key = (tenant_id, hashlib.sha256(source.encode()).hexdigest())
        if key not in self._known:
            applied = await deps.engine.apply_definition(tenant_id, source, APPROVAL_WORKFLOW)
            self._known[key] = applied.version
        return self._known[key]


async def get_approval(
    deps: Deps,
    steps: FunctionSteps,
    versions: BuiltInVersions,
    event: dict[str, Any],
    context: AsyncBoltContext,
    fail: AsyncFail,
) -> None:
    """The step "Get approval": a run of the built-in approval workflow."""
    tenant = tenant_of(context)
    inputs: dict[str, Any] = dict(event.get("inputs") or {})

    async def start() -> None:
        ask = approval_ask(inputs)
        source = approval_definition(
            policy=ask.policy,
            timeout=ask.timeout,
            default_decision=ask.default_decision,
            fields=[],
            remind_every=ask.remind_every,
            escalate=bool(ask.escalate_to),
        )
        version = await versions.version(deps, tenant, source)
        shown = {k: v for k, v in inputs.items() if k != "details"}
        details = canonical(shown)
        values = {
            "title": ask.title,
            "summary": ask.details,
            "details": details,
            "digest": hashlib.sha256(details.encode()).hexdigest(),
            "approvers": ", ".join(ask.approvers),
            "editable": "",
            "escalate_to": ", ".join(ask.escalate_to),
        }
        await _start(deps, steps, event, tenant, APPROVAL_WORKFLOW, values, ask.requester, version)

    deps.background.spawn(_or_fail(start(), fail, event), "Slack step: get approval")


async def run_workflow(
    deps: Deps,
    steps: FunctionSteps,
    event: dict[str, Any],
    context: AsyncBoltContext,
    fail: AsyncFail,
) -> None:
    """The step "Run a Countersign workflow": a run of the workflow the step names."""
    tenant = tenant_of(context)
    inputs: dict[str, Any] = dict(event.get("inputs") or {})

    async def start() -> None:
        name = str(inputs.get("workflow") or "").strip()
        if not name:
            raise StepRefused("Name the Countersign workflow to run")
        try:
            if name == APPROVAL_WORKFLOW:  # the step Get approval runs it, with its inputs
                raise NotFound(name)
            stored = await deps.engine.get_definition(tenant, name)
        except NotFound:
            names = [d.name for d in await deps.engine.list_definitions(tenant)]
            names = [n for n in names if n != APPROVAL_WORKFLOW]
            raise StepRefused(
                f"Unknown workflow {name!r}; this workspace has: {', '.join(names) or 'none'}"
            ) from None
        values = workflow_inputs(stored.definition, inputs)
        requester = requester_of(inputs)
        await _start(deps, steps, event, tenant, name, values, requester, stored.version)

    deps.background.spawn(_or_fail(start(), fail, event), "Slack step: run workflow")


async def _start(
    deps: Deps,
    steps: FunctionSteps,
    event: dict[str, Any],
    tenant: str,
    workflow: str,
    values: dict[str, Any],
    requester: str,
    version: int,
) -> None:
    execution = str(event["function_execution_id"])
    callback_id = str(event["function"]["callback_id"])
    now = deps.engine.clock.now()
    await steps.put(tenant, execution, callback_id, str(event.get("bot_access_token") or ""), now)
    run = await deps.engine.start_run(
        tenant,
        workflow,
        values,
        requester,
        idempotency_key=f"slack-step:{execution}",  # Slack may deliver the event again
        version=version,
        slack_step=execution,
    )
    log.info("Slack: step %s runs as run %s of %s", callback_id, run.run_id, workflow)


async def _or_fail(work: Awaitable[None], fail: AsyncFail, event: dict[str, Any]) -> None:
    """Run `work`; a refusal ends the step with its one line (other errors are raised)."""
    try:
        await work
    except StepRefused as exc:
        reason = str(exc)
    except InvalidInput as exc:
        fields = "; ".join(f"{k}: {v}" for k, v in exc.errors.items())
        reason = f"The inputs do not fit: {fields or exc.message}"
    except WorkflowDisabled as exc:
        reason = exc.message
    except DefinitionError as exc:  # the built-in workflow refused this shape
        reason = f"These settings do not make an approval: {exc.message}"
    except EngineError as exc:
        reason = exc.message
    except Exception:
        # Not the user's to fix, but the step must not wait forever: say so, log the rest.
        log.exception(
            "Slack: a %s step could not start", event.get("function", {}).get("callback_id")
        )
        reason = "Countersign could not start this step; its operator can see why in its log"
    else:
        return
    callback = event.get("function", {}).get("callback_id")
    log.info("Slack: step %s refused: %s", callback, reason)
    await fail(error=one_line(reason, REASON_MAX))


async def function_token(
    steps: FunctionSteps,
    body: dict[str, Any],
    context: AsyncBoltContext,
    next: Callable[[], Awaitable[None]],
) -> None:
    """Middleware: an interaction in a step's context brings a newer function token; keep it
    for the step's completion (never logged)."""
    data = body.get("function_data")
    token = body.get("bot_access_token")
    if isinstance(data, dict) and data.get("execution_id") and token:
        tenant = context.team_id or context.enterprise_id
        if tenant:
            await steps.refresh_token(tenant, str(data["execution_id"]), str(token))
    await next()


def register(app: AsyncApp, deps: Deps) -> None:
    steps = deps.function_steps
    app.use(bind(function_token, steps))
    app.function(GET_APPROVAL)(bind(get_approval, deps, steps, BuiltInVersions()))
    app.function(RUN_WORKFLOW)(bind(run_workflow, deps, steps))
