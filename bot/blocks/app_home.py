"""The App Home tab: what waits on the user (with buttons), their runs, and recent events.

Tasks come a page at a time with "Older" / "Newer" buttons, so the view stays within Slack's 100
blocks however long the inbox is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, DividerBlock, HeaderBlock
from slack_sdk.models.views import View

from bot.blocks import ids
from bot.blocks.agent_card import grant_blocks
from bot.blocks.kit import VIEW_BLOCKS, context, escape, fit, section, when
from bot.blocks.run_status import run_line, task_blocks
from engine import AgentRequest, Grant, PendingTask, RecordedEvent, RunState, TaskSla, describe

TASKS_PER_PAGE = 20  # three blocks each
GRANTS_SHOWN = 10
RUNS_SHOWN = 10
EVENTS_SHOWN = 30


def home_view(
    tasks: Sequence[PendingTask],
    *,
    page: int,
    has_newer: bool,
    runs: Sequence[RunState],
    recent: Sequence[RecordedEvent],
    slas: Mapping[tuple[str, str], str] | None = None,
    details: Mapping[tuple[str, str], TaskSla] | None = None,
    grants: Sequence[Grant] = (),
    agents: Mapping[tuple[str, str], AgentRequest] | None = None,
) -> View:
    """`tasks` is the page to show (oldest first); `page` numbers it from 0. `slas` gives the
    deadlines line of a task by (run id, step id), `details` its title and summary, `agents`
    the agent's request of a task that is one (its buttons open the agent modal)."""
    blocks: list[Block] = [HeaderBlock(text="Waiting on you")]
    if not tasks:
        blocks.append(section("Nothing waits on you. :tada:"))
    for task in tasks[:TASKS_PER_PAGE]:
        key = (task.run_id, task.step_id)
        blocks.extend(
            task_blocks(
                task, (slas or {}).get(key), (details or {}).get(key), (agents or {}).get(key)
            )
        )
    nav = []
    if page > 0:
        nav.append(
            ButtonElement(text="Older", action_id=ids.HOME_PAGE + "_older", value=str(page - 1))
        )
    if has_newer:
        nav.append(
            ButtonElement(text="Newer", action_id=ids.HOME_PAGE + "_newer", value=str(page + 1))
        )
    if nav:
        first = page * TASKS_PER_PAGE + 1
        blocks.append(context(f"Showing {first} to {first + len(tasks[:TASKS_PER_PAGE]) - 1}"))
        blocks.append(ActionsBlock(block_id="home_pages", elements=nav))
    if grants:
        blocks += [DividerBlock(), HeaderBlock(text="Standing grants you gave")]
        blocks.extend(grant_blocks(grants[:GRANTS_SHOWN]))
    blocks += [DividerBlock(), HeaderBlock(text="Your runs")]
    if not runs:
        blocks.append(section("You have not started any run yet. Try `/workflow list`."))
    blocks.extend(section(run_line(r)) for r in runs[:RUNS_SHOWN])
    if recent:
        blocks += [DividerBlock(), HeaderBlock(text="Recent events")]
        lines = [
            f"{when(r.event.at)} `{escape(r.run_id)}` {escape(describe(r.event))}"
            for r in recent[:EVENTS_SHOWN]
        ]
        blocks.extend(context("\n".join(lines[i : i + 10])) for i in range(0, len(lines), 10))
    return View(type="home", blocks=fit(blocks, VIEW_BLOCKS))
