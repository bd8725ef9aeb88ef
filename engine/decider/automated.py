"""Automated steps (http, notify): one command per attempt, outcomes matched by command key,
retries with backoff armed as durable timers."""

from __future__ import annotations

from typing import Any

from engine import commands as cmd
from engine import events as ev
from engine import principal, templates
from engine.decider import keys, retry, steps
from engine.decider.context import Builder
from engine.definitions.models import HttpAction, HttpStep, NotifyStep, RetryPolicy
from engine.errors import TemplateError

_NOTIFY_RETRY = RetryPolicy()
_ACTION_FIELDS = tuple(HttpAction.model_fields)  # notify steps have no `retry:` of their own


def http_action(step: HttpStep) -> HttpAction:
    """The request part of an http step (templates unrendered: they are rendered at dispatch,
    where secrets are available)."""
    # The step's fields were validated with the definition: copy them without re-validating.
    return HttpAction.model_construct(**{name: getattr(step, name) for name in _ACTION_FIELDS})


def recipient(to: str, context: dict[str, Any]) -> str:
    """A notify step's `to` as a principal: the requester, a user id, a channel or email:addr."""
    if to == "requester":
        return str(context["requester"])
    value = templates.render(to, context).strip() if "{" in to else to.strip()
    if not value:
        raise ValueError(f"the recipient {to!r} rendered to nothing")
    # Anything else still goes out: the router hands a recipient it cannot reach to the log.
    return principal.canonical(value)


def start(b: Builder, step: HttpStep | NotifyStep, attempt: int) -> None:
    run = b.state
    key = keys.attempt_key(run.run_id, step.id, attempt)
    context = b.context()
    command: cmd.Command
    if isinstance(step, HttpStep):
        command = cmd.CallHttp(
            key=key,
            tenant_id=run.tenant_id,
            run_id=run.run_id,
            step_id=step.id,
            attempt=attempt,
            action=http_action(step),
            context=context,
        )
    else:
        try:
            to, text = recipient(step.to, context), templates.render(step.message, context)
        except (TemplateError, ValueError) as exc:
            steps.fail(b, step.id, str(exc))
            return
        command = cmd.SendNotification(
            key=key, tenant_id=run.tenant_id, run_id=run.run_id, step_id=step.id, to=to, text=text
        )
    b.emit(ev.StepStarted(at=b.now, step_id=step.id, attempt=attempt))
    b.command(command)


def succeeded(b: Builder, step_id: str, result: dict[str, Any]) -> None:
    output: dict[str, Any] = {}
    if b.step(step_id).type == "http":
        output = {"status": result.get("status"), "response": result.get("response")}
    steps.complete(b, step_id, "done", output)


def failed(b: Builder, step_id: str, error: str, reason: str) -> None:
    step = b.definition.step(step_id)
    policy = step.retry if isinstance(step, HttpStep) else _NOTIFY_RETRY
    run = b.state
    attempt = b.step(step_id).attempt
    retry_at = None
    if not run.cancel_requested:  # a cancelled run does not try again
        key = keys.attempt_key(run.run_id, step_id, attempt)
        retry_at = retry.next_attempt_at(policy, attempt, reason, key, b.now)
    b.emit(
        ev.AttemptFailed(at=b.now, step_id=step_id, attempt=attempt, error=error, retry_at=retry_at)
    )
    if retry_at is None:
        steps.fail(b, step_id, retry.gave_up(error, attempt))
        return
    timer_id = keys.retry_timer(run.run_id, step_id, attempt + 1)
    b.arm("retry", timer_id, step_id, retry_at, attempt + 1)


def retry_due(b: Builder, step_id: str) -> None:
    step = b.definition.step(step_id)
    assert isinstance(step, HttpStep | NotifyStep)
    start(b, step, b.step(step_id).attempt + 1)
