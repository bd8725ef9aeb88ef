"""The audit log's operations on storage, for the CLI and the serving process alike: export
bundles, sign checkpoints, purge by retention, and the serving process's periodic round."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cli.problems import OperatorError
from engine import (
    AUDIT_FORMAT,
    AUDIT_PROOF_FORMAT,
    PURGED,
    Checkpoint,
    KeyRing,
    LiveCheck,
    RunReport,
    checkpoint_problems,
    departures,
    make_checkpoint,
    merkle_root,
    public_key_text,
    sign_bundle,
    unpurged,
    with_proofs,
)

log = logging.getLogger("countersign")


async def build_bundle(
    storage: Any,
    tenant: str,
    key: Any,
    run_ids: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    proofs: bool | None = None,
) -> dict[str, Any]:
    """The bundle for `tenant`, signed with `key`: the runs in scope (all when none is given).
    With `proofs` (the default for named runs), its checkpoint carries inclusion proofs of the
    leaves it needs instead of every leaf of the workspace, so its size does not grow with the
    workspace; a date range lists every leaf, which shows that no run of the range is missing."""
    audit = storage.audit
    heads = await audit.run_heads(tenant, run_ids, since, until)
    chains = await audit.chains(tenant, [h.run_id for h in heads])
    scope: dict[str, Any]
    if run_ids is not None:
        scope = {"runs": sorted(run_ids)}
    elif since is not None:
        scope = {"since": since.isoformat(), "until": (until or datetime.now(UTC)).isoformat()}
    else:
        scope = {"since": datetime.min.replace(tzinfo=UTC).isoformat()}
        scope["until"] = datetime.max.replace(tzinfo=UTC).isoformat()
    used = {(h.workflow, h.version) for h in heads}
    # The newest only: no checkpoint is signed over heads that break with the one before
    # (see checkpoint_now), so the newest covers every run any earlier one did.
    latest = await audit.checkpoints(tenant, latest=True)
    if proofs is None:
        proofs = run_ids is not None
    checkpoints = [c.to_json() for c in latest]
    if proofs and run_ids is not None:
        wanted = set(run_ids)

        def needed(leaf: Any) -> bool:
            if leaf[0] == "definition":
                return (leaf[1], leaf[2]) in used
            return leaf[1] in wanted  # a run, or its purge record

        checkpoints = [with_proofs(c, needed) for c in latest]
    bundle = {
        "format": AUDIT_PROOF_FORMAT if proofs else AUDIT_FORMAT,
        "tenant": tenant,
        "exported_at": datetime.now(UTC).isoformat(),
        "scope": scope,
        "public_key": public_key_text(key.public_key()),
        "runs": [bundle_run(h, chains[h.run_id]) for h in heads],
        "definitions": [
            d for d in await audit.definition_versions(tenant) if (d["name"], d["version"]) in used
        ],
        "checkpoints": checkpoints,
    }
    return sign_bundle(bundle, key)


def bundle_run(head: Any, chain: list[Any]) -> dict[str, Any]:
    """One run as a bundle holds it (and as `LiveCheck` checks it)."""
    return {
        "run_id": head.run_id,
        "started_at": head.started_at.isoformat(),
        "chained_by_migration_up_to": head.backfilled,
        "events": [
            {"seq": e.seq, "prev_hash": e.prev_hash, "hash": e.hash, "event": e.event}
            for e in chain
        ],
        "head": {"seq": head.seq, "hash": head.head_hash},
    }


CHECK_BATCH = 500  # runs read and checked at a time by `check_live`


async def check_live(
    storage: Any,
    tenant: str,
    keys: KeyRing,
    on_runs: Callable[[list[RunReport]], None],
    batch: int = CHECK_BATCH,
    on_start: Callable[[bool], None] | None = None,
) -> LiveCheck:
    """Check the tenant's live runs `batch` at a time, in run id order, against its newest
    checkpoint and the trusted `keys`, handing each batch's reports to `on_runs`: memory holds
    one batch of runs, never the workspace. `on_start` hears first whether the checkpoint is
    signed and sound. The returned check holds the workspace's problems (those found at the end
    too: runs a checkpoint names that are gone)."""
    audit = storage.audit
    check = LiveCheck(
        tenant,
        await audit.definition_versions(tenant),
        await audit.latest_checkpoint(tenant),
        keys,
    )
    if on_start is not None:
        on_start(not check.problems and check.checkpoints > 0)
    after: str | None = None
    while True:
        heads = await audit.run_heads(tenant, after=after, limit=batch)
        if not heads:
            break
        chains = await audit.chains(tenant, [h.run_id for h in heads])
        on_runs(check.check_runs(bundle_run(h, chains[h.run_id]) for h in heads))
        after = heads[-1].run_id
    check.finish()
    return check


class Tampered(OperatorError):
    """The stored heads break with the last signed checkpoint: signing would hide it."""


async def checkpoint_now(
    storage: Any, key: Any, tenant: str, *, only_changed: bool = False
) -> Checkpoint | None:
    """Sign the tenant's current heads, unless they break with its last checkpoint (then
    `Tampered`, naming what), or `only_changed` and nothing moved since (then None)."""
    audit = storage.audit
    leaves = await audit.leaves(tenant)
    previous = await audit.latest_checkpoint(tenant)
    if previous is not None:
        if only_changed and merkle_root(leaves) == merkle_root(unpurged(previous.leaves)):
            return None
        broken = await _departures(audit, tenant, previous, leaves, frozenset())
        if broken:
            # A checkpoint signed elsewhere between a purge's own and its delete still holds
            # the purged runs: the purge's signed record accounts for them.
            purged = await _recently_purged(audit, key, tenant, previous.at)
            broken = await _departures(audit, tenant, previous, leaves, purged)
        if broken:
            raise Tampered(
                f"not signing a checkpoint of {tenant}: since the last one, " + "; ".join(broken)
            )
    checkpoint = make_checkpoint(key, tenant, datetime.now(UTC), leaves)
    await audit.save_checkpoint(checkpoint)
    return checkpoint


async def purge_now(
    storage: Any, key: Any, tenant: str, days: float, *, dry_run: bool = False
) -> list[str]:
    """Delete the tenant's runs that finished more than `days` ago, after signing a checkpoint
    that records each one's last head (PURGED leaves) beside the heads that stay: the purge is
    on record, and no later checkpoint calls the gap tampering. Refuses (`Tampered`) when the
    heads already break with the last checkpoint: a purge must not hide that."""
    audit = storage.audit
    old = await audit.finished_before(tenant, datetime.now(UTC) - timedelta(days=days))
    if dry_run or not old:
        return [h.run_id for h in old]
    going = frozenset(h.run_id for h in old)
    leaves = await audit.leaves(tenant)
    previous = await audit.latest_checkpoint(tenant)
    if previous is not None:
        broken = await _departures(audit, tenant, previous, leaves, going)
        if broken:
            raise Tampered(f"not purging {tenant}: since the last checkpoint, " + "; ".join(broken))
    kept = [leaf for leaf in leaves if not (leaf[0] == "run" and leaf[1] in going)]
    records = [(PURGED, h.run_id, h.started_at.isoformat(), h.seq, h.head_hash) for h in old]
    # Signed first: if the delete fails, the runs stay and the next checkpoint covers them again.
    await audit.save_checkpoint(make_checkpoint(key, tenant, datetime.now(UTC), kept + records))
    deleted: list[str] = await audit.purge(tenant, old)
    log.info("audit: purged %d finished run(s) of %s", len(deleted), tenant)
    return deleted


# How far before the last checkpoint a purge's own may lie: a purge signs, then deletes at once.
PURGE_WINDOW = timedelta(hours=1)


async def _recently_purged(audit: Any, key: Any, tenant: str, before: datetime) -> frozenset[str]:
    """The runs that validly signed purge records shortly before `before` deleted."""
    public = key.public_key()
    return frozenset(
        leaf[1]
        for cp in await audit.checkpoints(tenant, since=before - PURGE_WINDOW)
        if not checkpoint_problems(cp, public)
        for leaf in cp.leaves
        if leaf[0] == PURGED
    )


async def _departures(
    audit: Any, tenant: str, previous: Checkpoint, leaves: list[Any], purging: frozenset[str]
) -> list[str]:
    now = {leaf[1]: leaf[3] for leaf in leaves if leaf[0] == "run"}
    grown = [
        (leaf[1], leaf[3])
        for leaf in previous.leaves
        if leaf[0] == "run" and now.get(leaf[1], 0) > leaf[3]
    ]
    return departures(previous, leaves, await audit.hashes_at(tenant, grown), purging)


async def checkpoint_changed(storage: Any, key: Any) -> list[Checkpoint]:
    """A checkpoint of each workspace whose heads moved since its last one."""
    made = []
    for tenant in await storage.audit.tenants():
        try:
            checkpoint = await checkpoint_now(storage, key, tenant, only_changed=True)
        except Tampered as exc:
            log.error("audit: %s (see `countersign audit check`)", exc.message)
            continue
        if checkpoint is not None:
            made.append(checkpoint)
    return made


async def purge_all(storage: Any, key: Any, days: float) -> None:
    for tenant in await storage.audit.tenants():
        try:
            await purge_now(storage, key, tenant, days)
        except Tampered as exc:
            log.error("audit: %s (see `countersign audit check`)", exc.message)


async def checkpoint_periodically(
    storage: Any, key: Callable[[], Any], minutes: float, retention_days: float | None = None
) -> None:
    """The serving process's checkpointer (and, with `retention_days`, purger): runs until
    cancelled; a failure is logged and the next round tries again. The key is read (or made)
    only when first needed."""
    while True:
        await asyncio.sleep(minutes * 60)
        try:
            if retention_days is not None:
                await purge_all(storage, key(), retention_days)
            await checkpoint_changed(storage, key())
        except Exception:
            log.exception("audit checkpoint failed; trying again in %s minutes", minutes)


def run_bundles(
    storage: Any, key: Callable[[], Any]
) -> Callable[[str, str], Awaitable[dict[str, Any] | None]]:
    """What the web server serves a run's audit bundle with (the API and the run page): the
    one-run bundle with inclusion proofs, or None when the tenant has no such run. A run newer
    than the last checkpoint gets one signed first (as the periodic round would), so what is
    downloaded is vouched for; heads that break with the last checkpoint are not signed over
    (the bundle then fails verification, as it must)."""

    async def one(tenant: str, run_id: str) -> dict[str, Any] | None:
        heads = await storage.audit.run_heads(tenant, [run_id])
        if not heads:
            return None
        latest = await storage.audit.latest_checkpoint(tenant)
        head = ("run", run_id, heads[0].started_at.isoformat(), heads[0].seq, heads[0].head_hash)
        if latest is None or head not in latest.leaves:
            try:
                await checkpoint_now(storage, key(), tenant, only_changed=True)
            except Tampered as exc:
                log.error("audit: %s (see `countersign audit check`)", exc.message)
        bundle = await build_bundle(storage, tenant, key(), [run_id])
        return bundle if bundle["runs"] else None

    return one
