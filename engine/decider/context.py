"""The working state of one `decide` call (events so far, commands, timers) and the template
context the run's templates see."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from engine import commands as cmd
from engine import events as ev
from engine import principal as principal_forms
from engine.decider import keys
from engine.decider.decision import Decision
from engine.decider.env import DEFAULT_ENV, DecideEnv, MissingTimeZones
from engine.decider.evolve import apply, copy_state
from engine.definitions.models import Step, WorkflowDefinition
from engine.state import RunState, StepState

# How a `Builder` starts a step (`engine.decider.starts.start`).
Starter = Callable[["Builder", Step], None]
TimerKind = Literal["retry", "wait", "reminder", "timeout", "compensation_retry"]


def template_context(state: RunState) -> dict[str, Any]:
    """What `{{ }}` sees: inputs, the outputs of finished steps (skipped ones as {}), the run."""
    outputs: dict[str, Any] = {}
    for step in state.steps.values():
        if step.outcome is not None:
            outputs[step.id] = step.output
        elif step.status == "skipped":
            outputs[step.id] = {}
    context = start_context(
        state.run_id, state.workflow, state.version, state.requester, state.inputs
    )
    context["steps"] = outputs
    return context


def start_context(
    run_id: str, workflow: str, version: int, requester: str, inputs: dict[str, Any]
) -> dict[str, Any]:
    """What `{{ }}` sees when the run starts, before any step has an output."""
    return {
        "inputs": inputs,
        "steps": {},
        "run": {"id": run_id, "workflow": workflow, "version": version, "requester": requester},
        "requester": requester,
    }


class Builder:
    """Collects what one trigger causes. Every event is folded into `state` at once, so the
    rest of the decision sees its effect (e.g. the next step's context has the last output)."""

    def __init__(
        self,
        definition: WorkflowDefinition,
        state: RunState | None,
        now: datetime,
        env: DecideEnv = DEFAULT_ENV,
        starter: Starter | None = None,
    ):
        self.definition = definition
        self._starter = starter
        self.now = now
        self.env = env
        self.missing_zones: set[str] = set()
        self._state = copy_state(state) if state is not None else None
        self._before = (state.status, state.current_step) if state is not None else None
        self.decision = Decision()

    @property
    def state(self) -> RunState:
        if self._state is None:
            raise RuntimeError("the run has not started")
        return self._state

    def step(self, step_id: str) -> StepState:
        return self.state.steps[step_id]

    def start_step(self, step: Step) -> None:
        """Start `step` by its kind (`engine.decider.starts.start`, given by `decide`)."""
        if self._starter is None:
            raise RuntimeError("this Builder was made without a way to start steps")
        self._starter(self, step)

    def context(self) -> dict[str, Any]:
        return template_context(self.state)

    @property
    def default_zone(self) -> str:
        return self.env.hours.default_zone

    def zone(self, principal: str) -> str:
        """The zone of a principal as the environment knows it; the default zone for emails and
        channels, and (noted as missing) for a Slack user the environment does not know."""
        if not principal_forms.is_kind(principal, "user"):
            return self.default_zone
        found = self.env.zones.get(principal)
        if found is None:
            self.missing_zones.add(principal)
            return self.default_zone
        return found

    def emit(self, event: ev.Event) -> None:
        self.decision.events.append(event)
        self._state = apply(self._state, event)

    def command(self, command: cmd.Command) -> None:
        self.decision.commands.append(command)

    def arm(self, kind: TimerKind, timer_id: str, step_id: str, due_at: datetime, n: int) -> None:
        if timer_id in self.decision.cancel_timers:
            self.decision.cancel_timers.remove(timer_id)
        self.decision.timers.append(
            cmd.Timer(
                id=timer_id,
                tenant_id=self.state.tenant_id,
                run_id=self.state.run_id,
                due_at=due_at,
                kind=kind,
                step_id=step_id,
                attempt=n,
            )
        )

    def disarm(self, *timer_ids: str) -> None:
        for timer_id in timer_ids:
            if timer_id not in self.decision.cancel_timers:
                self.decision.cancel_timers.append(timer_id)
        armed = set(timer_ids)
        self.decision.timers = [t for t in self.decision.timers if t.id not in armed]

    def disarm_step(self, step: StepState) -> None:
        """Cancel every timer this step may have armed in its current state."""
        run = self.state.run_id
        ids: list[str] = []
        if step.status == "waiting" and step.type == "wait":
            ids.append(keys.wait_timer(run, step.id))
        elif step.status == "waiting":
            level = step.escalation_level
            ids.append(keys.timeout_timer(run, step.id, level))
            if step.type in ("approval", "input"):
                ids.append(keys.reminder_timer(run, step.id, level, step.reminders + 1))
        elif step.status == "retrying":
            ids.append(keys.retry_timer(run, step.id, step.attempt + 1))
        self.disarm(*ids)

    def request(
        self,
        step_id: str,
        to: str,
        kind: Literal["request", "reminder", "escalated", "delegated"],
        key: str,
    ) -> None:
        """Send `to` the step's card: an input form for an input step, else an approval."""
        run = self.state
        if self.step(step_id).type == "input":
            assert kind != "escalated"  # input steps do not escalate
            self.command(
                cmd.RequestInput(
                    key=key,
                    tenant_id=run.tenant_id,
                    run_id=run.run_id,
                    step_id=step_id,
                    assignee=to,
                    kind=kind,
                )
            )
        else:
            self.command(
                cmd.RequestApproval(
                    key=key,
                    tenant_id=run.tenant_id,
                    run_id=run.run_id,
                    step_id=step_id,
                    approver=to,
                    kind=kind,
                )
            )

    def update_approval(self, step_id: str) -> None:
        run = self.state
        key = keys.update_key(run.run_id, step_id, run.seq)
        self.command(
            cmd.UpdateApproval(key=key, tenant_id=run.tenant_id, run_id=run.run_id, step_id=step_id)
        )

    def finish(self) -> Decision:
        """The decision, plus a RunChanged when the run's status or current step changed."""
        if self.env.strict_zones and self.missing_zones:
            raise MissingTimeZones(self.missing_zones)
        if self._state is not None and self.decision.events:
            run = self._state
            if (run.status, run.current_step) != self._before:
                self.command(
                    cmd.RunChanged(
                        key=keys.run_changed_key(run.run_id, run.seq),
                        tenant_id=run.tenant_id,
                        run_id=run.run_id,
                        status=run.status,
                        final=run.status in ev.FINAL_STATUSES,
                    )
                )
                if run.slack_step and run.status in ev.FINAL_STATUSES:
                    self.command(
                        cmd.CompleteSlackStep(
                            key=keys.slack_step_key(run.run_id),
                            tenant_id=run.tenant_id,
                            run_id=run.run_id,
                            status=run.status,
                        )
                    )
        if self.decision.events:
            self.decision.state = self._state
        return self.decision
