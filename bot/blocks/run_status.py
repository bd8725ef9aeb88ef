"""A run as people follow it: the requester's message (updated in place), `/workflow status`,
lists of runs and workflows, the inbox, and the help text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, HeaderBlock

from bot.blocks import ids
from bot.blocks.agent_card import agent_buttons
from bot.blocks.handoffs import handoff_buttons
from bot.blocks.kit import (
    HEADER_TEXT,
    MESSAGE_BLOCKS,
    MESSAGE_TEXT,
    context,
    escape,
    fit,
    mention,
    section,
    truncate,
    when,
)
from engine import (
    AgentRequest,
    PendingTask,
    RecordedEvent,
    RunState,
    ScheduleInfo,
    StoredDefinition,
    TaskSla,
    WorkflowDefinition,
    describe,
    step_title,
)

RUN_ICON = {
    "running": ":hourglass_flowing_sand:",
    "compensating": ":leftwards_arrow_with_hook:",
    "completed": ":white_check_mark:",
    "rejected": ":x:",
    "failed": ":warning:",
    "cancelled": ":no_entry_sign:",
    "compensation_failed": ":rotating_light:",
}
STEP_ICON = {
    "pending": ":white_circle:",
    "skipped": ":fast_forward:",
    "running": ":arrows_counterclockwise:",
    "retrying": ":repeat:",
    "waiting": ":hourglass_flowing_sand:",
    "completed": ":white_check_mark:",
    "rejected": ":x:",
    "failed": ":warning:",
    "compensating": ":leftwards_arrow_with_hook:",
    "compensated": ":leftwards_arrow_with_hook:",
    "compensation_failed": ":rotating_light:",
    "cancelled": ":no_entry_sign:",
}


def run_line(run: RunState) -> str:
    """One line: status, workflow, what the run is about, run id, current step, age."""
    step = (
        f" · at *{escape(run.current_step)}*"
        if run.current_step and run.status == "running"
        else ""
    )
    about = f" · {escape(run.summary)}" if run.summary else ""
    return (
        f"{RUN_ICON.get(run.status, '')} *{escape(run.workflow)}*{about} `{escape(run.run_id)}` "
        f"{escape(run.status)}{step} · started {when(run.started_at)}"
    )


def run_message(run: RunState, definition: WorkflowDefinition) -> tuple[str, list[Block]]:
    """The requester's message about their run, kept up to date in place."""
    title = definition.title or run.workflow
    steps = []
    for step_def in definition.steps:
        state = run.steps.get(step_def.id)
        status = state.status if state else "pending"
        steps.append(
            f"{STEP_ICON.get(status, '')} {escape(step_title(definition, run, step_def.id))}"
            f" — {escape(status)}"
        )
    blocks: list[Block] = [
        HeaderBlock(text=truncate(title, HEADER_TEXT)),
        section(run_line(run) + (f"\n{escape(run.reason)}" if run.reason else "")),
        section("\n".join(steps)),
    ]
    text = f"{title}: {run.status}"
    return truncate(text, MESSAGE_TEXT), fit(blocks, MESSAGE_BLOCKS)


def status_blocks(
    run: RunState,
    definition: WorkflowDefinition,
    events: Sequence[RecordedEvent],
    *,
    admin: bool = False,
) -> list[Block]:
    """`/workflow status RUN`: the run and its timeline (most recent last); for an admin, a
    Reassign button on each step waiting on people."""
    _, blocks = run_message(run, definition)
    lines = [f"{when(r.event.at)} {escape(describe(r.event))}" for r in events]
    for i in range(0, len(lines), 10):
        blocks.append(context("\n".join(lines[i : i + 10])))
    buttons = [
        ButtonElement(
            text=truncate(f"Reassign {step.id}", 75),
            action_id=f"{ids.REASSIGN}_{step.id}"[:255],
            value=ids.StepRef(run.run_id, step.id).value(),
        )
        for step in run.steps.values()
        if admin and step.status == "waiting" and step.type in ("approval", "input")
    ][:25]
    keep = 0
    if buttons:
        blocks.append(ActionsBlock(block_id="reassign", elements=buttons))
        keep = 1
    return fit(blocks, MESSAGE_BLOCKS, keep_last=keep)


def runs_blocks(runs: Sequence[RunState]) -> list[Block]:
    if not runs:
        return [section("You have no runs yet. Try `/workflow list`.")]
    return fit([section(run_line(r)) for r in runs], MESSAGE_BLOCKS)


def workflows_blocks(definitions: Sequence[StoredDefinition]) -> list[Block]:
    """`/workflow list`: every workflow with a Start button."""
    if not definitions:
        return [section("No workflows yet. An admin can add one with `/workflow define`.")]
    blocks: list[Block] = []
    for d in definitions:
        about = f"\n{escape(d.definition.description)}" if d.definition.description else ""
        text = f"*{escape(d.definition.title or d.name)}* (`{escape(d.name)}` v{d.version}){about}"
        button = ButtonElement(text="Start", action_id=ids.OPEN_START, value=d.name)
        blocks.append(section(text) if d.disabled else _with_button(text, button))
    return fit(blocks, MESSAGE_BLOCKS)


