"""The pending-task projection of a run, shared by every `RunStore` so all list the same rows."""

from __future__ import annotations

from engine.ports import PendingTask
from engine.state import RunState


def pending_rows(state: RunState) -> list[PendingTask]:
    """One row per person who still has to act on the run."""
    rows = []
    for step_id, principal in dict.fromkeys(state.waiting_on()):  # an approver listed twice
        step = state.steps[step_id]
        rows.append(
            PendingTask(
                tenant_id=state.tenant_id,
                run_id=state.run_id,
                step_id=step_id,
                principal=principal,
                kind=step.type,
                workflow=state.workflow,
                requester=state.requester,
                since=step.started_at or state.updated_at,
            )
        )
    return rows
