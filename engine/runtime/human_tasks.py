"""People's tasks besides deciding: delegation and reassignment, out of office, questions to
the requester, comments, and the SLA view of what waits on whom. `Engine` holds one
`HumanTasks` (built in its constructor) and its `EngineApi` methods call it; the rights are
the decider's (`engine.decider`), this only turns requests into triggers."""

from __future__ import annotations

from datetime import datetime

from engine import display
from engine import principal as principals
from engine.actor import Actor, identify
from engine.away import Away
from engine.cursors import decode_task_cursor, encode_task_cursor
from engine.decider import rights
from engine.errors import InvalidInput
from engine.ports import PendingSummary, RunStore, SlaPage, TaskKey, TaskSla
from engine.runtime.applier import RunApplier, Work
from engine.runtime.environment import Environment
from engine.state import RunState
from engine.triggers import Answer, Ask, Comment, Delegate


def principal(value: str, field: str) -> str:
    """A person as stored: a Slack user id or "email:addr" (however the address was written);
    InvalidInput naming the accepted forms otherwise."""
    found = principals.find(value)
    if found is None or not found.is_person:
        raise InvalidInput({field: f"{value!r} is not {principals.expected(principals.PEOPLE)}"})
    return found.id


def _day(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


class HumanTasks:
    def __init__(self, applier: RunApplier, runs: RunStore, environment: Environment) -> None:
        self._applier = applier
        self.runs = runs
        self.environment = environment

    # ------------------------------------------------------------ delegation

    async def delegate(
        self,
        tenant_id: str,
        run_id: str,
        step_id: str,
        actor: str | Actor,
        to: str,
        *,
        reason: str = "",
        channel: str = "api",
        admin: bool = False,
        reassign: bool = False,
        from_: str | None = None,
    ) -> RunState:
        """`actor` hands their part of a waiting approval or input step to `to`; a `reassign`
        (an admin's) moves `from_`'s part (default: the one person the step waits on). Someone
        out of office cannot be handed a request."""
        target = principal(to, "to")
        trigger = self.delegate_trigger(
            step_id, actor, target, channel, admin, reassign, from_, reason
        )
        # The decider refuses someone away; their record is read here, fresh.
        trigger = trigger.model_copy(update={"to_away": await self.away_of(tenant_id, target)})
        return await self._applier.apply(Work(tenant_id, run_id, trigger))

    @staticmethod
    def delegate_trigger(
        step_id: str,
        actor: str | Actor,
        to: str,
        channel: str,
        admin: bool,
        reassign: bool,
        from_: str | None,
        reason: str = "",
    ) -> Delegate:
        """The trigger of a delegation (`to` "" when a channel asks before it shows the form)."""
        who, via, admin = identify(actor, channel, admin)
        return Delegate(
            step_id=step_id,
            actor=who,
            to=to,
            from_=principal(from_, "from") if from_ is not None else None,
            reassign=reassign,
            admin=admin,
            reason=reason.strip()[:500],
            channel=via,
        )

    # ------------------------------------------------------------ out of office

    async def set_away(
        self,
        tenant_id: str,
        user: str,
        delegate: str,
        *,
        until: datetime,
        starts: datetime | None = None,
        actor: str | Actor | None = None,
    ) -> Away:
        """From `starts` (default now) until `until`, new requests for `user` go to `delegate`.
        Replaces the user's earlier out-of-office. Requests already sent stay where they are.
        With an `Actor`, one who is not an admin sets only their own (refused `not_admin`)."""
        now = self._applier.clock.now()
        user, delegate = principal(user, "user"), principal(delegate, "delegate")
        if isinstance(actor, Actor):
            rights.check_away(principals.canonical(actor.who), actor.admin, user)
        begin = starts or now
        if until.tzinfo is None or begin.tzinfo is None:
            raise InvalidInput({"until": "give the time with its time zone (or a date)"})
        if until <= now:
            raise InvalidInput({"until": f"{_day(until)} is already past"})
        if until <= begin:
            raise InvalidInput({"until": "the end must come after the start"})
        if delegate == user:
            raise InvalidInput({"delegate": "choose someone else than the person who is away"})
        theirs = await self.environment.aways.get(tenant_id, delegate)
        if theirs is not None and theirs.until > begin and theirs.starts < until:
            raise InvalidInput(
                {
                    "delegate": f"{delegate} is away themselves until {_day(theirs.until)}; "
                    "choose someone who is in"
                }
            )
        for other in await self.environment.aways.current(tenant_id, now):
            if other.delegate == user and other.user != user and other.starts < until:
                raise InvalidInput(
                    {
                        "user": f"{user} stands in for {other.user} until {_day(other.until)}; "
                        f"ask {other.user} to choose someone else first"
                    }
                )
        who = actor.who if isinstance(actor, Actor) else actor
        by = principals.canonical(who) if who else user
        away = Away(tenant_id, user, delegate, begin, until, created_by=by)
        await self.environment.aways.put(away)
        self.environment.aways_changed(tenant_id)
        return away

    async def clear_away(self, tenant_id: str, user: str, actor: Actor | None = None) -> None:
        """End the user's out-of-office now (nothing happens when there was none). With an
        `actor`, one who is not an admin ends only their own (refused `not_admin`)."""
        user = principal(user, "user")
        if actor is not None:
            rights.check_away(principals.canonical(actor.who), actor.admin, user, ending=True)
        await self.environment.aways.delete(tenant_id, user)
        self.environment.aways_changed(tenant_id)

    async def away_of(self, tenant_id: str, user: str) -> Away | None:
        """The user's out-of-office that has not ended yet (it may not have started)."""
        found = await self.environment.aways.get(tenant_id, principals.canonical(user))
        if found is None or found.until <= self._applier.clock.now():
            return None
        return found

    # ------------------------------------------------------------ questions and comments

    async def ask(
        self,
        tenant_id: str,
        run_id: str,
        step_id: str,
        actor: str | Actor,
        question: str,
        *,
        channel: str = "api",
    ) -> RunState:
        """An approver (or the assignee) asks the requester; with the step's
        `pause_on_question`, its reminders and timeout wait for the answer."""
        who, via, _ = identify(actor, channel, False)
        trigger = Ask(step_id=step_id, actor=who, text=question, channel=via)
        return await self._applier.apply(Work(tenant_id, run_id, trigger))

    async def answer(
        self,
        tenant_id: str,
        run_id: str,
        step_id: str,
        question_id: str,
        actor: str | Actor,
        text: str,
        *,
        channel: str = "api",
    ) -> RunState:
        """The requester answers a question; paused timers resume with the time that was left."""
        who, via, _ = identify(actor, channel, False)
        trigger = Answer(
            step_id=step_id, question_id=question_id, actor=who, text=text, channel=via
        )
        return await self._applier.apply(Work(tenant_id, run_id, trigger))

    async def comment(
        self,
        tenant_id: str,
        run_id: str,
        actor: str | Actor,
        text: str,
        *,
        step_id: str | None = None,
        channel: str = "slack",
    ) -> RunState:
        """A note in the run's timeline (not a decision); finished runs take comments too."""
        who, via, _ = identify(actor, channel, False)
        trigger = Comment(actor=who, text=text, step_id=step_id, channel=via)
        return await self._applier.apply(Work(tenant_id, run_id, trigger))

    # ------------------------------------------------------------ SLA

    async def sla(
        self, tenant_id: str, *, principal: str | None = None, limit: int = 100
    ) -> list[TaskSla]:
        """Every pending human task (of `principal` when given), longest waiting first: since
        when, who, and when it is next reminded, escalated or timed out."""
        return (await self.sla_page(tenant_id, principal=principal, limit=limit)).tasks

    async def sla_page(
        self,
        tenant_id: str,
        *,
        principal: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> SlaPage:
        """`limit` of the pending human tasks, in the order of `sla`, after `cursor` (a
        previous page's `next_cursor`); raises `InvalidInput` for a garbled cursor."""
        who = principals.canonical(principal) if principal is not None else None
        after: TaskKey | None = decode_task_cursor(cursor) if cursor else None
        want = max(limit, 1)
        out: list[TaskSla] = []
        # A page of task rows at a time from where the last one ended (an index range): a step
        # waiting on several people has a row for each (the tenant's view shows it once), and a
        # run that moved on since the listing is left out, so a short page reads the next one.
        while True:
            rows = await self.runs.pending_tasks(tenant_id, who, limit=want, after=after)
            keys: dict[tuple[str, str], TaskKey] = {}
            for r in rows:
                keys.setdefault((r.run_id, r.step_id), (r.since, r.run_id, r.step_id))
            # One read for every run on the page instead of one load per run.
            states = await self.runs.get_many(
                tenant_id, list(dict.fromkeys(r.run_id for r in rows))
            )
            for (run_id, step_id), key in keys.items():
                if len(out) == want:  # full, and more were read: continue after the last shown
                    return SlaPage(out, encode_task_cursor(*after) if after else None)
                state = states.get(run_id)
                task = None if state is None else await self._sla(tenant_id, state, step_id)
                if task is not None:
                    out.append(task)
                after = key
            if len(rows) < want:  # the end of the list
                return SlaPage(out, None)
            if len(out) == want:
                return SlaPage(out, encode_task_cursor(*after) if after else None)

    async def sla_summary(
        self, tenant_id: str, *, principal: str | None = None, cutoff: datetime
    ) -> PendingSummary:
        """How many tasks the SLA view holds in all, how many wait since before `cutoff`, and
        since when the oldest waits: counted by the database, no run is read."""
        who = principals.canonical(principal) if principal is not None else None
        return await self.runs.pending_summary(tenant_id, who, cutoff=cutoff)

    async def _sla(self, tenant_id: str, state: RunState, step_id: str) -> TaskSla | None:
        step = state.steps.get(step_id)
        if step is None or step.status != "waiting":
            return None
        definition = await self._applier.definition(tenant_id, state.workflow, state.version)
        voted = {v.actor for v in step.votes}
        question = step.open_question()
        return TaskSla(
            tenant_id=tenant_id,
            run_id=state.run_id,
            workflow=state.workflow,
            version=state.version,
            step_id=step_id,
            step_title=display.step_title(definition, state, step_id),
            kind=step.type,
            approvers=[p for p in step.approvers if p not in voted],
            requester=state.requester,
            waiting_since=step.requested_at or step.started_at or state.started_at,
            escalation_level=step.escalation_level,
            next_reminder_at=None if step.paused else step.next_reminder_at,
            escalates_at=None if step.paused else step.escalates_at,
            times_out_at=None if step.paused else step.times_out_at,
            paused=step.paused,
            open_question=question.text if question is not None else None,
            summary=state.summary,
        )
