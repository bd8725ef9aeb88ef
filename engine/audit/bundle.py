"""Offline verification of an exported audit bundle (see `cli/audit_cmd.py` for its making).

A bundle is JSON: {format, tenant, scope, public_key, runs: [{run_id, started_at, events:
[{seq, prev_hash, hash, event}]}], definitions: [{name, version, hash, canonical}],
checkpoints: [...]}. Checked here with nothing but the bundle and a public key: each run's
chain, each checkpoint's signature and that its heads agree with the runs (a run deleted, or
its newest events, shows there), the definition versions, each decision's approver, and what
each approver or form filler was shown (the `request_shown` events a decision or an input
submission refers to).

Format /1 carries every leaf of each checkpoint; /2 may carry, instead, inclusion proofs of the
leaves the bundle needs (engine.audit.proofs). Both verify here."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from engine.audit.chain import ChainedEvent, canonical, chain_problems
from engine.audit.checkpoint import (
    PURGED,
    Checkpoint,
    checkpoint_problems,
    key_ring,
    parse_public_key,
    signature_valid,
)
from engine.audit.proofs import proved
from engine.shown import part_hash, shown_hash

FORMAT = "countersign-audit-bundle/1"
PROOF_FORMAT = "countersign-audit-bundle/2"  # checkpoints may carry inclusion proofs
FORMATS = (FORMAT, PROOF_FORMAT)
STARTS = {"step_started", "approval_requested", "input_requested", "wait_started", "signal_awaited"}


@dataclass(frozen=True)
class Saw:
    """A decision, or an input step's submission (`decision` "input"), and the rendering it
    was made on (None: nothing was recorded)."""

    seq: int
    at: str
    step_id: str
    actor: str
    decision: str
    channel: str
    proof: dict[str, str]
    shown: dict[str, Any] | None  # the request_shown event: surface, text, fields, sha256...


@dataclass
class RunReport:
    run_id: str
    chain: list[str] = field(default_factory=list)  # problems; [] = intact
    checkpoint: list[str] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)  # problems with what was shown
    saw: list[Saw] = field(default_factory=list)  # each person's decision and what they saw

    @property
    def ok(self) -> bool:
        return not (self.chain or self.checkpoint or self.decisions or self.shown)


@dataclass
class BundleReport:
    problems: list[str] = field(default_factory=list)  # about the bundle as a whole
    runs: list[RunReport] = field(default_factory=list)
    checkpoints: int = 0
    purged: list[str] = field(default_factory=list)  # runs a signed retention purge deleted

    @property
    def ok(self) -> bool:
        return not self.problems and all(r.ok for r in self.runs)


class BadBundle(ValueError):
    """The file is not a bundle at all (not JSON, wrong format, missing fields)."""


def load_bundle(text: str | bytes) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadBundle(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") not in FORMATS:
        raise BadBundle(f"not an audit bundle (expected format {' or '.join(map(repr, FORMATS))})")
    return data


def sign_bundle(data: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """`data` with a signature over all of it: the scope, the export time and the run heads
    are vouched for as much as the checkpoints (every byte of the bundle is)."""
    body = {k: v for k, v in data.items() if k != "signature"}
    return body | {"signature": key.sign(canonical(body)).hex()}


def verify_bundle(
    data: dict[str, Any],
    public_key: Ed25519PublicKey | Sequence[Ed25519PublicKey] | None = None,
) -> BundleReport:
    """Check `data` against the trusted public key(s) (several: the keys before and after a
    rotation), or, with none, against the key the bundle carries."""
    report = BundleReport()
    keys = [public_key] if isinstance(public_key, Ed25519PublicKey) else public_key
    try:
        _verify(data, keys, report)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        report.problems.append(f"malformed bundle: {type(exc).__name__}: {exc}")
    return report


def _verify(
    data: dict[str, Any], keys: Sequence[Ed25519PublicKey] | None, report: BundleReport
) -> None:
    tenant = data["tenant"]
    if not keys:
        keys = [parse_public_key(data["public_key"])]
    ring = key_ring(keys)
    body = {k: v for k, v in data.items() if k != "signature"}
    signed = canonical(body)
    if not any(signature_valid(key, data.get("signature"), signed) for key in keys):
        report.problems.append("the bundle's own signature is not valid: it was changed")
    defs: dict[tuple[str, int], dict[str, Any]] = {}
    for d in data["definitions"]:
        defs[(d["name"], int(d["version"]))] = d
        if hashlib.sha256(d["canonical"].encode()).hexdigest() != d["hash"]:
            report.problems.append(
                f"definition {d['name']} v{d['version']}: its body does not match its hash"
            )
    checkpoints: list[Checkpoint] = []
    for c in data["checkpoints"]:
        if "proofs" in c:  # only the leaves this bundle needs, each proved to the signed root
            cp, problems = proved(c, ring)
        else:
            cp = Checkpoint.from_json(c)
            problems = checkpoint_problems(cp, ring)
        checkpoints.append(cp)
        for problem in problems:
            report.problems.append(f"checkpoint of {cp.at.isoformat()}: {problem}")
    report.checkpoints = len(checkpoints)
    if not checkpoints:
        report.problems.append("no signed checkpoint: nothing vouches for the runs' heads")
    for cp in checkpoints:
        report.purged.extend(leaf[1] for leaf in cp.leaves if leaf[0] == PURGED)
        if cp.tenant_id != tenant:
            report.problems.append(f"checkpoint of {cp.at.isoformat()} is for another tenant")
        for leaf in cp.leaves:
            if leaf[0] != "definition":
                continue
            _, name, version, digest = leaf
            d = defs.get((name, version))
            if d is not None and d["hash"] != digest:
                report.problems.append(
                    f"definition {name} v{version}: differs from the one checkpointed at "
                    f"{cp.at.isoformat()}"
                )
    runs = {r["run_id"]: r for r in data["runs"]}
    for missing in sorted(_expected_runs(data["scope"], checkpoints) - runs.keys()):
        report.problems.append(f"run {missing}: in a signed checkpoint but not in the bundle")
    for _, run in sorted(runs.items()):
        report.runs.append(_verify_run(tenant, run, checkpoints, defs))


def _expected_runs(scope: dict[str, Any], checkpoints: list[Checkpoint]) -> set[str]:
    """The runs the scope covers that some checkpoint vouches for."""
    if "runs" in scope:
        wanted = set(scope["runs"])
        return {leaf[1] for cp in checkpoints for leaf in cp.leaves if leaf[0] == "run"} & wanted
    since, until = datetime.fromisoformat(scope["since"]), datetime.fromisoformat(scope["until"])
    return {
        leaf[1]
        for cp in checkpoints
        for leaf in cp.leaves
        if leaf[0] == "run" and since <= datetime.fromisoformat(leaf[2]) < until
    }


def _verify_run(
    tenant: str,
    run: dict[str, Any],
    checkpoints: list[Checkpoint],
    defs: dict[tuple[str, int], dict[str, Any]],
) -> RunReport:
    run_id = run["run_id"]
    out = RunReport(run_id)
    rows = [ChainedEvent(e["seq"], e["event"], e["prev_hash"], e["hash"]) for e in run["events"]]
    out.chain = chain_problems(tenant, run_id, rows)
    by_seq = {e["seq"]: e["hash"] for e in run["events"]}
    last = max(by_seq, default=0)
    head = run.get("head") or {}
    if head.get("hash") is not None and (head["seq"] != last or by_seq[last] != head["hash"]):
        out.chain.append(f"seq {head['seq']}: the run's head, but its events end at seq {last}")
    for cp in checkpoints:
        for leaf in cp.leaves:
            if leaf[0] != "run" or leaf[1] != run_id:
                continue
            _, _, _, seq, head = leaf
            if seq > last:
                out.checkpoint.append(
                    f"checkpoint of {cp.at.isoformat()} saw seq {seq}, the run now ends at {last}"
                )
            elif by_seq.get(seq) != head:
                out.checkpoint.append(
                    f"seq {seq}: differs from the head checkpointed at {cp.at.isoformat()}"
                )
    backfilled = run.get("chained_by_migration_up_to")
    if backfilled:
        out.notes.append(f"seq 1-{backfilled} chained by the audit migration, not when written")
    if not any(leaf[0] == "run" and leaf[1] == run_id for cp in checkpoints for leaf in cp.leaves):
        out.notes.append("not in any checkpoint yet (newer than the last one)")
    out.decisions = _decision_problems([e["event"] for e in run["events"]], defs)
    out.shown, out.saw = _what_was_shown(run["events"])
    return out


def _what_was_shown(rows: list[dict[str, Any]]) -> tuple[list[str], list[Saw]]:
    """Each request_shown record's hash against its text and fields, and each decision's (and
    input submission's) reference to one: an earlier record of the same step, shown to its
    maker (or in a shared place), with the same hash. Returns the problems and, per person's
    decision or submission, what they saw."""
    problems: list[str] = []
    shown: dict[int, dict[str, Any]] = {}
    saw: list[Saw] = []
    for row in rows:
        e, seq = row["event"], row["seq"]
        if e.get("type") == "request_shown":
            shown[seq] = e
            if shown_hash(e["text"], e["fields"]) != e["sha256"]:
                problems.append(f"seq {seq}: what was shown does not match its hash")
            html = e["fields"].get("html")
            if html is not None and part_hash(str(html)) != e["fields"].get("html_sha256"):
                problems.append(f"seq {seq}: the mail's HTML part does not match its hash")
            continue
        kind = e.get("type")
        if kind not in ("decision_recorded", "input_submitted") or e.get("channel") == "system":
            continue
        what = "decision on" if kind == "decision_recorded" else "input to"
        ref, where = e.get("shown"), f"{what} {e['step_id']} by {e['actor']}"
        record = shown.get(ref["seq"]) if ref else None
        if ref and (
            record is None
            or record["sha256"] != ref["sha256"]
            or record["step_id"] != e["step_id"]
            or not (record["recipient"] == e["actor"] or record.get("shared"))
        ):
            problems.append(f"{where}: what it was shown (seq {ref['seq']}) is not in the run")
            record = None
        saw.append(
            Saw(
                seq,
                e["at"],
                e["step_id"],
                e["actor"],
                e["decision"] if kind == "decision_recorded" else "input",
                e["channel"],
                dict(e.get("proof") or {}),
                record,
            )
        )
    return problems, saw


def _decision_problems(
    events: list[dict[str, Any]], defs: dict[tuple[str, int], dict[str, Any]]
) -> list[str]:
    """Each decision by a listed approver, not the requester unless the step allows it, and
    made before the step after it started."""
    if not events or events[0].get("type") != "run_started":
        return ["the run does not begin with run_started"]
    started = events[0]
    d = defs.get((started["workflow"], started["version"]))
    if d is None:
        return [f"definition {started['workflow']} v{started['version']} is not in the bundle"]
    steps = json.loads(d["canonical"])["steps"]
    order = {s["id"]: i for i, s in enumerate(steps)}
    self_ok = {s["id"] for s in steps if s.get("allow_self_approval")}
    listed: dict[str, set[str]] = {}
    problems: list[str] = []
    for position, e in enumerate(events):
        kind, step = e.get("type"), str(e.get("step_id"))
        if kind in ("approval_requested", "step_escalated"):
            listed.setdefault(step, set()).update(e["approvers"])
        elif kind == "step_delegated":
            listed.setdefault(step, set()).add(e["to"])
        elif kind == "decision_recorded":
            actor, where = e["actor"], f"decision on {step} by {e['actor']}"
            if e.get("override"):
                pass  # an operator's decision for someone else: audited as such, not an approver
            elif actor not in listed.get(step, set()):
                problems.append(f"{where}: not a listed approver")
            if actor == started["requester"] and step not in self_ok:
                problems.append(f"{where}: the requester, and the step does not allow it")
            later = [
                f
                for f in events[:position]
                if f.get("type") in STARTS and order.get(f.get("step_id"), -1) > order.get(step, -1)
            ]
            if later:
                problems.append(f"{where}: made after {later[0]['step_id']} had started")
    return problems
