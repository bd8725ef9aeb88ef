"""`countersign audit ...`: the tamper-evident event log. Checkpoints sign every run head of a
workspace; `export` writes a self-contained bundle that `verify` checks with no database and no
settings; `check` verifies the live database."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cli.output import fail
from cli.problems import OperatorError
from engine import (
    AUDIT_FORMAT,
    PURGED,
    BadBundle,
    BundleReport,
    Checkpoint,
    checkpoint_problems,
    departures,
    load_bundle,
    make_checkpoint,
    merkle_root,
    parse_public_key,
    public_key_text,
    report_rows,
    sign_bundle,
    unpurged,
    verify_bundle,
)

log = logging.getLogger("countersign")


def add_parsers(sub: Any) -> None:
    audit = sub.add_parser("audit", help="tamper-evident event log: checkpoints, export, verify")
    cmds = audit.add_subparsers(dest="audit_cmd", required=True, metavar="ACTION")
    cmds.add_parser("public-key", help="print the public key auditors verify bundles with")
    cp = cmds.add_parser("checkpoint", help="sign a checkpoint over every run head now")
    ck = cmds.add_parser("check", help="verify the live database; names each broken run and seq")
    ex = cmds.add_parser("export", help="write a self-contained bundle for offline verification")
    scope = ex.add_mutually_exclusive_group(required=True)
    scope.add_argument("--run", action="append", help="a run to export (repeatable)")
    scope.add_argument("--since", type=_when, help="runs started from this date (ISO 8601)")
    ex.add_argument("--until", type=_when, help="runs started before this date (default: now)")
    ex.add_argument("-o", "--output", required=True, type=Path, help="the bundle file to write")
    for p in (cp, ck, ex):
        p.add_argument("--tenant", help="the workspace (default: the TENANT setting)")
    rp = cmds.add_parser("report", help="one row per approval step decided in a window")
    rp.add_argument("--since", type=_when, required=True, help="decided from (ISO 8601)")
    rp.add_argument("--until", type=_when, help="decided before (default: now)")
    rp.add_argument("--format", choices=("csv", "html"), default="csv")
    rp.add_argument("-o", "--output", type=Path, help="the file to write (default: stdout)")
    pg = cmds.add_parser("purge", help="delete finished runs older than RETENTION_DAYS")
    pg.add_argument("--days", type=_days, help="keep this many days instead of RETENTION_DAYS")
    pg.add_argument("--dry-run", action="store_true", help="list what would go; delete nothing")
    for p in (rp, pg):
        p.add_argument("--tenant", help="the workspace (default: the TENANT setting)")
    v = cmds.add_parser("verify", help="check a bundle offline (no database, no settings)")
    v.add_argument("file", type=Path)
    v.add_argument("--public-key", help="the key to trust (default: the one in the bundle)")


def _when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 date") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of days")
    return value


def verify(args: argparse.Namespace) -> int:
    """Needs nothing but the file (and optionally a key): runs before settings are read."""
    try:
        data = load_bundle(args.file.read_bytes())
        key = parse_public_key(args.public_key) if args.public_key else None
    except OSError as exc:
        return fail(f"cannot read {args.file}: {exc.strerror}", as_json=args.json)
    except (BadBundle, ValueError) as exc:
        return fail(f"{args.file}: {exc}", as_json=args.json)
    report = verify_bundle(data, key)
    _print(report, args.json)
    return 0 if report.ok else 1


def _print(report: BundleReport, as_json: bool) -> None:
    if as_json:
        out = {
            "ok": report.ok,
            "problems": report.problems,
            "purged": report.purged,
            "runs": [
                {
                    "run": r.run_id,
                    "ok": r.ok,
                    "chain": r.chain,
                    "checkpoint": r.checkpoint,
                    "decisions": r.decisions,
                    "notes": r.notes,
                }
                for r in report.runs
            ],
        }
        print(json.dumps(out, indent=2))
        return
    for problem in report.problems:
        print(f"BROKEN  {problem}")
    if report.purged:
        print(f"note: {len(report.purged)} run(s) deleted by a signed retention purge")
    for r in report.runs:
        print(f"{'ok     ' if r.ok else 'BROKEN '} run {r.run_id}")
        print(f"    chain intact: {'yes' if not r.chain else 'NO'}")
        for p in r.chain:
            print(f"      {p}")
        signed = "yes" if not report.problems and report.checkpoints else "NO"
        agrees = "yes" if not r.checkpoint else "NO"
        print(f"    checkpoint signature valid: {signed}; heads agree: {agrees}")
        for p in r.checkpoint:
            print(f"      {p}")
        print(
            "    decisions by listed approvers, not the requester, before the next step: "
            f"{'yes' if not r.decisions else 'NO'}"
        )
        for p in r.decisions:
            print(f"      {p}")
        for note in r.notes:
            print(f"    note: {note}")
    runs = len(report.runs)
    verdict = "verified" if report.ok else "FAILED"
    print(f"{verdict}: {runs} run(s), {report.checkpoints} checkpoint(s)")


async def build_bundle(
    storage: Any,
    tenant: str,
    key: Any,
    run_ids: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """The bundle for `tenant`, signed with `key`: the runs in scope (all when none is given)."""
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
    bundle = {
        "format": AUDIT_FORMAT,
        "tenant": tenant,
        "exported_at": datetime.now(UTC).isoformat(),
        "scope": scope,
        "public_key": public_key_text(key.public_key()),
        "runs": [
            {
                "run_id": h.run_id,
                "started_at": h.started_at.isoformat(),
                "chained_by_migration_up_to": h.backfilled,
                "events": [
                    {"seq": e.seq, "prev_hash": e.prev_hash, "hash": e.hash, "event": e.event}
                    for e in chains[h.run_id]
                ],
                "head": {"seq": h.seq, "hash": h.head_hash},
            }
            for h in heads
        ],
        "definitions": [
            d for d in await audit.definition_versions(tenant) if (d["name"], d["version"]) in used
        ],
        # The newest only: no checkpoint is signed over heads that break with the one before
        # (see checkpoint_now), so the newest covers every run any earlier one did.
        "checkpoints": [c.to_json() for c in await audit.checkpoints(tenant, latest=True)],
    }
    return sign_bundle(bundle, key)


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


async def run(args: argparse.Namespace, settings: Any) -> int:
    from cli.wiring import audit_key, open_database

    if args.audit_cmd == "public-key":
        print(public_key_text(audit_key().public_key()))
        return 0
    tenant = args.tenant or settings.tenant
    key = audit_key()
    storage = await open_database(settings)
    try:
        if args.audit_cmd == "checkpoint":
            cp = await checkpoint_now(storage, key, tenant)
            if cp is None:  # only with only_changed
                return 0
            print(f"checkpoint of {tenant} at {cp.at.isoformat()}: {len(cp.leaves)} leaves")
            return 0
        if args.audit_cmd == "check":
            bundle = await build_bundle(storage, tenant, key)
            report = verify_bundle(bundle)
            _print(report, args.json)
            return 0 if report.ok else 1
        if args.audit_cmd == "purge":
            return await _purge(storage, key, tenant, args, settings)
        if args.audit_cmd == "report":
            return await _report(storage, key, tenant, args)
        if args.until is not None and args.since is None:
            return fail("--until needs --since", as_json=args.json)
        bundle = await build_bundle(storage, tenant, key, args.run, args.since, args.until)
        if args.run:
            unknown = sorted(set(args.run) - {r["run_id"] for r in bundle["runs"]})
            if unknown:
                return fail(f"no run {', '.join(unknown)} in {tenant}", as_json=args.json)
        try:
            # Compact: no byte of the file is insignificant, so any change shows.
            text = json.dumps(bundle, separators=(",", ":"), ensure_ascii=False)
            args.output.write_text(text, encoding="utf-8")
        except OSError as exc:
            return fail(f"cannot write {args.output}: {exc.strerror}", as_json=args.json)
        print(f"wrote {len(bundle['runs'])} run(s) to {args.output}", file=sys.stderr)
        return 0
    finally:
        await storage.close()


async def _purge(
    storage: Any, key: Any, tenant: str, args: argparse.Namespace, settings: Any
) -> int:
    days = args.days or settings.retention_days
    if days is None:
        return fail(
            "RETENTION_DAYS is not set (or pass --days): nothing to purge", as_json=args.json
        )
    gone = await purge_now(storage, key, tenant, days, dry_run=args.dry_run)
    verb = "would purge" if args.dry_run else "purged"
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, "runs": gone}))
    else:
        for run_id in gone:
            print(run_id)
        print(f"{verb} {len(gone)} run(s) of {tenant} finished over {days:g} days ago")
    return 0


async def _report(storage: Any, key: Any, tenant: str, args: argparse.Namespace) -> int:
    """Rows from a bundle of every run started before --until, checked as `verify` would."""
    from cli.audit_report import render

    until = args.until or datetime.now(UTC)
    if until <= args.since:
        return fail("--until must be after --since", as_json=args.json)
    bundle = await build_bundle(storage, tenant, key, None, datetime.min.replace(tzinfo=UTC), until)
    checked = verify_bundle(bundle)
    broken = frozenset(r.run_id for r in checked.runs if r.chain or r.checkpoint)
    rows = report_rows(bundle, args.since, until, broken)
    text = render(rows, args.format, tenant, args.since, until)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as exc:
        return fail(f"cannot write {args.output}: {exc.strerror}", as_json=args.json)
    print(f"wrote {len(rows)} step(s) to {args.output}", file=sys.stderr)
    return 0
