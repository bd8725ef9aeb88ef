"""Starting a step, by its kind: the one place that knows each kind's `start`. `steps.advance`
reaches it through the `Builder` (`decide` builds one with `start`), so `steps` and the step
kinds, which call back into `steps` when a step ends, do not import each other in a circle."""

from __future__ import annotations

from engine.decider import approval, automated, human
from engine.decider.context import Builder
from engine.definitions.models import (
    ApprovalStep,
    HttpStep,
    InputStep,
    NotifyStep,
    SignalStep,
    Step,
    WaitStep,
)


def start(b: Builder, step: Step) -> None:
    match step:
        case HttpStep() | NotifyStep():
            automated.start(b, step, attempt=1)
        case ApprovalStep():
            approval.start(b, step)
        case InputStep():
            human.start_input(b, step)
        case WaitStep():
            human.start_wait(b, step)
        case SignalStep():
            human.start_signal(b, step)
