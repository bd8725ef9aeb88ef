"""The auditor's report: one row per approval step decided in a window, built from the same
runs, events and definition versions an export bundle holds (so it agrees with `verify`).
Pure: the CLI renders the rows as CSV or HTML."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# Column names of the CSV, in order (the HTML table uses the same).
COLUMNS = (
    "run_id",
    "workflow",
    "version",
    "requester",
    "step_id",
    "approvers",
    "decisions",
    "separation_of_duties",
    "requested_at",
    "decided_at",
    "seconds_to_decision",
    "outcome",
    "run_status",
    "decision_hash",
    "run_head_hash",
    "chain_verified",
    "shown_hashes",
)

HELD, SELF_ALLOWED, VIOLATED = "held", "self-approved (allowed)", "VIOLATED"


@dataclass(frozen=True)
class Decided:
    actor: str
    decision: str
    at: datetime
    channel: str
    override: bool
    shown: str = ""  # the sha256 of what the decider was shown ("" when none was recorded)

    def text(self) -> str:
        how = " (operator override)" if self.override else ""
        return f"{self.actor} {self.decision} at {self.at.isoformat()} via {self.channel}{how}"


@dataclass(frozen=True)
class ReportRow:
    run_id: str
    workflow: str
    version: int
    requester: str
    step_id: str
    approvers: tuple[str, ...]  # everyone listed: requested, escalated or delegated to
    decisions: tuple[Decided, ...]
    separation_of_duties: str  # HELD, SELF_ALLOWED or VIOLATED
    requested_at: datetime | None
    decided_at: datetime
    outcome: str  # approved / rejected, or what the step did after (e.g. cancelled: "undecided")
    run_status: str  # the run's final status, or "running"
    decision_hash: str  # the hash of the event that decided the step (its newest decision)
    # Each decision's `shown` is the evidence hash of what its maker was shown (engine.shown).
    run_head_hash: str
    chain_verified: bool

    @property
    def seconds_to_decision(self) -> int | None:
        if self.requested_at is None:
            return None
        return int((self.decided_at - self.requested_at).total_seconds())

    def cells(self) -> dict[str, str]:
        """The row as the CSV writes it: text only, times in ISO 8601 (UTC as stored)."""
        took = self.seconds_to_decision
        return {
            "run_id": self.run_id,
            "workflow": self.workflow,
            "version": str(self.version),
            "requester": self.requester,
            "step_id": self.step_id,
            "approvers": " ".join(self.approvers),
            "decisions": "; ".join(d.text() for d in self.decisions),
            "separation_of_duties": self.separation_of_duties,
            "requested_at": self.requested_at.isoformat() if self.requested_at else "",
            "decided_at": self.decided_at.isoformat(),
            "seconds_to_decision": "" if took is None else str(took),
            "outcome": self.outcome,
            "run_status": self.run_status,
            "decision_hash": self.decision_hash,
            "run_head_hash": self.run_head_hash,
            "chain_verified": "yes" if self.chain_verified else "NO",
            "shown_hashes": "; ".join(
                f"{d.actor}: {d.shown or 'none recorded'}"
                for d in self.decisions
                if not d.override and d.channel != "system"
            ),
        }


def report_rows(
    bundle: dict[str, Any], since: datetime, until: datetime, broken: frozenset[str] = frozenset()
) -> list[ReportRow]:
    """The approval steps of `bundle`'s runs whose deciding decision falls in [since, until),
    ordered by that time. `broken`: runs whose chain or checkpoint did not verify."""
    defs = {
        (d["name"], int(d["version"])): json.loads(d["canonical"]) for d in bundle["definitions"]
    }
    rows = []
    for run in bundle["runs"]:
        rows.extend(_run_rows(run, defs, since, until, run["run_id"] not in broken))
    return sorted(rows, key=lambda r: (r.decided_at, r.run_id, r.step_id))


def _run_rows(
    run: dict[str, Any],
    defs: dict[tuple[str, int], dict[str, Any]],
    since: datetime,
    until: datetime,
    verified: bool,
) -> list[ReportRow]:
    events = run["events"]
    if not events or events[0]["event"].get("type") != "run_started":
        return []
    started = events[0]["event"]
    definition = defs.get((started["workflow"], started["version"]), {"steps": []})
    self_ok = {s["id"] for s in definition["steps"] if s.get("allow_self_approval")}
    status = next(
        (e["event"]["status"] for e in events if e["event"].get("type") == "run_finished"),
        "running",
    )
    head = events[-1]["hash"]
    listed: dict[str, list[str]] = {}
    requested: dict[str, datetime] = {}
    decided: dict[str, list[tuple[Decided, str]]] = {}
    outcome: dict[str, str] = {}
    for e in events:
        ev, kind = e["event"], e["event"].get("type")
        step = ev.get("step_id")
        if kind in ("approval_requested", "step_escalated"):
            requested.setdefault(step, _at(ev))
            people = listed.setdefault(step, [])
            people.extend(p for p in ev["approvers"] if p not in people)
        elif kind == "step_delegated" and ev["to"] not in listed.setdefault(step, []):
            listed[step].append(ev["to"])
        elif kind == "decision_recorded":
            one = Decided(
                ev["actor"],
                ev["decision"],
                _at(ev),
                ev["channel"],
                ev.get("override", False),
                (ev.get("shown") or {}).get("sha256", ""),
            )
            decided.setdefault(step, []).append((one, e["hash"]))
        elif kind == "step_completed" and step in decided:
            outcome.setdefault(step, ev["outcome"])
    rows = []
    for step, made in decided.items():
        last, last_hash = made[-1]
        if not since <= last.at < until:
            continue
        by_requester = any(d.actor == started["requester"] for d, _ in made)
        sod = HELD if not by_requester else SELF_ALLOWED if step in self_ok else VIOLATED
        rows.append(
            ReportRow(
                run_id=run["run_id"],
                workflow=started["workflow"],
                version=started["version"],
                requester=started["requester"],
                step_id=step,
                approvers=tuple(listed.get(step, [])),
                decisions=tuple(d for d, _ in made),
                separation_of_duties=sod,
                requested_at=requested.get(step),
                decided_at=last.at,
                outcome=outcome.get(step, "undecided"),
                run_status=status,
                decision_hash=last_hash,
                run_head_hash=head,
                chain_verified=verified,
            )
        )
    return rows


def _at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["at"])
