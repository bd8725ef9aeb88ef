"""The action_id and callback_id names shared by the builders and the listeners."""

from __future__ import annotations

from dataclasses import dataclass

APPROVE = "countersign_approve"
REJECT = "countersign_reject"
OPEN_INPUT = "countersign_open_input"
OPEN_START = "countersign_open_start"
HOME_PAGE = "countersign_home_page"

START_VIEW = "countersign_start"
INPUT_VIEW = "countersign_input"
DECIDE_VIEW = "countersign_decide"
DEFINE_VIEW = "countersign_define"
DEFINE_BLOCK = "definition"
DEFINE_ACTION = "yaml"


@dataclass(frozen=True)
class StepRef:
    """A run's step, carried in a button value as "run_id|step_id"."""

    run_id: str
    step_id: str

    def value(self) -> str:
        return f"{self.run_id}|{self.step_id}"

    @classmethod
    def parse(cls, value: str) -> StepRef:
        run_id, sep, step_id = value.partition("|")
        if not (sep and run_id and step_id):
            raise ValueError(f"not a step reference: {value!r}")
        return cls(run_id, step_id)
