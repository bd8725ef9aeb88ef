"""`countersign secrets ...`: each workspace's values for `{{ secrets.NAME }}` in http steps.

A value is never taken from the command line (it would stay in the shell's history and in `ps`):
it comes from an environment variable (`--from-env VAR`), from stdin when piped, or from a hidden
prompt. Nothing prints a value back.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from datetime import UTC, datetime
from typing import Any

from cli.output import emit, fail, table, when
from cli.settings import Settings
from cli.wiring import open_engine
from engine import check_secret_name as check_name


def add_parsers(sub: Any) -> None:
    sec = sub.add_parser("secrets", help="set, list and delete the secrets http steps may use")
    cmds = sec.add_subparsers(dest="secrets_cmd", required=True, metavar="ACTION")
    s = cmds.add_parser(
        "set",
        help="set (or replace) a secret; the value comes from stdin, a hidden prompt or --from-env",
    )
    s.add_argument("name", help="as templates read it: {{ secrets.NAME }}")
    s.add_argument("--from-env", metavar="VAR", help="take the value from this variable")
    cmds.add_parser("list", help="the workspace's secrets: names and when set, never values")
    d = cmds.add_parser("delete", help="delete a secret")
    d.add_argument("name")
    for p in cmds.choices.values():
        p.add_argument("--tenant", help="the workspace (default: the TENANT setting)")


def _read_value(args: argparse.Namespace) -> str | None:
    if args.from_env:
        return os.environ.get(args.from_env)
    if sys.stdin.isatty():
        return getpass.getpass(f"value of {args.name} (not shown): ")
    # Piped: the whole input, without the newline `echo` or a file adds at the end.
    return sys.stdin.read().removesuffix("\n").removesuffix("\r")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    tenant = args.tenant or settings.tenant
    value = ""
    if args.secrets_cmd == "set":
        check_name(args.name)  # before asking for a value
        read = _read_value(args)
        if read is None:
            return fail(f"{args.from_env} is not set in the environment", as_json=args.json)
        value = read
    async with open_engine(settings) as engine:
        secrets = engine.secrets
        if args.secrets_cmd == "set":
            await secrets.put(tenant, args.name, value, datetime.now(UTC))
            emit(
                {"name": args.name, "tenant": tenant},
                f"set {args.name} for {tenant}",
                as_json=args.json,
            )
        elif args.secrets_cmd == "list":
            found = await secrets.listed(tenant)
            rows = [[s.name, when(s.updated_at), s.source] for s in found]
            data = [{"name": s.name, "updated_at": s.updated_at, "source": s.source} for s in found]
            emit(data, table(rows, ["NAME", "SET AT", "FROM"]), as_json=args.json)
        else:
            await secrets.delete(tenant, args.name)
            emit(
                {"name": args.name, "deleted": True},
                f"deleted {args.name} of {tenant}",
                as_json=args.json,
            )
    return 0
