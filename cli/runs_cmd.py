"""`countersign runs ...`: start, list, inspect, cancel and decide runs without Slack."""

from __future__ import annotations

import argparse
import getpass
from typing import Any

from cli.output import emit, table, when
from cli.settings import Settings
from cli.wiring import open_engine
from engine.display import one_line
from engine.errors import InvalidInput
from engine.state import RunState
from engine.timeline import describe


def add_parsers(sub: Any) -> None:
    runs = sub.add_parser("runs", help="start, inspect, cancel and decide runs")
    cmds = runs.add_subparsers(dest="runs_cmd", required=True, metavar="ACTION")

    s = cmds.add_parser("start", help="start a run of a workflow")
    s.add_argument("workflow")
    s.add_argument("--input", "-i", action="append", default=[], metavar="KEY=VALUE")
    s.add_argument("--as", dest="actor", help="the requester (default: your login name)")
    s.add_argument(
        "--idempotency-key", help="a retried start with the same key returns the same run"
    )

    ls = cmds.add_parser("list", help="recent runs, newest first")
    ls.add_argument("--status", help="running, completed, rejected, failed, cancelled...")
    ls.add_argument("--workflow")
    ls.add_argument("--limit", type=int, default=50)

    sh = cmds.add_parser("show", help="a run's state and timeline")
    sh.add_argument("run_id")

    c = cmds.add_parser("cancel", help="cancel a run (completed steps are compensated)")
    c.add_argument("run_id")
    c.add_argument("--reason", default="")
    c.add_argument("--as", dest="actor", help="who cancels (default: your login name)")

    d = cmds.add_parser("decide", help="decide a pending step on someone's behalf (audited)")
    d.add_argument("run_id")
    d.add_argument("step")
    d.add_argument("decision", choices=["approve", "reject"])
    d.add_argument("--as", dest="actor", required=True, help="the person decided for")
    d.add_argument("--field", "-f", action="append", default=[], metavar="KEY=VALUE")
    for p in cmds.choices.values():
        p.add_argument("--tenant", help="the workspace (default: the TENANT setting)")


def pairs(items: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput({what: f"{item!r} is not KEY=VALUE"})
        out[key.strip()] = value
    return out


def summary(run: RunState) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "workflow": run.workflow,
        "version": run.version,
        "summary": run.summary,
        "status": run.status,
        "current_step": run.current_step,
        "requester": run.requester,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "reason": run.reason,
    }


async def run(args: argparse.Namespace, settings: Settings) -> int:
    tenant = args.tenant or settings.tenant
    me = f"cli:{getpass.getuser()}"
    async with open_engine(settings) as engine:
        cmd = args.runs_cmd
        if cmd == "start":
            state = await engine.start_run(
                tenant,
                args.workflow,
                pairs(args.input, "input"),
                args.actor or me,
                idempotency_key=args.idempotency_key,
            )
            emit(
                summary(state),
                f"started {state.run_id} ({state.workflow} v{state.version})",
                as_json=args.json,
            )
        elif cmd == "list":
            page = await engine.list_runs(
                tenant, status=args.status, workflow=args.workflow, limit=args.limit
            )
            rows = [
                [
                    r.run_id,
                    r.workflow,
                    r.status,
                    r.current_step or "-",
                    r.requester,
                    when(r.started_at),
                    one_line(r.summary, 60),
                ]
                for r in page.runs
            ]
            headers = ["RUN", "WORKFLOW", "STATUS", "STEP", "REQUESTER", "STARTED", "SUMMARY"]
            emit([summary(r) for r in page.runs], table(rows, headers), as_json=args.json)
        elif cmd == "show":
            state = await engine.get_run(tenant, args.run_id)
            events = await engine.timeline(tenant, args.run_id)
            lines = [f"{when(e.event.at)}  {describe(e.event)}" for e in events]
            head = (
                f"{state.run_id}  {state.workflow} v{state.version}  {state.status}"
                f"{'  at ' + state.current_step if state.current_step else ''}"
            )
            data = {
                **summary(state),
                "steps": {k: v.model_dump(mode="json") for k, v in state.steps.items()},
                "timeline": [
                    {
                        "seq": e.seq,
                        "at": e.event.at,
                        "type": e.event.type,
                        "text": describe(e.event),
                    }
                    for e in events
                ],
            }
            emit(data, "\n".join([head, *lines]), as_json=args.json)
        elif cmd == "cancel":
            state = await engine.cancel(
                tenant, args.run_id, args.actor or me, args.reason, channel="cli", admin=True
            )
            emit(summary(state), f"{state.run_id}: {state.status}", as_json=args.json)
        elif cmd == "decide":
            state = await engine.decide(
                tenant,
                args.run_id,
                args.step,
                args.actor,
                args.decision,
                pairs(args.field, "field"),
                channel="cli",
                override=True,
            )
            step = state.steps[args.step]
            emit(
                summary(state),
                f"{state.run_id}: step {args.step} {step.status}; run {state.status}",
                as_json=args.json,
            )
    return 0
