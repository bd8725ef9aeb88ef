"""The App Home tab: published when a user opens it, and again after every change that concerns
them, a page at a time, by whichever process learns of the change.

Who opened their Home (and on which page) is kept in `HomeOpeners` (the database in production),
so a restart or another replica does not leave Homes stale. A process learns of a change in two
ways: it committed it (the engine's subscription, with the events), or another process did and
this one performs the commands it caused (`HomeRefreshingChannel`). A change this process already
saw committed is not refreshed again when its commands come by.

Refreshes are coalesced per user (`Coalescer`): a burst of changes costs one views.publish at
once and then at most one per `REFRESH_INTERVAL`, never one per change.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from functools import partial

from bot.background import Background
from bot.blocks.app_home import EVENTS_SHOWN, RUNS_SHOWN, TASKS_PER_PAGE, home_view
from bot.blocks.handoffs import sla_line
from bot.clients import SlackClients
from bot.coalesce import Coalescer
from bot.home_openers import HomeOpeners, MemoryHomeOpeners
from bot.message_refs import MessageRefs
from engine import (
    APPROVAL_WORKFLOW,
    AgentRequest,
    CommandHandler,
    EngineApi,
    NotFound,
    Outcome,
    PendingTask,
    RecordedEvent,
    RunState,
    StepState,
    agent_request,
    refresh_seq,
)
from engine import commands as cmd
from engine import events as ev

TIMELINES = 5  # recent events come from the user's latest runs
REFRESH_INTERVAL = 1.0  # seconds between two publishes of one user's Home during a burst
RUNS_REMEMBERED = 10_000  # runs whose last locally committed change is remembered


def _people_of(step: StepState | None) -> set[str]:
    """Who a step asks, asked, or heard from: approvers, voters, delegators and delegates."""
    if step is None:
        return set()
    people = set(step.approvers) | {v.actor for v in step.votes}
    for d in step.delegations:
        people.update((d.from_, d.to))
    return people


def concerned(state: RunState, events: list[ev.Event]) -> tuple[set[str], set[str]]:
    """Who sees something different after these events: the requester, the actors, the people a
    step asks or stops asking; and the steps whose earlier card holders must be looked up too
    (an escalation or a timeout takes the task away from people the state no longer names)."""
    people = {state.requester}
    steps: set[str] = set()
    for event in events:
        if isinstance(event, ev.DecisionRecorded | ev.InputSubmitted | ev.CancelRequested):
            people.add(event.actor)
        elif isinstance(event, ev.ApprovalRequested | ev.StepEscalated):
            people.update(event.approvers)
            if isinstance(event, ev.StepEscalated):
                steps.add(event.step_id)
        elif isinstance(event, ev.InputRequested):
            people.add(event.assignee)
        elif isinstance(event, ev.StepDelegated):
            people.update((event.from_, event.to))
        elif isinstance(event, ev.QuestionAsked | ev.QuestionAnswered | ev.ReminderSent):
            people |= _people_of(state.steps.get(event.step_id))  # paused / next reminder
        elif isinstance(event, ev.StepCompleted | ev.StepFailed | ev.StepTimedOut):
            people |= _people_of(state.steps.get(event.step_id))
            if isinstance(event, ev.StepTimedOut):
                steps.add(event.step_id)
        elif isinstance(event, ev.RunFinished):
            for step in state.steps.values():
                people |= _people_of(step)
    return people, steps


def commanded(command: cmd.Command, state: RunState) -> tuple[set[str], set[str]]:
    """What `concerned` says of the change that caused `command`, read from the command and
    the run's current state (the events stay with the process that committed them)."""
    if isinstance(command, cmd.RequestApproval):
        return {command.approver}, set()
    if isinstance(command, cmd.RequestInput):
        return {command.assignee}, set()
    if isinstance(command, cmd.AskQuestion | cmd.AnswerDelivered):
        return {command.to, command.by}, set()
    if isinstance(command, cmd.UpdateApproval):  # a decision, delegation, timeout, question...
        return _people_of(state.steps.get(command.step_id)) | {state.requester}, {command.step_id}
    if isinstance(command, cmd.RunChanged):
        people = {state.requester}
        if command.final:
            for step in state.steps.values():
                people |= _people_of(step)
        return people, set()
    return set(), set()


async def agent_requests(
    engine: EngineApi, tenant_id: str, tasks: Iterable[PendingTask]
) -> dict[tuple[str, str], AgentRequest]:
    """The agent's request behind each task that is one, by (run id, step id): its row gets the
    agent card's buttons. Only runs of the built-in approval workflow are read."""
    found: dict[tuple[str, str], AgentRequest] = {}
    for task in tasks:
        if task.workflow != APPROVAL_WORKFLOW:
            continue
        try:
            request = agent_request(await engine.get_run(tenant_id, task.run_id))
        except NotFound:  # gone since the list was read
            continue
        if request is not None:
            found[(task.run_id, task.step_id)] = request
    return found


