"""Property test: random workflows driven by random triggers (decisions by random people,
outcomes for real and bogus keys, timers on time and stale, cancels, signals, delegations,
questions and answers, comments; someone out of office; working-hours timeouts). After every
accepted trigger the state must equal the replay of all events and stay legal; a run whose
outcomes all succeed always finishes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import event as note
from hypothesis import strategies as st

from engine import commands as cmd
from engine import events as ev
from engine import triggers as tr
from engine.away import Away
from engine.decider import decide, fold, keys, replay
from engine.decider.decision import Decision
from engine.decider.env import DecideEnv
from engine.definitions.models import WorkflowDefinition
from engine.errors import EngineError
from engine.state import RunState

T0 = datetime(2030, 1, 1, tzinfo=UTC)
PEOPLE = ["U1", "U2", "U3", "U4", "UREQ", "Uops"]
DONE = {"completed", "skipped", "rejected", "failed", "cancelled"}
CHOICES = (
    ["decide"] * 4
    + ["outcome"] * 4
    + ["timer"] * 2
    + ["input", "cancel", "signal", "resolved", "delegate", "comment"]
    + ["ask", "answer"] * 3
)
# U2 is away (U4 stands in) for the first day; U1 works in Los Angeles.
ENV = DecideEnv(
    zones={"U1": "America/Los_Angeles", "U2": "Europe/Berlin"},
    aways=(Away("T", "U2", "U4", T0 - timedelta(days=1), T0 + timedelta(days=1)),),
)
AFTER_DONE = {"completed", "compensating", "compensated", "compensation_failed"}

undo_retry = st.fixed_dictionaries({"max_attempts": st.integers(1, 2), "jitter": st.booleans()})
compensate = st.one_of(
    st.none(), st.fixed_dictionaries({"url": st.just("https://undo"), "retry": undo_retry})
)
when = st.sampled_from([None, None, "inputs.flag", "not inputs.flag"])


@st.composite
def steps(draw: st.DrawFn, index: int) -> dict[str, Any]:
    kind = draw(st.sampled_from(["http", "notify", "approval", "input", "wait", "signal"]))
    step: dict[str, Any] = {"id": f"s{index}", "type": kind, "when": draw(when)}
    if kind in ("http", "notify", "approval", "input", "signal"):
        step["compensate"] = draw(compensate)
    if kind == "http":
        step["url"] = "https://x"
        step["retry"] = {"max_attempts": draw(st.integers(1, 3))}
    elif kind == "notify":
        step["message"] = "hello {{ requester }}"
    elif kind == "approval":
        people = st.sampled_from(["U1", "U2", "U3", "UREQ", "SGRP"])
        step["approvers"] = draw(st.lists(people, min_size=1, max_size=3, unique=True))
        step["policy"] = draw(st.sampled_from(["any", "all", "majority", {"n": 1}, {"n": 2}]))
        step["allow_self_approval"] = draw(st.booleans())
        if draw(st.booleans()):
            step["timeout"] = draw(st.sampled_from(["1h", "3 working hours"]))
            step["on_timeout"] = draw(st.sampled_from(["reject", "approve", "fail", "escalate"]))
            step["escalate_to"] = [{"approvers": ["U4"], "timeout": "30m"}, "SBOSS"]
        step["pause_on_question"] = draw(st.booleans())
        if draw(st.booleans()):
            step["remind_every"] = "20m"
            step["max_reminders"] = draw(st.integers(0, 2))
    elif kind == "input":
        step["assignee"] = draw(st.sampled_from(["U1", "UREQ"]))
        step["fields"] = [{"id": "v", "required": True}]
        if draw(st.booleans()):
            step["timeout"] = "2h"
            step["remind_every"] = "30m"
    elif kind == "wait":
        step["duration"] = "10m"
    else:
        step["name"] = draw(st.sampled_from(["go", f"sig{index}"]))
        if draw(st.booleans()):
            step["timeout"] = "1d"
    return step


@st.composite
def workflows(draw: st.DrawFn) -> WorkflowDefinition:
    count = draw(st.integers(1, 4))
    return WorkflowDefinition.model_validate(
        {"name": "wf", "steps": [draw(steps(i)) for i in range(count)]}
    )


def _check_legal(state: RunState, event: ev.Event) -> None:
    """The event fits the state it is applied to (no step starts twice, no stale timer acts)."""
    step = state.steps.get(getattr(event, "step_id", ""))
    if step is None:
        assert getattr(event, "step_id", None) is None
        return
    status, where = step.status, f"{event.type} on {step.id} in {step.status}"
    match event:
        case ev.StepStarted():
            assert status in ("pending", "retrying") and event.attempt == step.attempt + 1, where
        case ev.ApprovalRequested():
            assert status == "pending" or step.resolving_level == 0, where
        case ev.StepSkipped() | ev.InputRequested() | ev.WaitStarted():
            assert status == "pending", where
        case ev.SignalAwaited():
            assert status == "pending", where
        case ev.ApproversResolving():
            assert status == "pending" or (status == "waiting" and event.escalation_level), where
        case ev.DecisionRecorded() | ev.InputSubmitted() | ev.SignalReceived() | ev.StepEscalated():
            assert status == "waiting", where
        case ev.StepDelegated() | ev.QuestionAsked() | ev.QuestionAnswered():
            assert status == "waiting" and event.step_id in state.steps, where
        case ev.ReminderSent():
            assert status == "waiting" and event.number == step.reminders + 1, where
        case ev.StepTimedOut():
            assert status == "waiting" and step.resolving_level is None, where
        case ev.StepCompleted():
            assert status in ("running", "waiting"), where
        case ev.StepFailed():
            assert status in ("pending", "running", "waiting", "retrying"), where
        case ev.AttemptFailed() if event.compensation:
            assert status == "compensating" and step.retry_at is None, where
        case ev.AttemptFailed():
            assert status == "running", where
        case ev.CompensationAttemptStarted():
            first = status == "completed" and event.attempt == 1
            again = status == "compensating" and step.retry_at is not None
            assert first or (again and event.attempt == step.compensation_attempt + 1), where
        case ev.StepCompensated() | ev.StepCompensationFailed():
            assert status == "compensating", where


class Driver:
    """Applies triggers like the runtime would, and checks the invariants after each one."""

    def __init__(self, definition: WorkflowDefinition, flag: bool) -> None:
        self.definition = definition
        self.now = T0
        self.state: RunState | None = None
        self.events: list[ev.Event] = []
        self.timers: dict[str, cmd.Timer] = {}  # armed now
        self.armed_ever: dict[str, cmd.Timer] = {}  # to fire stale ones too
        self.issued: list[str] = []
        self.keys: set[str] = set()
        start = tr.StartRun(run_id="r", tenant_id="T", requester="UREQ", inputs={"flag": flag})
        self.apply(start)

    @property
    def run(self) -> RunState:
        assert self.state is not None
        return self.state

    def apply(self, trigger: tr.Trigger) -> Decision | None:
        before = self.state
        snapshot = before.model_dump() if before is not None else None
        try:
            decision = decide(self.definition, before, trigger, self.now, ENV)
        except EngineError:
            assert not isinstance(trigger, tr.CommandSucceeded | tr.CommandFailed | tr.TimerFired)
            return None
        if before is not None and before.status in ev.FINAL_STATUSES:
            # Only comments: the timeline stays open for notes after the end.
            assert all(isinstance(e, ev.CommentAdded) for e in decision.events), "run changed"
        for event in decision.events:
            # Only an approver votes, except an override and the system's default on timeout.
            system = isinstance(event, ev.DecisionRecorded) and event.channel == "system"
            if isinstance(event, ev.DecisionRecorded) and not event.override and not system:
                assert before is not None
                assert event.actor in before.steps[event.step_id].approvers
        assert (before.model_dump() if before is not None else None) == snapshot, "state changed"
        current = before
        for event in decision.events:
            if current is not None:
                _check_legal(current, event)
            current = fold(current, [event])
        if decision.events:
            self.state = fold(before, decision.events)
            self.events.extend(decision.events)
        self._check(before, decision)
        return decision

    def _check(self, before: RunState | None, decision: Decision) -> None:
        state = self.run
        assert replay(self.events) == state
        # What the store keeps: events and the projection as JSON, read back the same.
        stored = [
            ev.EVENT_ADAPTER.validate_json(ev.EVENT_ADAPTER.dump_json(e)) for e in decision.events
        ]
        assert stored == decision.events
        assert RunState.model_validate_json(state.model_dump_json()) == state
        assert state.seq == len(self.events)
        if before is not None:
            for sid, old in before.steps.items():
                new = state.steps[sid].status
                if old.status in DONE:
                    assert new == old.status or (old.status == "completed" and new in AFTER_DONE)
        for command in decision.commands:
            assert command.key not in self.keys, f"command key reused: {command.key}"
            self.keys.add(command.key)
            if isinstance(command, cmd.CallHttp | cmd.SendNotification | cmd.ResolveApprovers):
                self.issued.append(command.key)
        for timer_id in decision.cancel_timers:
            self.timers.pop(timer_id, None)
        for timer in decision.timers:
            assert timer.due_at >= self.now
            self.timers[timer.id] = timer
            self.armed_ever[timer.id] = timer
        for step in state.steps.values():
            if step.status != "waiting":  # nothing is due for a step that stopped waiting
                assert not step.reminders_due and step.times_out_at is None and not step.paused
            if step.paused:  # a question holds the step: none of its timers is armed anew
                assert not any(
                    t.step_id == step.id and t.kind in ("timeout", "reminder")
                    for t in decision.timers
                )
        if state.status in ev.FINAL_STATUSES:
            assert state.finished_at is not None and state.current_step is None
            assert state.waiting_on() == [] and not state.compensation_queue
            busy = {"running", "retrying", "waiting", "compensating"}
            assert not any(s.status in busy for s in state.steps.values())

    def fire(self, timer: cmd.Timer) -> None:
        self.now = max(self.now, timer.due_at)
        self.timers.pop(timer.id, None)
        self.apply(tr.TimerFired(timer=timer))

    def random_trigger(self, data: st.DataObject) -> None:
        step_ids = [s.id for s in self.definition.steps] + ["nope"]
        choice = data.draw(st.sampled_from(CHOICES))
        if choice == "decide":
            self.apply(
                tr.Decide(
                    step_id=data.draw(st.sampled_from(step_ids)),
                    actor=data.draw(st.sampled_from(PEOPLE)),
                    decision=data.draw(st.sampled_from(["approve", "reject"])),
                    channel="slack",
                    override=data.draw(st.sampled_from([False, False, False, True])),
                )
            )
        elif choice == "input":
            self.apply(
                tr.SubmitInput(
                    step_id=data.draw(st.sampled_from(step_ids)),
                    actor=data.draw(st.sampled_from(PEOPLE)),
                    values=data.draw(st.sampled_from([{"v": "x"}, {}, {"w": 1}])),
                    channel="web",
                )
            )
        elif choice == "outcome":
            key = data.draw(st.sampled_from([*self.issued, "r:bogus:1", "r:s0:9"]))
            if data.draw(st.booleans()):
                self.apply(tr.CommandSucceeded(command_key=key, result={"status": 200}))
            else:
                reason = data.draw(st.sampled_from(["5xx", "timeout", "permanent", "404"]))
                self.apply(tr.CommandFailed(command_key=key, error="boom", reason=reason))
        elif choice == "timer" and self.armed_ever:
            timers = sorted(self.armed_ever.values(), key=lambda t: t.id)
            self.fire(data.draw(st.sampled_from(timers)))
        elif choice == "cancel" and data.draw(st.integers(0, 3)) == 0:
            self.apply(tr.Cancel(actor=data.draw(st.sampled_from(PEOPLE))))
        elif choice == "signal":
            name = data.draw(st.sampled_from(["go", "sig0", "sig1", "sig2", "other"]))
            self.apply(tr.Signal(name=name, payload={"n": 1}))
        elif choice in ("delegate", "ask", "answer", "comment"):
            self.more_triggers(choice, data)
        elif choice == "resolved":
            step_id = data.draw(st.sampled_from(step_ids))
            level = data.draw(st.integers(0, 2))
            key = keys.resolve_key("r", step_id, level)
            approvers = data.draw(st.sampled_from([["U1", "U2"], ["U3"], []]))
            error = data.draw(st.sampled_from([None, None, "no such group"]))
            self.apply(
                tr.ApproversResolved(
                    command_key=key, step_id=step_id, approvers=approvers, error=error
                )
            )

    def _human_step(self, data: st.DataObject) -> str:
        waiting = [s.id for s in self.run.steps.values() if s.type in ("approval", "input")]
        return data.draw(st.sampled_from([*waiting, "nope"]))

    def more_triggers(self, choice: str, data: st.DataObject) -> None:
        if choice == "delegate":
            self.apply(
                tr.Delegate(
                    step_id=self._human_step(data),
                    actor=data.draw(st.sampled_from(PEOPLE)),
                    to=data.draw(st.sampled_from(["U1", "U3", "U4", "UREQ", "email:x@y.io"])),
                    from_=data.draw(st.sampled_from([None, "U1", "U2"])),
                    reassign=data.draw(st.booleans()),
                    admin=data.draw(st.booleans()),
                )
            )
        elif choice == "ask":
            step_id = self._human_step(data)
            asked = self.run.steps[step_id].approvers if step_id in self.run.steps else []
            actor = data.draw(st.sampled_from([*asked, *PEOPLE]))
            self.apply(tr.Ask(step_id=step_id, actor=actor, text="why?"))
        elif choice == "answer":
            qid = data.draw(st.sampled_from(["q1", "q2"]))
            actor = data.draw(st.sampled_from(["UREQ", "UREQ", "U1"]))
            step = self._human_step(data)
            self.apply(tr.Answer(step_id=step, question_id=qid, actor=actor, text="because"))
        elif choice == "comment":
            on = data.draw(st.sampled_from([None, *self.run.steps]))
            self.apply(tr.Comment(actor="U3", text="fyi", step_id=on))

    def finish(self) -> None:
        """Let every outcome succeed and every person approve: the run must end."""
        for _ in range(200):
            run = self.run
            if run.status in ev.FINAL_STATUSES:
                return
            self.now += timedelta(minutes=1)
            self._progress(run)
        raise AssertionError(f"the run never finished: {self.run}")

    def _progress(self, run: RunState) -> None:
        for step in run.steps.values():
            sid = step.id
            if step.status == "running":
                key = keys.attempt_key("r", sid, step.attempt)
                self.apply(tr.CommandSucceeded(command_key=key, result={"status": 200}))
            elif step.status == "compensating" and step.retry_at is None:
                key = keys.compensation_key("r", sid, step.compensation_attempt)
                self.apply(tr.CommandSucceeded(command_key=key))
            elif step.status == "waiting" and step.resolving_level is not None:
                key = keys.resolve_key("r", sid, step.resolving_level)
                self.apply(tr.ApproversResolved(command_key=key, step_id=sid, approvers=["U1"]))
            elif step.status == "waiting" and step.type == "approval":
                self.apply(
                    tr.Decide(
                        step_id=sid,
                        actor="Uops",
                        decision="approve",
                        channel="cli",
                        override=True,
                        admin=True,
                    )
                )
            elif step.status == "waiting" and step.type == "input":
                values = {"v": "x"}
                self.apply(
                    tr.SubmitInput(
                        step_id=sid,
                        actor="Uops",
                        values=values,
                        channel="cli",
                        override=True,
                        admin=True,
                    )
                )
            elif step.status == "waiting" and step.type == "signal":
                self.apply(tr.Signal(name=step.signal or sid))
            else:
                continue
            return
        due = [t for t in self.timers.values() if t.kind in ("wait", "retry", "compensation_retry")]
        assert due, f"nothing to do but the run is {run.status}: {run.steps}"
        self.fire(min(due, key=lambda t: t.due_at))


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(workflows(), st.booleans(), st.data())
def test_random_runs_replay_exactly_stay_legal_and_finish(
    definition: WorkflowDefinition, flag: bool, data: st.DataObject
) -> None:
    driver = Driver(definition, flag)
    for _ in range(data.draw(st.integers(0, 25))):
        driver.random_trigger(data)
    note(f"after random triggers: {driver.run.status}")
    driver.finish()
    note(f"finished: {driver.run.status}")
    assert driver.run.seq == len(driver.events)