def _with_button(text: str, button: ButtonElement) -> Block:
    block = section(text)
    block.accessory = button
    return block


def task_blocks(
    task: PendingTask,
    sla: str | None = None,
    detail: TaskSla | None = None,
    agent: AgentRequest | None = None,
) -> list[Block]:
    """One waiting task with its buttons (inbox and App Home); `sla` is its deadlines line,
    `detail` (from `Engine.sla`) gives the step's rendered title and what the run is about,
    `agent` the agent's request when the task is one.

    The buttons are the card's (same action ids, the step in the value), so a click here is
    handled exactly like one on the card: Approve / Reject / Ask for info / Delegate for an
    approval (an agent's: the agent card's, which open the agent modal), Open form / Delegate
    for an input."""
    ref = ids.StepRef(task.run_id, task.step_id).value()
    title = detail.step_title if detail is not None else task.step_id
    summary = f" · {escape(detail.summary)}" if detail is not None and detail.summary else ""
    text = (
        f"*{escape(task.workflow)}*{summary} · step *{escape(title)}* · asked by "
        f"{mention(task.requester)} {when(task.since)}"
    )
    if agent is not None:
        buttons = agent_buttons(agent, ref)
    elif task.kind == "approval":
        buttons = [
            ButtonElement(text="Approve", action_id=ids.APPROVE, value=ref, style="primary"),
            ButtonElement(text="Reject", action_id=ids.REJECT, value=ref, style="danger"),
            *handoff_buttons(ref),
        ]
    else:
        buttons = [
            ButtonElement(text="Open form", action_id=ids.OPEN_INPUT, value=ref),
            *handoff_buttons(ref, ask=False),
        ]
    block_id = truncate(f"task|{ref}", 255)
    about = [context(sla)] if sla else []
    return [section(text), *about, ActionsBlock(block_id=block_id, elements=buttons)]


def inbox_blocks(
    tasks: Sequence[PendingTask],
    more: bool,
    slas: Mapping[tuple[str, str], str] | None = None,
    details: Mapping[tuple[str, str], TaskSla] | None = None,
    agents: Mapping[tuple[str, str], AgentRequest] | None = None,
) -> list[Block]:
    """`/workflow inbox`; `slas` gives each task's deadlines line, `details` its title and
    summary and `agents` the agent's request of a task that is one, by (run id, step id)."""
    if not tasks:
        return [section("Nothing waits on you. :tada:")]
    blocks: list[Block] = []
    for task in tasks:
        key = (task.run_id, task.step_id)
        blocks.extend(
            task_blocks(
                task, (slas or {}).get(key), (details or {}).get(key), (agents or {}).get(key)
            )
        )
    if more:
        blocks.append(context("More in the app's Home tab."))
    return fit(blocks, MESSAGE_BLOCKS)


def schedules_blocks(schedules: Sequence[ScheduleInfo]) -> list[Block]:
    """`/workflow schedules`: each scheduled workflow and its next start (shown in the reader's
    own time zone by Slack)."""
    if not schedules:
        return [section("No workflow starts on a schedule. Add `schedule:` to a definition.")]
    lines = []
    for s in schedules:
        nxt = (
            "disabled"
            if s.disabled
            else (f"next {when(s.next_fire)}" if s.next_fire else "no next start")
        )
        lines.append(
            f":calendar: *{escape(s.workflow)}* v{s.version} · {escape(s.description)} · {nxt}"
        )
    return fit(
        [section("\n".join(lines[i : i + 20])) for i in range(0, len(lines), 20)], MESSAGE_BLOCKS
    )


def web_link_blocks(url: str) -> list[Block]:
    """The DM carrying a one-time dashboard sign-in link (`/workflow web`)."""
    return [
        section(f"<{url}|Open the Countersign dashboard>"),
        context("This link signs you in once and expires soon. Do not forward it."),
    ]


def help_text(command: str) -> str:
    c = escape(command)
    return "\n".join(
        [
            f"*{c}* runs Countersign workflows:",
            f"• `{c} list`: the workflows you can start",
            f"• `{c} start NAME`: start one (a form opens)",
            f"• `{c} status [RUN]`: a run's progress, or your recent runs",
            f"• `{c} cancel RUN`: cancel a run you started",
            f"• `{c} inbox`: what waits on you",
            f"• `{c} web`: a sign-in link to the web dashboard, in a DM",
            f"• `{c} away @person until 2026-12-31`: while you are away, your new requests "
            f"go to them (`{c} away off` to stop, `{c} away` to see)",
            f"• `{c} away @person @stand-in until 2026-12-31`: someone else's out-of-office "
            f"(`{c} away @person off` to stop, `{c} away @person` to see; admins)",
            f"• `{c} schedules`: workflows that start on a schedule, and when next",
            f"• `{c} reassign RUN STEP @from @to`: move a pending request (admins)",
            f"• `{c} define`: add or change a workflow (admins)",
        ]
    )
