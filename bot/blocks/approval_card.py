"""The cards a person gets for a step that waits on them: approval requests and input requests.

A card is rebuilt from the run's state each time, per approver: pending with buttons, "you voted,
waiting for others", or the outcome (who decided and when) with the buttons gone.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, HeaderBlock

from bot.blocks import ids
from bot.blocks.agent_card import agent_blocks, agent_buttons
from bot.blocks.handoffs import handoff_buttons, handoff_lines, question_lines
from bot.blocks.kit import (
    HEADER_TEXT,
    MESSAGE_BLOCKS,
    MESSAGE_TEXT,
    context,
    escape,
    fields_section,
    fit,
    mention,
    section,
    truncate,
    when,
)
from engine import (
    AGENT_FIELDS,
    ARGUMENTS_FIELD,
    GRANT_FIELD,
    ApprovalStep,
    FormField,
    RunState,
    StepState,
    WorkflowDefinition,
    agent_request,
    step_title,
)

OUTCOME = {
    "approved": ":white_check_mark: *Approved*",
    "rejected": ":x: *Rejected*",
    "cancelled": ":no_entry_sign: *Cancelled*: the run was cancelled",
    "failed": ":warning: *Closed*: the step failed",
}


def display(field: FormField | None, value: Any) -> str:
    """An input value as safe mrkdwn (people and channels as mentions)."""
    kind = field.type if field else "text"
    if kind in ("user", "channel") and isinstance(value, str):
        return mention(value)
    if kind == "users" and isinstance(value, list):
        return ", ".join(mention(str(v)) for v in value)
    if isinstance(value, list):
        return escape(", ".join(str(v) for v in value))
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return escape(value)


def inputs_summary(run: RunState, definition: WorkflowDefinition) -> list[Block]:
    by_id = {f.id: f for f in definition.inputs}
    pairs = [
        ((by_id[k].label if k in by_id and by_id[k].label else k), display(by_id.get(k), v))
        for k, v in run.inputs.items()
    ]
    return list(fields_section([(escape(label), value) for label, value in pairs]))


def _titles(run: RunState, definition: WorkflowDefinition, step_id: str) -> tuple[str, str]:
    return escape(definition.title or run.workflow), escape(step_title(definition, run, step_id))


def _outcome(step: StepState) -> str | None:
    if step.status == "waiting":
        return None
    if step.outcome in ("approved", "rejected"):
        return OUTCOME[step.outcome]
    if step.status == "cancelled":
        return OUTCOME["cancelled"]
    return OUTCOME["failed"] if step.status == "failed" else f"*{escape(step.status)}*"


def _votes(step: StepState) -> str:
    lines = []
    for vote in step.votes:
        verb = "approved" if vote.decision == "approve" else "rejected"
        why = f": {escape(vote.reason)}" if vote.reason else ""
        if vote.by_system:  # a default decision on timeout, with its reason
            lines.append(f"The system {verb} {when(vote.at)}{why}")
            continue
        note = f" (operator override{why})" if vote.override else ""
        extra = "; ".join(
            f"{escape(k)}: {escape(v)}"
            for k, v in vote.fields.items()
            if v and k not in AGENT_FIELDS
        )
        if vote.fields.get(ARGUMENTS_FIELD):
            note += " with edited arguments"
        if vote.fields.get(GRANT_FIELD):
            note += f" and allowed repeats for {float(vote.fields[GRANT_FIELD]):g}h"
        lines.append(
            f"{mention(vote.actor)} {verb}{note} {when(vote.at)}" + (f": {extra}" if extra else "")
        )
    return "\n".join(lines)


def _about(step: StepState, principal: str, shared_in: str | None = None) -> list[Block]:
    """How the request reached this person (or left them), and its questions and answers."""
    lines = handoff_lines(step, principal, shared_in) + question_lines(step)
    return [context("\n".join(lines))] if lines else []


def progress(step: StepState) -> str | None:
    """ "1 of 2 approvals" when more than one approval is needed."""
    if step.required <= 1:
        return None
    approvals = sum(v.decision == "approve" for v in step.votes)
    return f"{approvals} of {step.required} approvals"


def approval_card(
    run: RunState,
    definition: WorkflowDefinition,
    step_id: str,
    approver: str,
    message: str | None = None,
    run_url: str | None = None,
) -> tuple[str, list[Block]]:
    """(notification text, blocks) of the approval card `approver` sees for the step now. A
    request from the approvals API shows the agent's tool, arguments, digest and key name
    (`agent_card`); `run_url` links to the run's web page."""
    step = run.steps[step_id]
    workflow, title = _titles(run, definition, step_id)
    agent = agent_request(run)
    heading = str(run.inputs.get("title") or "") if agent else ""
    blocks: list[Block] = [
        HeaderBlock(
            text=truncate(f"Approval: {heading or definition.title or run.workflow}", HEADER_TEXT),
            block_id=ids.card_block_id(run.run_id, step_id),
        )
    ]
    if agent is not None:
        summary = str(run.inputs.get("summary") or "")
        blocks.extend(agent_blocks(agent, heading, summary, run_url))
    else:
        blocks.append(
            section(f"{mention(run.requester)} asks for approval of *{title}* in *{workflow}*.")
        )
        if message:
            blocks.append(section(escape(message)))
        blocks.extend(inputs_summary(run, definition))
    step_def = definition.step(step_id)
    shared_in = (
        step_def.level_channel(step.escalation_level)
        if isinstance(step_def, ApprovalStep) and step.escalation_level
        else None
    )
    blocks.extend(_about(step, approver, shared_in))
    status = [s for s in (progress(step), _votes(step)) if s]
    outcome = _outcome(step)
    mine = next((v for v in step.votes if v.actor == approver), None)
    keep = 0
    if outcome:
        at = f" {when(step.finished_at)}" if step.finished_at else ""
        blocks.append(section(f"{outcome}{at}"))
    elif mine:
        verb = "approved" if mine.decision == "approve" else "rejected"
        status.append(f"You {verb}. Waiting for the other approvers.")
    elif approver and approver not in step.approvers:
        pass  # handed on or escalated: `_about` says where it went
    else:
        form = isinstance(step_def, ApprovalStep) and bool(step_def.fields)
        ref = ids.StepRef(run.run_id, step_id, form).value()
        buttons = (
            agent_buttons(agent, ref)
            if agent is not None
            else [
                ButtonElement(text="Approve", action_id=ids.APPROVE, value=ref, style="primary"),
                ButtonElement(text="Reject", action_id=ids.REJECT, value=ref, style="danger"),
                *handoff_buttons(ref),
            ]
        )
        blocks.append(ActionsBlock(block_id="decide", elements=buttons))
        keep = 1
    if status:
        blocks.insert(len(blocks) - keep, context("\n".join(status)))
    text = f"Approval {'closed' if outcome else 'needed'}: {workflow} / {title}"
    return truncate(text, MESSAGE_TEXT), fit(blocks, MESSAGE_BLOCKS, keep_last=keep)


