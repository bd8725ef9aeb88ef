"""Modals: start a workflow, fill in an input step, decide with fields, define a workflow, and
hand a request on or ask about it (delegate, ask the requester, answer)."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, InputBlock, PlainTextInputElement, UserSelectElement
from slack_sdk.models.views import View

from bot.blocks import ids
from bot.blocks.forms import ACTION, input_block
from bot.blocks.kit import (
    MODAL_TITLE,
    VIEW_BLOCKS,
    escape,
    fit,
    mention,
    metadata,
    section,
    truncate,
)
from engine import AGENT_FIELDS, ApprovalStep, InputStep, WorkflowDefinition, principal


def _modal(
    callback_id: str, title: str, submit: str, blocks: list[Block], meta: dict[str, object]
) -> View:
    return View(
        type="modal",
        callback_id=callback_id,
        title=truncate(title, MODAL_TITLE),
        submit=truncate(submit, MODAL_TITLE),
        close="Cancel",
        blocks=fit(blocks, VIEW_BLOCKS),
        private_metadata=metadata(meta),
    )


def start_modal(definition: WorkflowDefinition, version: int) -> View:
    """The start form of a workflow, built from its `inputs`."""
    title = definition.title or definition.name
    blocks: list[Block] = []
    if definition.description:
        blocks.append(section(escape(definition.description)))
    blocks.extend(input_block(f) for f in definition.inputs)
    if not definition.inputs:
        blocks.append(section(f"*{escape(title)}* needs no inputs. Start it now?"))
    return _modal(
        ids.START_VIEW,
        f"Start {title}",
        "Start",
        blocks,
        {"workflow": definition.name, "version": version},
    )


def input_modal(
    step: InputStep, run_id: str, message: str | None, title: str | None = None
) -> View:
    """The form of an input step, for its assignee. `message` and `title` are the step's,
    rendered (engine.display.step_title)."""
    blocks: list[Block] = []
    if message:
        blocks.append(section(escape(message)))
    blocks.extend(input_block(f) for f in step.fields)
    return _modal(
        ids.INPUT_VIEW,
        title or step.title or step.id,
        "Submit",
        blocks,
        {"run_id": run_id, "step_id": step.id},
    )


def decision_modal(
    step: ApprovalStep, run_id: str, decision: str, title: str | None = None
) -> View:
    """The approver's form for a step with `fields`; a field with `required_on` is required only
    for that decision (e.g. a reason to reject)."""
    blocks: list[Block] = [
        input_block(f, required=f.required or f.required_on == decision)
        for f in step.fields
        if f.id not in AGENT_FIELDS  # an agent's edits and grant: the agent modal's own
    ]
    verb = "Approve" if decision == "approve" else "Reject"
    return _modal(
        ids.DECIDE_VIEW,
        f"{verb}: {title or step.title or step.id}",
        verb,
        blocks,
        {"run_id": run_id, "step_id": step.id, "decision": decision},
    )


def define_modal(text: str = "") -> View:
    """Paste a workflow definition (YAML or JSON); errors come back on the text field."""
    box = InputBlock(
        block_id=ids.DEFINE_BLOCK,
        label="Workflow definition (YAML or JSON)",
        hint="Applying a changed definition creates a new version; runs keep theirs.",
        element=PlainTextInputElement(
            action_id=ids.DEFINE_ACTION, multiline=True, initial_value=text or None
        ),
    )
    return _modal(ids.DEFINE_VIEW, "Define a workflow", "Apply", [box], {})


# ---------------------------------------------------------------- handing on and asking

DELEGATE_TO = "to"  # block ids of the handoff modals' inputs (each element's action_id: "value")
REASON = "reason"
QUESTION = "question"
ANSWER = "answer"


def _text_box(block_id: str, label: str, *, multiline: bool, optional: bool = False) -> Block:
    return InputBlock(
        block_id=block_id,
        label=label,
        optional=optional,
        element=PlainTextInputElement(action_id=ACTION, multiline=multiline, max_length=2000),
    )


def delegate_modal(run_id: str, step_id: str, title: str) -> View:
    """Hand a request to someone else: who (a user picker) and, optionally, why."""
    blocks: list[Block] = [
        section(f"Hand *{escape(title)}* to someone else. They get the request in your place."),
        InputBlock(
            block_id=DELEGATE_TO,
            label="Delegate to",
            element=UserSelectElement(action_id=ACTION, placeholder="Pick a person"),
        ),
        _text_box(REASON, "Note for them", multiline=False, optional=True),
    ]
    return _modal(
        ids.DELEGATE_VIEW,
        f"Delegate: {title}",
        "Delegate",
        blocks,
        {"run_id": run_id, "step_id": step_id},
    )


def ask_modal(run_id: str, step_id: str, title: str, requester: str) -> View:
    """Ask the requester for more information before deciding."""
    blocks: list[Block] = [
        section(
            f"Your question goes to {mention(requester)} with a button to answer. "
            "Their answer appears on your card."
        ),
        _text_box(QUESTION, "Your question", multiline=True),
    ]
    return _modal(
        ids.ASK_VIEW, f"Ask: {title}", "Ask", blocks, {"run_id": run_id, "step_id": step_id}
    )


def answer_modal(run_id: str, step_id: str, question_id: str, asker: str, question: str) -> View:
    """The requester answers an approver's question."""
    blocks: list[Block] = [
        section(f"{mention(asker)} asks: {escape(question)}"),
        _text_box(ANSWER, "Your answer", multiline=True),
    ]
    meta: dict[str, object] = {"run_id": run_id, "step_id": step_id, "question_id": question_id}
    return _modal(ids.ANSWER_VIEW, "Answer a question", "Answer", blocks, meta)


REASSIGN_FROM = "from"


def reassign_modal(run_id: str, step_id: str, title: str, waiting_on: list[str]) -> View:
    """An admin moves one person's part of a pending request to someone else."""
    people = ", ".join(mention(p) for p in waiting_on) or "nobody"
    first = next((p for p in waiting_on if principal.is_kind(p, "user")), None)
    blocks: list[Block] = [
        section(f"*{escape(title)}* waits on {people}. Move one person's part to someone else."),
        InputBlock(
            block_id=REASSIGN_FROM,
            label="Take it from",
            element=UserSelectElement(action_id=ACTION, initial_user=first),
        ),
        InputBlock(
            block_id=DELEGATE_TO,
            label="Give it to",
            element=UserSelectElement(action_id=ACTION, placeholder="Pick a person"),
        ),
        _text_box(REASON, "Why (shown on their card)", multiline=False, optional=True),
    ]
    meta: dict[str, object] = {"run_id": run_id, "step_id": step_id}
    return _modal(ids.REASSIGN_VIEW, f"Reassign: {title}", "Reassign", blocks, meta)
