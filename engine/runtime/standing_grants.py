"""Standing grants at run time: recorded when an approval that granted one closes, looked up
for a new agent request, and applied as the system's approval naming the grant. The rules
(what a grant covers, what an approval grants) are `engine.grants`'s."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from engine.agent_requests import agent_request
from engine.approvals import APPROVAL_STEP, APPROVAL_WORKFLOW
from engine.errors import EngineError, NotAllowed, NotFound
from engine.events import Event, StepCompleted
from engine.grants import Grant, first_cover, grant_of, grant_reason, may_revoke
from engine.ports import Clock, GrantStore
from engine.state import RunState

log = logging.getLogger(__name__)

# Engine.decide, as the grant approves with it (an operator's override by `system`).
DecideFn = Callable[..., Awaitable[RunState]]


class StandingGrants:
    def __init__(self, store: GrantStore | None, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def on_committed(self, state: RunState, events: list[Event]) -> None:
        """Record the grant an approval made as it closes (idempotent: the grant's id is the
        approval's)."""
        if self.store is None or state.workflow != APPROVAL_WORKFLOW:
            return
        if not any(isinstance(e, StepCompleted) for e in events):
            return
        grant = grant_of(state, state.tenant_id)
        if grant is not None:
            await self.store.put(grant)

    async def covering(self, run: RunState) -> Grant | None:
        """The active grant that approves the agent request `run`, if any."""
        request = agent_request(run)
        if self.store is None or request is None or not request.tool:
            return None
        now = self.clock.now()
        grants = await self.store.active(
            run.tenant_id, now, requester=request.requester, tool=request.tool
        )
        return first_cover(grants, request, now)

    async def approve(self, decide: DecideFn, run: RunState, grant: Grant) -> RunState:
        """`run` approved by the system under `grant` (its reason names the grant and the
        approval that made it). A step already closed is left as it is."""
        reason = grant_reason(grant)
        try:
            return await decide(
                run.tenant_id,
                run.run_id,
                APPROVAL_STEP,
                "system",
                "approve",
                channel="api",
                override=True,
                reason=reason,
                admin=True,
            )
        except EngineError as exc:
            if exc.code in ("closed", "not_waiting"):
                return run
            raise

    async def active(self, tenant_id: str) -> list[Grant]:
        if self.store is None:
            return []
        return await self.store.active(tenant_id, self.clock.now())

    async def revoke(self, tenant_id: str, grant_id: str, by: str, *, admin: bool) -> Grant:
        found = await self.store.get(tenant_id, grant_id) if self.store is not None else None
        if self.store is None or found is None:
            raise NotFound(f"no standing grant {grant_id!r}")
        if not may_revoke(found, by, admin=admin):
            raise NotAllowed(
                "only whoever gave a standing grant, or an admin, can revoke it",
                code="not_granter",
                granted_by=found.granted_by,
            )
        grant = await self.store.revoke(tenant_id, grant_id, by, self.clock.now())
        if grant is None:
            raise NotFound(f"no standing grant {grant_id!r}")
        return grant
