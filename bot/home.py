"""The App Home tab: published when a user opens it, and again after every change that concerns
them (the engine's subscription), a page at a time.

Refreshes are coalesced per user: a change during a refresh asks for one more pass, never a
queue of them, so 200 approvals in a burst cost a few publishes, not 200 each.
"""

from __future__ import annotations

from bot.background import Background
from bot.blocks.app_home import EVENTS_SHOWN, RUNS_SHOWN, TASKS_PER_PAGE, home_view
from bot.blocks.handoffs import sla_line
from bot.clients import SlackClients
from engine import events as ev
from engine.ports import RecordedEvent
from engine.runtime.service import Engine
from engine.state import RunState

TIMELINES = 5  # recent events come from the user's latest runs


def concerned(state: RunState, events: list[ev.Event]) -> set[str]:
    """Who sees something different after these events: the requester, the actors, and the
    people a step asks or stops asking."""
    people = {state.requester}
    for event in events:
        if isinstance(event, ev.DecisionRecorded | ev.InputSubmitted | ev.CancelRequested):
            people.add(event.actor)
        elif isinstance(event, ev.ApprovalRequested | ev.StepEscalated):
            people.update(event.approvers)
        elif isinstance(event, ev.InputRequested):
            people.add(event.assignee)
        elif isinstance(event, ev.StepDelegated):
            people.update((event.from_, event.to))
        elif isinstance(event, ev.QuestionAsked | ev.QuestionAnswered | ev.ReminderSent):
            step = state.steps.get(event.step_id)  # paused / next reminder changed
            people.update(step.approvers if step else [])
        elif isinstance(event, ev.StepCompleted | ev.StepFailed | ev.StepTimedOut):
            step = state.steps.get(event.step_id)
            people.update(step.approvers if step else [])
        elif isinstance(event, ev.RunFinished):
            for step in state.steps.values():
                people.update(step.approvers)
    return people


class HomeTab:
    def __init__(self, clients: SlackClients, engine: Engine, background: Background) -> None:
        self._clients = clients
        self._engine = engine
        self._background = background
        self._page: dict[tuple[str, str], int] = {}  # users who opened the Home tab -> page
        self._again: dict[tuple[str, str], bool] = {}  # refreshing now -> one more pass asked

    def opened(self, tenant_id: str, user: str, page: int = 0) -> None:
        self._page[(tenant_id, user)] = page
        self._refresh((tenant_id, user))

    async def on_change(self, state: RunState, events: list[ev.Event]) -> None:
        """Engine listener: refresh the Home of everyone concerned who has it open."""
        for user in concerned(state, events):
            if (state.tenant_id, user) in self._page:
                self._refresh((state.tenant_id, user))

    def _refresh(self, key: tuple[str, str]) -> None:
        if key in self._again:
            self._again[key] = True
            return
        self._again[key] = False
        self._background.spawn(self._refresh_loop(key), f"App Home of {key[1]}")

    async def _refresh_loop(self, key: tuple[str, str]) -> None:
        try:
            while True:
                self._again[key] = False
                await self._publish(*key)
                if not self._again[key]:
                    return
        finally:
            del self._again[key]

    async def _publish(self, tenant_id: str, user: str) -> None:
        page = self._page.get((tenant_id, user), 0)
        tasks = await self._engine.pending_for(
            tenant_id, user, limit=TASKS_PER_PAGE + 1, offset=page * TASKS_PER_PAGE
        )
        if not tasks and page > 0:  # the page emptied (decided elsewhere): show the last one
            self._page[(tenant_id, user)] = page = 0
            tasks = await self._engine.pending_for(tenant_id, user, limit=TASKS_PER_PAGE + 1)
        now = self._engine.clock.now()
        slas = {
            (t.run_id, t.step_id): sla_line(t, now)
            # Both lists run oldest first, so the page's tasks are among the first ones.
            for t in await self._engine.sla(
                tenant_id, principal=user, limit=(page + 1) * TASKS_PER_PAGE + 1
            )
        }
        runs = (await self._engine.list_runs(tenant_id, requester=user, limit=RUNS_SHOWN)).runs
        recent: list[RecordedEvent] = []
        for run in runs[:TIMELINES]:
            recent.extend(await self._engine.timeline(tenant_id, run.run_id))
        recent.sort(key=lambda r: r.event.at, reverse=True)
        view = home_view(
            tasks[:TASKS_PER_PAGE],
            page=page,
            has_newer=len(tasks) > TASKS_PER_PAGE,
            runs=runs,
            recent=recent[:EVENTS_SHOWN],
            slas=slas,
        )
        client = await self._clients.for_tenant(tenant_id)
        await client.views_publish(user_id=user, view=view)
