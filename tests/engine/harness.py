"""A run driven through the pure decider in tests: triggers in, events folded, time by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from engine import commands as cmd
from engine import triggers as tr
from engine.decider import decide, fold, replay
from engine.decider.decision import Decision
from engine.decider.env import DEFAULT_ENV, DecideEnv
from engine.definitions.models import WorkflowDefinition
from engine.events import Event
from engine.state import RunState

T0 = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
REQUESTER = "UREQ"


def definition(*steps: dict[str, Any]) -> WorkflowDefinition:
    return WorkflowDefinition.model_validate({"name": "wf", "steps": list(steps)})


class Run:
    def __init__(
        self,
        *steps: dict[str, Any],
        inputs: dict[str, Any] | None = None,
        requester: str = REQUESTER,
        env: DecideEnv = DEFAULT_ENV,
        now: datetime = T0,
    ) -> None:
        self.definition = definition(*steps)
        self.env = env
        self.now = now
        self.state: RunState | None = None
        self.events: list[Event] = []
        self.last = Decision()
        self.all: list[Decision] = []
        self.do(tr.StartRun(run_id="r1", tenant_id="T1", requester=requester, inputs=inputs or {}))

    @property
    def run(self) -> RunState:
        assert self.state is not None
        return self.state

    def do(self, trigger: tr.Trigger) -> Decision:
        decision = decide(self.definition, self.state, trigger, self.now, self.env)
        if decision.events:
            self.state = fold(self.state, decision.events)
            self.events.extend(decision.events)
            assert replay(self.events) == self.state
        self.last = decision
        self.all.append(decision)
        return decision

    def later(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    # ------------------------------------------------------------ shortcuts

    def vote(self, step: str, actor: str, decision: str = "approve", **kw: Any) -> Decision:
        return self.do(
            tr.Decide(step_id=step, actor=actor, decision=decision, channel="slack", **kw)  # type: ignore[arg-type]
        )

    def succeed(self, key: str, **result: Any) -> Decision:
        return self.do(tr.CommandSucceeded(command_key=key, result=result))

    def fail(self, key: str, error: str = "boom", reason: str = "5xx") -> Decision:
        return self.do(tr.CommandFailed(command_key=key, error=error, reason=reason))

    def fire(self, timer: cmd.Timer) -> Decision:
        self.now = max(self.now, timer.due_at)
        return self.do(tr.TimerFired(timer=timer))

    def timer(self, kind: str, decision: Decision | None = None) -> cmd.Timer:
        found = [t for t in (decision or self.last).timers if t.kind == kind]
        assert len(found) == 1, f"expected one {kind} timer, got {found}"
        return found[0]

    def commands(self, kind: type[Any], decision: Decision | None = None) -> list[Any]:
        return [c for c in (decision or self.last).commands if isinstance(c, kind)]

    def types(self, decision: Decision | None = None) -> list[str]:
        return [e.type for e in (decision or self.last).events]

    def status(self, step: str) -> str:
        return self.run.steps[step].status