def input_card(
    run: RunState,
    definition: WorkflowDefinition,
    step_id: str,
    message: str | None = None,
    assignee: str = "",
) -> tuple[str, list[Block]]:
    """(notification text, blocks) of the card asking `assignee` to fill in a form."""
    step = run.steps[step_id]
    workflow, title = _titles(run, definition, step_id)
    blocks: list[Block] = [
        HeaderBlock(
            text=truncate(f"Form: {definition.title or run.workflow}", HEADER_TEXT),
            block_id=ids.card_block_id(run.run_id, step_id),
        ),
        section(f"{mention(run.requester)}'s run of *{workflow}* needs you to fill in *{title}*."),
    ]
    if message:
        blocks.append(section(escape(message)))
    blocks.extend(_about(step, assignee))
    keep = 0
    if step.status == "waiting" and (not assignee or assignee in step.approvers):
        ref = ids.StepRef(run.run_id, step_id).value()
        blocks.append(
            ActionsBlock(
                block_id="input",
                elements=[
                    ButtonElement(
                        text="Open form", action_id=ids.OPEN_INPUT, value=ref, style="primary"
                    ),
                    *handoff_buttons(ref),
                ],
            )
        )
        keep = 1
    elif step.status == "waiting":
        pass  # handed on: `_about` says to whom
    else:
        who = step.output.get("submitted_by")
        by = f" by {mention(str(who))}" if who else ""
        at = f" {when(step.finished_at)}" if step.finished_at else ""
        done = ":white_check_mark: *Submitted*" if step.outcome == "done" else _outcome(step)
        blocks.append(section(f"{done}{by}{at}"))
    text = f"Form {'needed' if keep else 'closed'}: {workflow} / {title}"
    return truncate(text, MESSAGE_TEXT), fit(blocks, MESSAGE_BLOCKS, keep_last=keep)
