"""Modals: start a workflow, fill in an input step, decide with fields, define a workflow."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, InputBlock, PlainTextInputElement
from slack_sdk.models.views import View

from bot.blocks import ids
from bot.blocks.forms import input_block
from bot.blocks.limits import MODAL_TITLE, VIEW_BLOCKS, escape, fit, metadata, section, truncate
from engine.definitions.models import ApprovalStep, InputStep, WorkflowDefinition


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
        ids.START_VIEW, f"Start {title}", "Start", blocks, {"w": definition.name, "v": version}
    )


def input_modal(step: InputStep, run_id: str, message: str | None) -> View:
    """The form of an input step, for its assignee. `message` is the step's rendered message."""
    blocks: list[Block] = []
    if message:
        blocks.append(section(escape(message)))
    blocks.extend(input_block(f) for f in step.fields)
    return _modal(
        ids.INPUT_VIEW, step.title or step.id, "Submit", blocks, {"r": run_id, "s": step.id}
    )


def decision_modal(step: ApprovalStep, run_id: str, decision: str) -> View:
    """The approver's form for a step with `fields`; a field with `required_on` is required only
    for that decision (e.g. a reason to reject)."""
    blocks: list[Block] = [
        input_block(f, required=f.required or f.required_on == decision) for f in step.fields
    ]
    verb = "Approve" if decision == "approve" else "Reject"
    return _modal(
        ids.DECIDE_VIEW,
        f"{verb}: {step.title or step.id}",
        verb,
        blocks,
        {"r": run_id, "s": step.id, "d": decision},
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
