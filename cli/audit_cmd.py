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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cli.output import fail
from cli.problems import OperatorError
from engine import (
    AUDIT_FORMAT,
    BadBundle,
    BundleReport,
    Checkpoint,
    departures,
    load_bundle,
    make_checkpoint,
    merkle_root,
    parse_public_key,
    public_key_text,
    sign_bundle,
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
    v = cmds.add_parser("verify", help="check a bundle offline (no database, no settings)")
    v.add_argument("file", type=Path)
    v.add_argument("--public-key", help="the key to trust (default: the one in the bundle)")


def _when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 date") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


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
        if only_changed and merkle_root(leaves) == previous.root:
            return None
        now = {leaf[1]: leaf[3] for leaf in leaves if leaf[0] == "run"}
        grown = [
            (leaf[1], leaf[3])
            for leaf in previous.leaves
            if leaf[0] == "run" and now.get(leaf[1], 0) > leaf[3]
        ]
        broken = departures(previous, leaves, await audit.hashes_at(tenant, grown))
        if broken:
            raise Tampered(
                f"not signing a checkpoint of {tenant}: since the last one, " + "; ".join(broken)
            )
    checkpoint = make_checkpoint(key, tenant, datetime.now(UTC), leaves)
    await audit.save_checkpoint(checkpoint)
    return checkpoint


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


async def checkpoint_periodically(storage: Any, key: Callable[[], Any], minutes: float) -> None:
    """The serving process's checkpointer: runs until cancelled; a failure is logged and the
    next round tries again. The key is read (or made) only when first needed."""
    while True:
        await asyncio.sleep(minutes * 60)
        try:
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
