"""`countersign outbox dead | retry ID`: the commands the engine gave up on (their outcome could
not be recorded), and putting one back."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from cli.output import emit, table, when
from cli.settings import Settings
from cli.wiring import open_engine


def add_parsers(sub: Any) -> None:
    outbox = sub.add_parser("outbox", help="commands the engine gave up on, and retrying them")
    cmds = outbox.add_subparsers(dest="outbox_cmd", required=True, metavar="ACTION")
    dead = cmds.add_parser("dead", help="dead commands, the most recent first")
    dead.add_argument("--tenant", help="only this workspace's (default: every workspace's)")
    retry = cmds.add_parser("retry", help="put a dead command back: it is performed again")
    retry.add_argument("id", type=int, metavar="ID", help="the command's id (from `outbox dead`)")
    for p in cmds.choices.values():
        # Also accepted after the command; the top-level --json keeps working when absent.
        p.add_argument("--json", action="store_true", default=argparse.SUPPRESS)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    async with open_engine(settings) as engine:
        if args.outbox_cmd == "dead":
            found = await engine.dead_commands(args.tenant)
            rows = [
                [
                    str(d.id),
                    d.tenant_id,
                    d.run_id,
                    d.step_id or "-",
                    d.type,
                    str(d.attempts),
                    when(d.dead_at),
                    d.last_error or "",
                ]
                for d in found
            ]
            headers = ["ID", "TENANT", "RUN", "STEP", "COMMAND", "ATTEMPTS", "DIED", "LAST ERROR"]
            emit([asdict(d) for d in found], table(rows, headers), as_json=args.json)
        else:
            back = await engine.retry_command(args.id)
            text = (
                f"command {back.id} ({back.type}, run {back.run_id}, step {back.step_id or '-'}) "
                "is queued again; the server performs it at its next outbox poll"
            )
            emit(asdict(back), text, as_json=args.json)
    return 0
