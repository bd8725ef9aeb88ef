"""`countersign audit ...`: the tamper-evident event log. Checkpoints sign every run head of a
workspace; `export` writes a self-contained bundle that `verify` checks with no database and no
settings; `check` verifies the live database."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cli.audit_log import CHECK_BATCH, Tampered, build_bundle, check_live, checkpoint_now, purge_now
from cli.output import fail
from engine import (
    AuditSaw as Saw,
)
from engine import (
    BadBundle,
    BundleReport,
    RunReport,
    key_id,
    load_bundle,
    parse_public_key,
    public_key_text,
    report_rows,
    verify_bundle,
)

log = logging.getLogger("countersign")


def add_parsers(sub: Any) -> None:
    audit = sub.add_parser("audit", help="tamper-evident event log: checkpoints, export, verify")
    cmds = audit.add_subparsers(dest="audit_cmd", required=True, metavar="ACTION")
    cmds.add_parser(
        "public-key", help="print the public keys auditors verify bundles with (current marked)"
    )
    cmds.add_parser(
        "rotate-key",
        help="make a new signing key; the old public key stays trusted for earlier checkpoints",
    )
    cp = cmds.add_parser("checkpoint", help="sign a checkpoint over every run head now")
    ck = cmds.add_parser("check", help="verify the live database; names each broken run and seq")
    ck.add_argument(
        "--batch", type=_count, default=CHECK_BATCH, help=f"runs read at a time ({CHECK_BATCH})"
    )
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
    v.add_argument(
        "--public-key",
        action="append",
        help="a key to trust, or a file of them as `audit public-key` prints (repeatable; "
        "default: the one in the bundle)",
    )


def _when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 date") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


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
    except OSError as exc:
        return fail(f"cannot read {args.file}: {exc.strerror}", as_json=args.json)
    except (BadBundle, ValueError) as exc:
        return fail(f"{args.file}: {exc}", as_json=args.json)
    keys = []
    for given in args.public_key or []:
        try:
            keys.extend(_trusted(given))
        except ValueError as exc:
            return fail(f"--public-key {given}: {exc}", as_json=args.json)
    report = verify_bundle(data, keys or None)
    _print(report, args.json)
    return 0 if report.ok else 1


def _trusted(given: str) -> list[Any]:
    """The keys one --public-key names: a key, or a file of keys one per line as `audit
    public-key` prints them (the first word of each line; # starts a comment)."""
    if given.strip().startswith("ed25519:"):
        return [parse_public_key(given)]
    path = Path(given)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return [parse_public_key(given)]  # says what a key looks like
    words = [line.split("#")[0].split() for line in lines]
    keys = [parse_public_key(w[0]) for w in words if w]
    if not keys:
        raise ValueError("the file holds no public key")
    return keys


def _print_keys(current: Any, retired: list[Any], as_json: bool) -> None:
    """Newest first, one per line: the key, its id, and whether it signs now."""
    keys = [(current, True)] + [(k, False) for k in reversed(retired)]
    if as_json:
        print(
            json.dumps(
                [{"key": public_key_text(k), "id": key_id(k), "current": now} for k, now in keys],
                indent=2,
            )
        )
        return
    for k, now in keys:
        print(f"{public_key_text(k)}  # id {key_id(k)}, {'current' if now else 'retired'}")


def _print(report: BundleReport, as_json: bool) -> None:
    if as_json:
        out = {
            "ok": report.ok,
            "problems": report.problems,
            "purged": report.purged,
            "runs": [_run_json(r) for r in report.runs],
        }
        print(json.dumps(out, indent=2))
        return
    for problem in report.problems:
        print(f"BROKEN  {problem}")
    if report.purged:
        print(f"note: {len(report.purged)} run(s) deleted by a signed retention purge")
    signed = not report.problems and report.checkpoints > 0
    for r in report.runs:
        _print_run(r, signed)
    runs = len(report.runs)
    verdict = "verified" if report.ok else "FAILED"
    print(f"{verdict}: {runs} run(s), {report.checkpoints} checkpoint(s)")


def _print_saw(saw: Saw) -> None:
    """A decision or an input, the identity proof it came with, and the text its maker was
    shown."""
    proof = ", ".join(f"{k}={v}" for k, v in sorted(saw.proof.items())) or "none recorded"
    verbs = {"approve": "approved", "reject": "rejected", "input": "filled in"}
    verb = verbs.get(saw.decision, saw.decision)
    print(f"    {saw.actor} {verb} {saw.step_id} via {saw.channel} at {saw.at}")
    print(f"      identity proof: {proof}")
    if saw.shown is None:
        print("      shown: no record of what was shown")
        return
    shown = saw.shown
    where = shown["recipient"] if not shown.get("shared") else f"{shown['recipient']} (shared)"
    print(f"      shown: {shown['surface']} to {where} at {shown['at']}, sha256 {shown['sha256']}")
    for line in shown["text"].splitlines() or [""]:
        print(f"      | {line}")


def _run_json(r: RunReport) -> dict[str, Any]:
    return {
        "run": r.run_id,
        "ok": r.ok,
        "chain": r.chain,
        "checkpoint": r.checkpoint,
        "decisions": r.decisions,
        "shown": r.shown,
        "saw": [asdict(s) for s in r.saw],
        "notes": r.notes,
    }


def _print_run(r: RunReport, signed: bool) -> None:
    print(f"{'ok     ' if r.ok else 'BROKEN '} run {r.run_id}")
    print(f"    chain intact: {'yes' if not r.chain else 'NO'}")
    for p in r.chain:
        print(f"      {p}")
    agrees = "yes" if not r.checkpoint else "NO"
    print(f"    checkpoint signature valid: {'yes' if signed else 'NO'}; heads agree: {agrees}")
    for p in r.checkpoint:
        print(f"      {p}")
    print(
        "    decisions by listed approvers, not the requester, before the next step: "
        f"{'yes' if not r.decisions else 'NO'}"
    )
    for p in r.decisions:
        print(f"      {p}")
    if r.saw or r.shown:
        print(f"    what each person saw matches its record: {'yes' if not r.shown else 'NO'}")
    for p in r.shown:
        print(f"      {p}")
    for saw in r.saw:
        _print_saw(saw)
    for note in r.notes:
        print(f"    note: {note}")


async def _check(storage: Any, key: Any, tenant: str, args: argparse.Namespace) -> int:
    """The live check, printed run by run as the batches come (JSON: all at the end, one
    document; the runs' reports are small beside their events)."""
    from cli.audit_keys import trusted_keys

    keys = trusted_keys(key)
    reports: list[dict[str, Any]] = []
    counts = {"runs": 0, "broken": 0}
    signed: list[bool] = []

    def on_runs(batch: list[RunReport]) -> None:
        counts["runs"] += len(batch)
        counts["broken"] += sum(not r.ok for r in batch)
        if args.json:
            reports.extend(_run_json(r) for r in batch)
            return
        for r in batch:
            _print_run(r, signed[0])

    check = await check_live(storage, tenant, keys, on_runs, args.batch, on_start=signed.append)
    ok = not check.problems and counts["broken"] == 0
    if args.json:
        out = {"ok": ok, "problems": check.problems, "purged": check.purged, "runs": reports}
        print(json.dumps(out, indent=2))
        return 0 if ok else 1
    for problem in check.problems:
        print(f"BROKEN  {problem}")
    if check.purged:
        print(f"note: {len(check.purged)} run(s) deleted by a signed retention purge")
    verdict = "verified" if ok else "FAILED"
    print(f"{verdict}: {counts['runs']} run(s), {check.checkpoints} checkpoint(s)")
    return 0 if ok else 1


async def run(args: argparse.Namespace, settings: Any) -> int:
    from cli.wiring import audit_key, open_database

    if args.audit_cmd == "public-key":
        from cli.audit_keys import retired_public_keys

        _print_keys(audit_key().public_key(), retired_public_keys(), args.json)
        return 0
    tenant = getattr(args, "tenant", None) or settings.tenant
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
            return await _check(storage, key, tenant, args)
        if args.audit_cmd == "rotate-key":
            return await _rotate(storage, args)
        if args.audit_cmd == "purge":
            return await _purge(storage, key, tenant, args, settings)
        if args.audit_cmd == "report":
            return await _report(storage, key, tenant, args)
        if args.until is not None and args.since is None:
            return fail("--until needs --since", as_json=args.json)
        bundle = await build_bundle(storage, tenant, key, args.run, args.since, args.until)
        if args.run:
            # A run the checkpoint vouches for but the database lost is exported as missing.
            proved = {p["leaf"][1] for c in bundle["checkpoints"] for p in c.get("proofs", ())}
            unknown = sorted(set(args.run) - {r["run_id"] for r in bundle["runs"]} - proved)
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


async def _rotate(storage: Any, args: argparse.Namespace) -> int:
    """A new key, then a checkpoint of each workspace signed with it, so bundles exported from
    now on verify with the new key alone; the earlier checkpoints name the old one."""
    from cli.audit_keys import retired_public_keys, rotate

    old, new = rotate()
    signed, refused = [], []
    for tenant in await storage.audit.tenants():
        try:
            await checkpoint_now(storage, new, tenant)
            signed.append(tenant)
        except Tampered as exc:
            refused.append(exc.message)
    if args.json:
        print(
            json.dumps(
                {
                    "retired": key_id(old),
                    "current": key_id(new.public_key()),
                    "checkpointed": signed,
                    "refused": refused,
                }
            )
        )
    else:
        print(f"retired key {key_id(old)}; signing now with key {key_id(new.public_key())}")
        print(f"signed a checkpoint of {len(signed)} workspace(s) with the new key")
        for message in refused:
            print(f"error: {message}", file=sys.stderr)
        print("give auditors every public key:", file=sys.stderr)
        _print_keys(new.public_key(), retired_public_keys(), False)
    return 1 if refused else 0


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
