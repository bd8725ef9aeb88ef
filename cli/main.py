"""`countersign` (or `python app.py`): the operator's command line; with no command it serves."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_settings import SettingsError

from cli import (
    apikeys_cmd,
    audit_cmd,
    definitions_cmd,
    mcp_cmd,
    outbox_cmd,
    runs_cmd,
    schedules_cmd,
    secrets_cmd,
    signin_cmd,
    tasks_cmd,
)
from cli.output import fail
from cli.problems import OperatorError, settings_problem
from cli.settings import Settings
from engine import EngineError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="countersign",
        description="Human-in-the-loop workflows: approvals in Slack, email and the web.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("serve", help="run the engine, Slack and web (the default)")
    sub.add_parser("schema", help="print the JSON Schema of workflow files")

    db = sub.add_parser("db", help="database maintenance").add_subparsers(dest="db_cmd")
    db.add_parser("upgrade", help="create or migrate the database to the current schema")

    definitions_cmd.add_parsers(sub)
    runs_cmd.add_parsers(sub)
    tasks_cmd.add_parsers(sub)
    schedules_cmd.add_parsers(sub)
    apikeys_cmd.add_parsers(sub)
    secrets_cmd.add_parsers(sub)
    outbox_cmd.add_parsers(sub)
    signin_cmd.add_parsers(sub)
    mcp_cmd.add_parsers(sub)
    audit_cmd.add_parsers(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except (OperatorError, EngineError) as exc:
        return fail(exc.message, as_json=args.json)
    except KeyboardInterrupt:
        return 130


# The commands that open storage and run in an event loop: name -> its async `run`.
ASYNC_COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]] = {
    "workflows": definitions_cmd.run,
    "runs": runs_cmd.run,
    "tasks": tasks_cmd.run,
    "schedules": schedules_cmd.run,
    "apikeys": apikeys_cmd.run,
    "secrets": secrets_cmd.run,
    "mcp": mcp_cmd.run,
    "audit": audit_cmd.run,
    "outbox": outbox_cmd.run,
}


def _run(args: argparse.Namespace) -> int:
    if args.command == "schema":
        return definitions_cmd.print_schema()
    if args.command == "audit" and args.audit_cmd == "verify":
        return audit_cmd.verify(args)  # offline: no settings, no database
    try:
        settings = Settings()
    except (ValidationError, SettingsError) as exc:
        raise settings_problem(exc) from None
    command = args.command or "serve"
    if command == "serve":
        from cli.serve import serve

        return asyncio.run(serve(settings))
    if command == "signin":
        return signin_cmd.run(args, settings)
    if command == "db":
        from cli.wiring import upgrade_database

        asyncio.run(upgrade_database(settings))
        print("database is at the current schema")
        return 0
    command_run = ASYNC_COMMANDS.get(command)
    if command_run is not None:
        return asyncio.run(command_run(args, settings))
    build_parser().print_help(sys.stderr)
    return 2
