"""Crashes around a standing grant: the approval that gives one commits the command that stores
it, so a process that dies after the approval's commit and before (or while) the grant is
written loses nothing: a restarted process stores it, and a repeat request is approved by it.
Storing it again never undoes a revocation. On every store backend (memory, SQLite, PostgreSQL),
with the crash injected as in `test_recovery`."""

from __future__ import annotations

import contextlib
import json
from datetime import timedelta

from engine import Grant, GrantStore, RunState, approval_definition, digest_of
from engine.agent_requests import canonical
from engine.runtime.service import Engine
from engine.testing import ManualClock, MemoryStorage
from storage import Storage
from tests.runtime.conftest import TENANT, EngineFactory
from tests.runtime.test_recovery import Crash

APPROVER = "UBOB"
AGENT = "api:key-1"
DETAILS = {"tool": "refund", "arguments": {"order": 1234, "amount": 80}}


class DiesWritingGrants:
    """The grant store of a process that dies as it writes a grant: before the write, or
    after it and before the dispatcher records the command as done."""

    def __init__(self, inner: GrantStore, *, after_write: bool) -> None:
        self.inner = inner
        self.after_write = after_write

    async def put(self, grant: Grant) -> None:
        if self.after_write:
            await self.inner.put(grant)
        raise Crash

    async def get(self, tenant_id: str, grant_id: str) -> Grant | None:
        return await self.inner.get(tenant_id, grant_id)

    async def active(self, *args: object, **kwargs: object) -> list[Grant]:
        return await self.inner.active(*args, **kwargs)  # type: ignore[arg-type]

    async def revoke(self, *args: object) -> Grant | None:
        return await self.inner.revoke(*args)  # type: ignore[arg-type]


async def agent_asks(engine: Engine, *, offer_hours: int | None = None) -> RunState:
    """An agent's request as `POST /api/v1/approvals` starts it."""
    source = approval_definition(
        policy="any",
        timeout=None,
        default_decision="reject",
        fields=[],
        editable=False,
        grant_hours=offer_hours,
    )
    applied = await engine.apply_definition(TENANT, source, "countersign-approval")
    inputs = {
        "title": "Refund order 1234",
        "details": canonical(DETAILS),
        "digest": digest_of(DETAILS),
        "approvers": APPROVER,
        "agent": "billing-bot",
        "grant": json.dumps({"allow": True, "max_hours": offer_hours}) if offer_hours else "",
    }
    run = await engine.start_run(
        TENANT, "countersign-approval", inputs, AGENT, version=applied.version
    )
    await engine.run_until_idle()
    return run


async def approve_and_die(
    store_backend: MemoryStorage | Storage, clock: ManualClock, *, after_write: bool
) -> RunState:
    """A process approves with a grant of 8 hours and dies writing the grant."""
    grants = DiesWritingGrants(store_backend.grants, after_write=after_write)
    doomed = Engine.from_storage(store_backend, clock=clock, grants=grants)
    first = await agent_asks(doomed, offer_hours=8)
    with contextlib.suppress(Crash):  # wherever the write happens, the process dies there
        await doomed.decide(
            TENANT, first.run_id, "approval", APPROVER, "approve", {"grant_hours": 8}
        )
        await doomed.run_until_idle()
    return first


async def test_a_grant_survives_a_crash_between_the_approval_and_its_write(
    store_backend: MemoryStorage | Storage, make_engine: EngineFactory, clock: ManualClock
) -> None:
    approved_at = clock.now()
    first = await approve_and_die(store_backend, clock, after_write=False)
    restarted = await make_engine()
    assert (await restarted.get_run(TENANT, first.run_id)).status == "completed"
    assert await restarted.active_grants(TENANT) == []  # the approval stands, the grant is owed

    clock.advance(restarted.settings.command_lease)  # the dead process's claim runs out
    await restarted.run_until_idle()
    [grant] = await restarted.active_grants(TENANT)
    assert (grant.grant_id, grant.granted_by, grant.tool) == (first.run_id, APPROVER, "refund")
    # It counts from the approval, not from when it was stored.
    assert (grant.created_at, grant.expires_at) == (approved_at, approved_at + timedelta(hours=8))

    repeat = await agent_asks(restarted)
    approved, used = await restarted.apply_grant(repeat)
    assert used == grant and approved.steps["approval"].outcome == "approved"


async def test_storing_a_grant_again_keeps_its_revocation(
    store_backend: MemoryStorage | Storage, make_engine: EngineFactory, clock: ManualClock
) -> None:
    first = await approve_and_die(store_backend, clock, after_write=True)
    restarted = await make_engine()
    [grant] = await restarted.active_grants(TENANT)  # written, but not recorded as done
    await restarted.revoke_grant(TENANT, grant.grant_id, APPROVER)

    clock.advance(restarted.settings.command_lease)
    await restarted.run_until_idle()  # the command is performed again
    stored = await store_backend.grants.get(TENANT, first.run_id)
    assert stored is not None and stored.revoked_by == APPROVER
    repeat = await agent_asks(restarted)
    assert (await restarted.apply_grant(repeat))[1] is None
