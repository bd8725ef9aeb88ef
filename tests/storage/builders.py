"""Hand-built runs, events and commands for the store contract tests (no decider involved)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.commands import RequestApproval, RunChanged, Timer
from engine.decider.decision import Decision
from engine.events import ApprovalRequested, DecisionRecorded, RunStarted, StepCompleted
from engine.ports import RunChange
from engine.state import RunState, StepState, Vote

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def new_run(
    run_id: str = "r1",
    tenant_id: str = "T1",
    *,
    workflow: str = "expense",
    requester: str = "U_REQ",
    approvers: tuple[str, ...] = ("U_A", "U_B"),
    at: datetime = T0,
    idempotency_key: str | None = None,
) -> RunChange:
    """A run started and waiting on an approval step (two events), with one command and a timer."""
    state = RunState(
        run_id=run_id,
        tenant_id=tenant_id,
        workflow=workflow,
        version=1,
        requester=requester,
        inputs={"amount": 120},
        started_at=at,
        updated_at=at,
        current_step="manager",
        steps={
            "manager": StepState(
                id="manager",
                type="approval",
                status="waiting",
                started_at=at,
                approvers=list(approvers),
                required=1,
            ),
            "book": StepState(id="book", type="http"),
        },
        seq=2,
    )
    events = [
        RunStarted(
            at=at,
            run_id=run_id,
            tenant_id=tenant_id,
            workflow=workflow,
            version=1,
            requester=requester,
            inputs={"amount": 120},
        ),
        ApprovalRequested(at=at, step_id="manager", approvers=list(approvers), required=1),
    ]
    commands = [
        RequestApproval(
            key=f"{run_id}:manager:ask:{a}",
            tenant_id=tenant_id,
            run_id=run_id,
            step_id="manager",
            approver=a,
        )
        for a in approvers
    ]
    timer = Timer(
        id=f"{run_id}:manager:timeout",
        tenant_id=tenant_id,
        run_id=run_id,
        due_at=at + timedelta(hours=4),
        kind="timeout",
        step_id="manager",
    )
    return RunChange(
        state=state,
        expected_seq=0,
        decision=Decision(events=events, commands=commands, timers=[timer]),
        idempotency_key=idempotency_key,
    )


def approve(
    previous: RunState, actor: str = "U_A", *, at: datetime | None = None, **kw: object
) -> RunChange:
    """`actor` approves the waiting step: the step completes and the run moves on."""
    at = at or previous.updated_at + timedelta(minutes=5)
    state = previous.model_copy(deep=True)
    step = state.steps["manager"]
    step.votes.append(Vote(actor=actor, decision="approve", channel="slack", at=at))
    step.status, step.outcome, step.finished_at = "completed", "approved", at
    state.steps["book"].status = "running"
    state.steps["book"].attempt = 1
    state.steps["book"].started_at = at
    state.current_step, state.updated_at = "book", at
    state.seq = previous.seq + 2
    events = [
        DecisionRecorded(
            at=at, step_id="manager", actor=actor, decision="approve", channel="slack"
        ),
        StepCompleted(at=at, step_id="manager", outcome="approved"),
    ]
    command = RunChanged(
        key=f"{state.run_id}:changed:{state.seq}",
        tenant_id=state.tenant_id,
        run_id=state.run_id,
        status="running",
    )
    return RunChange(
        state=state,
        expected_seq=previous.seq,
        decision=Decision(
            events=events,
            commands=[command],
            cancel_timers=[f"{state.run_id}:manager:timeout"],
        ),
        **kw,  # type: ignore[arg-type]
    )
