"""`countersign tasks list`: every pending human task with its SLA clock — how long it has
waited, when it is next reminded, when it escalates or times out — longest waiting first."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta
from typing import Any

from cli.output import emit, table, when
from cli.settings import Settings
from cli.wiring import open_engine
from engine import Duration, InvalidInput, one_line


def add_parsers(sub: Any) -> None:
    tasks = sub.add_parser("tasks", help="pending human tasks and their SLA (waited, next steps)")
    cmds = tasks.add_subparsers(dest="tasks_cmd", required=True, metavar="ACTION")
    ls = cmds.add_parser("list", help="pending tasks, longest waiting first")
    ls.add_argument("--tenant", help="the workspace (default: the TENANT setting)")
    ls.add_argument("--as", dest="actor", help="only the tasks of this person (user id or email:)")
    ls.add_argument("--limit", type=int, default=100)
    # Also accepted after the command; the top-level --json keeps working when this is absent.
    ls.add_argument("--json", action="store_true", default=argparse.SUPPRESS)


def span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return "<1m"
    return str(Duration(seconds=seconds - seconds % 60))


def upcoming(at: datetime | None, now: datetime) -> str:
    if at is None:
        return "-"
    return f"in {span(at - now)}" if at > now else "overdue"


def row_data(t: Any, now: datetime) -> dict[str, Any]:
    return {
        "run_id": t.run_id,
        "workflow": t.workflow,
        "version": t.version,
        "step_id": t.step_id,
        "step_title": t.step_title,
        "summary": t.summary,
        "kind": t.kind,
        "approvers": list(t.approvers),
        "requester": t.requester,
        "waiting_since": t.waiting_since,
        "waited_seconds": max(0, int((now - t.waiting_since).total_seconds())),
        "escalation_level": t.escalation_level,
        "next_reminder_at": t.next_reminder_at,
        "escalates_at": t.escalates_at,
        "times_out_at": t.times_out_at,
        "paused": t.paused,
        "open_question": t.open_question,
    }


def next_deadline(t: Any, now: datetime) -> str:
    if t.paused:
        return "paused (question open)"
    if t.escalates_at is not None:
        return f"escalates {upcoming(t.escalates_at, now)}"
    if t.times_out_at is not None:
        return f"times out {upcoming(t.times_out_at, now)}"
    return "-"


async def run(args: argparse.Namespace, settings: Settings) -> int:
    tenant = args.tenant or settings.tenant
    if args.limit < 1:
        raise InvalidInput({"limit": "must be at least 1"})
    async with open_engine(settings) as engine:
        found = await engine.sla(tenant, principal=args.actor, limit=args.limit)
        now = engine.clock.now()
    found = sorted(found, key=lambda t: t.waiting_since)
    rows = [
        [
            span(now - t.waiting_since),
            t.run_id,
            f"{t.workflow}/{t.step_id}",
            ", ".join(t.approvers),
            "paused" if t.paused else upcoming(t.next_reminder_at, now),
            next_deadline(t, now),
            one_line(t.summary, 60),
        ]
        for t in found
    ]
    headers = ["WAITED", "RUN", "STEP", "WAITING ON", "NEXT REMINDER", "ESCALATION/TIMEOUT"]
    headers.append("SUMMARY")
    text = table(rows, headers) if rows else "nothing is waiting on anyone"
    if rows:
        text += f"\n({len(rows)} pending, as of {when(now)} UTC)"
    emit([row_data(t, now) for t in found], text, as_json=args.json)
    return 0
