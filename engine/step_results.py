"""What a run hands back to the Slack Workflow Builder step that started it, once it ends: the
step's outputs, or the one-line reason it failed (shown in Workflow Builder's activity).

Two steps start runs: "Get approval" runs the built-in approval workflow (`engine.approvals`),
"Run a Countersign workflow" runs a workspace's workflow, whose `outputs:` say what it hands
back. How the values are typed for Slack is the Slack adapter's business."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.approvals import APPROVAL_WORKFLOW, outcome_of
from engine.decider.context import template_context
from engine.definitions.models import WorkflowDefinition
from engine.display import one_line
from engine.errors import EngineError
from engine.state import RunState
from engine.templates import render

REASON_MAX = 200  # characters: Workflow Builder shows the reason on one line


@dataclass(frozen=True)
class StepResult:
    succeeded: bool
    outcome: str  # approved | rejected | expired (an approval), completed | rejected (a run)
    outputs: dict[str, Any] = field(default_factory=dict)
    decided_by: list[str] = field(default_factory=list)
    decided_at: datetime | None = None
    comment: str = ""
    error: str = ""


def declared_outputs(definition: WorkflowDefinition, run: RunState) -> dict[str, str]:
    """The definition's `outputs:` rendered over the ended run; an output that reads a step the
    run never reached (or cannot be rendered) is empty."""
    context = template_context(run)
    values: dict[str, str] = {}
    for output in definition.outputs:
        try:
            values[output.id] = render(output.value, context)
        except EngineError:
            values[output.id] = ""
    return values


def step_result(definition: WorkflowDefinition, run: RunState) -> StepResult:
    """The result of an ended run for the step waiting on it."""
    if run.workflow == APPROVAL_WORKFLOW:
        return _approval(run)
    if run.status in ("completed", "rejected"):
        return StepResult(True, run.status, declared_outputs(definition, run))
    why = run.reason or run.cancel_reason or run.status
    name = definition.title or definition.name
    return StepResult(False, run.status, error=one_line(f"{name} {run.status}: {why}", REASON_MAX))


def _approval(run: RunState) -> StepResult:
    outcome = outcome_of(run)
    if outcome.status in ("pending", "cancelled"):
        why = outcome.reason or run.status
        return StepResult(
            False, run.status, error=one_line(f"The approval ended undecided: {why}", REASON_MAX)
        )
    return StepResult(
        True,
        outcome.status,
        decided_by=outcome.decided_by,
        decided_at=outcome.decided_at,
        comment=str(outcome.comment or ""),
    )
