"""The action_id and callback_id names shared by the builders and the listeners."""

from __future__ import annotations

from dataclasses import dataclass

APPROVE = "countersign_approve"
REJECT = "countersign_reject"
OPEN_INPUT = "countersign_open_input"
OPEN_START = "countersign_open_start"
HOME_PAGE = "countersign_home_page"
DELEGATE = "countersign_delegate"
ASK = "countersign_ask"
ANSWER = "countersign_answer"
REASSIGN = "countersign_reassign"
AGENT_APPROVE = "countersign_agent_approve"
AGENT_REJECT = "countersign_agent_reject"
AGENT_GRANT = "countersign_agent_grant"
REVOKE_GRANT = "countersign_revoke_grant"

START_VIEW = "countersign_start"
INPUT_VIEW = "countersign_input"
DECIDE_VIEW = "countersign_decide"
DEFINE_VIEW = "countersign_define"
DELEGATE_VIEW = "countersign_delegate"
ASK_VIEW = "countersign_ask"
ANSWER_VIEW = "countersign_answer"
REASSIGN_VIEW = "countersign_reassign"
AGENT_DECIDE_VIEW = "countersign_agent_decide"
DEFINE_BLOCK = "definition"
DEFINE_ACTION = "yaml"


@dataclass(frozen=True)
class StepRef:
    """A run's step, carried in a button value as "run_id|step_id". A card may add whether
    deciding the step takes a form ("|form" or "|direct"): it knows the step's definition, so a
    click on a form-less step is decided without reading the run first. Unknown (None) on
    buttons drawn without the definition, and on cards posted before it was added."""

    run_id: str
    step_id: str
    form: bool | None = None

    def value(self) -> str:
        if self.form is None:
            return f"{self.run_id}|{self.step_id}"
        return f"{self.run_id}|{self.step_id}|{FORM if self.form else DIRECT}"

    @classmethod
    def parse(cls, value: str) -> StepRef:
        parts = value.split("|")
        if len(parts) == 3 and parts[2] in (FORM, DIRECT):
            return cls(parts[0], parts[1], parts[2] == FORM)
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"not a step reference: {value!r}")
        return cls(parts[0], parts[1])


FORM, DIRECT = "form", "direct"


@dataclass(frozen=True)
class QuestionRef:
    """A question on a run's step, carried in the Answer button as "run_id|step_id|question_id"."""

    run_id: str
    step_id: str
    question_id: str

    def value(self) -> str:
        return f"{self.run_id}|{self.step_id}|{self.question_id}"

    @classmethod
    def parse(cls, value: str) -> QuestionRef:
        parts = value.split("|")
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"not a question reference: {value!r}")
        return cls(*parts)


CARD = "card|"  # the header block_id of a card names its step, so a thread reply can find it


def card_block_id(run_id: str, step_id: str) -> str:
    return CARD + StepRef(run_id, step_id).value()


def card_step(blocks: list[dict[str, object]]) -> StepRef | None:
    """The step a posted card is about (from its header's block_id), None for other messages."""
    for block in blocks:
        block_id = str(block.get("block_id") or "")
        if block_id.startswith(CARD):
            return StepRef.parse(block_id.removeprefix(CARD))
    return None
