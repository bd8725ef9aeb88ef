"""Standing grants at run time: stored by the `record_grant` command the approval that gave one
committed with it (so a crash between the two loses nothing), looked up for a new agent
request, and applied as the system's approval naming the grant. The rules (what a grant
covers, what an approval grants) are `engine.grants`'s.

The store is written after the approval's commit, by the dispatcher: a repeat request that
arrives in that short window finds no grant and is judged by a person, as without one. That
errs on the side of asking, which is the safe side of a grant.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from engine.agent_requests import agent_request
from engine.approvals import APPROVAL_STEP
from engine.commands import Command, RecordGrant
from engine.errors import EngineError, NotAllowed, NotFound
from engine.grants import Grant, first_cover, grant_reason, may_revoke
from engine.ports import Clock, Failed, GrantStore, Outcome, Succeeded
from engine.state import RunState

log = logging.getLogger(__name__)

# Engine.decide, as the grant approves with it (an operator's override by `system`).
DecideFn = Callable[..., Awaitable[RunState]]


class StandingGrants:
    def __init__(self, store: GrantStore | None, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def perform(self, command: Command) -> Outcome:
        """The `CommandHandler` for `record_grant`: store the grant, keeping one already stored
        under its id (the approval's), so performing it again changes nothing, not even a
        revocation. A store that cannot be reached raises: the dispatcher tries again."""
        if not isinstance(command, RecordGrant):
            raise TypeError(f"the standing grants handler got {command.type}")
        if self.store is None:
            return Failed("no grant store is configured: the standing grant is not kept")
        await self.store.put(command.grant)
        return Succeeded()

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
