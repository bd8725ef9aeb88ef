"""`countersign schedules list`: the scheduled workflows of a workspace and when each fires next
(in UTC and in the schedule's own time zone)."""

from __future__ import annotations

import argparse
from typing import Any
from zoneinfo import ZoneInfo

from cli.output import emit, table, when
from cli.settings import Settings
from cli.wiring import open_engine
from engine import ScheduleInfo


def add_parsers(sub: Any) -> None:
    schedules = sub.add_parser("schedules", help="scheduled workflows and their next fire times")
    cmds = schedules.add_subparsers(dest="schedules_cmd", required=True, metavar="ACTION")
    ls = cmds.add_parser("list", help="scheduled workflows, the soonest to fire first")
    ls.add_argument("--tenant", help="the workspace (default: the TENANT setting)")
    # Also accepted after the command; the top-level --json keeps working when this is absent.
    ls.add_argument("--json", action="store_true", default=argparse.SUPPRESS)


def row_data(info: ScheduleInfo) -> dict[str, Any]:
    local = info.next_fire.astimezone(ZoneInfo(info.timezone)) if info.next_fire else None
    return {
        "workflow": info.workflow,
        "version": info.version,
        "kind": info.kind,
        "expression": info.expression,
        "timezone": info.timezone,
        "misfire": info.misfire,
        "disabled": info.disabled,
        "next_fire": info.next_fire,
        "next_fire_local": local,
    }


def _next(info: ScheduleInfo) -> str:
    if info.disabled:
        return "disabled"
    if info.next_fire is None:
        return "never"
    local = info.next_fire.astimezone(ZoneInfo(info.timezone))
    text = f"{when(info.next_fire)} UTC"
    if info.timezone != "UTC":
        text += f" ({when(local)} {info.timezone})"
    return text


async def run(args: argparse.Namespace, settings: Settings) -> int:
    tenant = args.tenant or settings.tenant
    async with open_engine(settings) as engine:
        found = await engine.list_schedules(tenant)
    rows = [[i.workflow, f"v{i.version}", i.description, i.misfire, _next(i)] for i in found]
    headers = ["WORKFLOW", "VERSION", "SCHEDULE", "MISFIRE", "NEXT FIRE"]
    emit([row_data(i) for i in found], table(rows, headers), as_json=args.json)
    return 0
