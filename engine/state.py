"""The state of one run, as `decider.evolve` folds it from the run's events.

It is also the run projection the store keeps (as JSON beside the run row), so loading a run is a
single read; replaying the events must give back exactly the same state.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.events import RunStatus

StepStatus = Literal[
    "pending",  # not reached yet
    "skipped",  # its `when:` was false
    "running",  # an automated attempt is in flight
    "retrying",  # an attempt failed; the next one waits for a timer
    "waiting",  # waiting on a person, a signal or a wait timer
    "completed",
    "rejected",
    "failed",
    "compensating",
    "compensated",
    "compensation_failed",
    "cancelled",  # was waiting or running when the run was cancelled
]


class Vote(BaseModel):
    actor: str
    decision: Literal["approve", "reject"]
    fields: dict[str, Any] = Field(default_factory=dict)
    channel: str
    at: datetime
    override: bool = False


class StepState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    type: str
    status: StepStatus = "pending"
    attempt: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    outcome: Literal["approved", "rejected", "done"] | None = None
    output: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    # approval / input steps
    approvers: list[str] = Field(default_factory=list)
    required: int = 0
    votes: list[Vote] = Field(default_factory=list)
    escalation_level: int = 0
    reminders: int = 0
    waiting_until: datetime | None = None  # wait steps
    signal: str | None = None  # signal steps: the name awaited
    # Set while approvers are looked up in the directory: the escalation level being resolved.
    resolving_level: int | None = None
    # When the next attempt (or compensation attempt) is due; None while one is in flight.
    retry_at: datetime | None = None
    compensation_attempt: int = 0


class RunState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: str
    tenant_id: str
    workflow: str
    version: int
    requester: str
    inputs: dict[str, Any]
    callback_url: str | None = None
    status: RunStatus = "running"
    reason: str = ""
    current_step: str | None = None
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    steps: dict[str, StepState] = Field(default_factory=dict)  # in definition order
    compensation_queue: list[str] = Field(default_factory=list)  # still to undo, next first
    compensation_cause: Literal["failed", "rejected", "cancelled"] | None = None
    cancel_requested: bool = False
    cancelled_by: str | None = None
    cancel_reason: str = ""
    seq: int = 0  # number of events folded in

    def waiting_on(self) -> list[tuple[str, str]]:
        """(step_id, principal) pairs of people who still have to act on this run."""
        out: list[tuple[str, str]] = []
        for step in self.steps.values():
            if step.status != "waiting" or step.type not in ("approval", "input"):
                continue
            voted = {v.actor for v in step.votes}
            out.extend((step.id, p) for p in step.approvers if p not in voted)
        return out