class HomeTab:
    def __init__(
        self,
        clients: SlackClients,
        engine: EngineApi,
        background: Background,
        openers: HomeOpeners | None = None,
        refs: MessageRefs | None = None,
        *,
        interval: float = REFRESH_INTERVAL,
    ) -> None:
        self._clients = clients
        self._engine = engine
        self._background = background
        self._openers: HomeOpeners = openers or MemoryHomeOpeners()
        self._refs = refs
        self._coalescer = Coalescer(min_interval=interval)
        # (tenant, run) -> seq of the last change this process committed and refreshed for
        self._seen: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._closed = False

    def close(self) -> None:
        """Start no more refreshes (the adapter is stopping; those started are drained)."""
        self._closed = True

    def opened(self, tenant_id: str, user: str, page: int = 0) -> None:
        """`user` opened their Home (or turned to `page`): remember it and publish."""
        if self._closed:
            return

        async def show() -> None:
            await self._openers.opened(tenant_id, user, page, self._engine.clock.now())
            await self._show(tenant_id, user)

        self._background.spawn(show(), f"App Home of {user}")

    async def on_change(self, state: RunState, events: list[ev.Event]) -> None:
        """Engine listener (a change this process committed): refresh the Home of everyone
        concerned who ever opened it. Returns at once; the lookups run in the background."""
        if self._closed or all(isinstance(e, ev.RequestShown) for e in events):
            return  # a record of what a channel showed changes nobody's Home
        key = (state.tenant_id, state.run_id)
        self._seen[key] = max(state.seq, self._seen.pop(key, -1))
        if len(self._seen) > RUNS_REMEMBERED:
            self._seen.popitem(last=False)
        people, steps = concerned(state, events)
        self._background.spawn(
            self._refresh(state.tenant_id, state.run_id, people, steps), "App Home refresh"
        )

    def on_command(self, command: cmd.Command) -> None:
        """A Slack command was performed: refresh the Homes its change concerns, unless this
        process committed that change (then `on_change` did it)."""
        if self._closed:
            return
        self._background.spawn(self._after_command(command), "App Home refresh")

    async def _after_command(self, command: cmd.Command) -> None:
        seq = refresh_seq(command)
        if seq is not None and self._seen.get((command.tenant_id, command.run_id), -1) >= seq:
            return  # issued by a change this process committed (or an earlier one)
        try:
            state = await self._engine.get_run(command.tenant_id, command.run_id)
        except NotFound:
            return
        if self._seen.get((state.tenant_id, state.run_id), -1) >= state.seq:
            return
        people, steps = commanded(command, state)
        await self._refresh(state.tenant_id, state.run_id, people, steps)

    async def _refresh(
        self, tenant_id: str, run_id: str, people: Iterable[str], steps: Iterable[str]
    ) -> None:
        everyone = set(people)
        if self._refs is not None:
            for step_id in steps:  # whoever got a card of the step, at any level
                everyone.update(await self._refs.for_step(tenant_id, run_id, step_id))
        for user in await self._openers.among(tenant_id, everyone):
            self._background.spawn(self._show(tenant_id, user), f"App Home of {user}")

    async def _show(self, tenant_id: str, user: str) -> None:
        """Publish `user`'s Home, sharing a pass with the requests of the same burst."""
        await self._coalescer.run((tenant_id, user), partial(self._publish, tenant_id, user))

    async def _publish(self, tenant_id: str, user: str) -> None:
        page = await self._openers.page(tenant_id, user)
        if page is None:
            return
        tasks = await self._engine.pending_for(
            tenant_id, user, limit=TASKS_PER_PAGE + 1, offset=page * TASKS_PER_PAGE
        )
        now = self._engine.clock.now()
        if not tasks and page > 0:  # the page emptied (decided elsewhere): show the first one
            page = 0
            await self._openers.opened(tenant_id, user, page, now)
            tasks = await self._engine.pending_for(tenant_id, user, limit=TASKS_PER_PAGE + 1)
        details = {
            (t.run_id, t.step_id): t
            # Both lists run oldest first, so the page's tasks are among the first ones.
            for t in await self._engine.sla(
                tenant_id, principal=user, limit=(page + 1) * TASKS_PER_PAGE + 1
            )
        }
        slas = {key: sla_line(t, now) for key, t in details.items()}
        runs = (await self._engine.list_runs(tenant_id, requester=user, limit=RUNS_SHOWN)).runs
        recent: list[RecordedEvent] = []
        for run in runs[:TIMELINES]:
            recent.extend(await self._engine.timeline(tenant_id, run.run_id))
        recent.sort(key=lambda r: r.event.at, reverse=True)
        grants = [g for g in await self._engine.active_grants(tenant_id) if g.granted_by == user]
        agents = await agent_requests(self._engine, tenant_id, tasks[:TASKS_PER_PAGE])
        view = home_view(
            tasks[:TASKS_PER_PAGE],
            page=page,
            has_newer=len(tasks) > TASKS_PER_PAGE,
            runs=runs,
            recent=recent[:EVENTS_SHOWN],
            slas=slas,
            details=details,
            grants=grants,
            agents=agents,
        )
        client = await self._clients.for_tenant(tenant_id)
        await client.views_publish(user_id=user, view=view)


class HomeRefreshingChannel:
    """A `CommandHandler` around the Slack channel: after each command, the Homes of the people
    its change concerns are refreshed (how changes committed elsewhere reach this process)."""

    def __init__(self, channel: CommandHandler, home: HomeTab) -> None:
        self._channel = channel
        self._home = home

    async def perform(self, command: cmd.Command) -> Outcome:
        outcome = await self._channel.perform(command)
        self._home.on_command(command)  # whatever the outcome: the run itself did change
        return outcome
