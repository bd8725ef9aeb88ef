"""`countersign workflows ...` and `countersign schema`."""

from __future__ import annotations

import argparse
import difflib
import json
from pathlib import Path
from typing import Any

from cli.output import emit, fail, table, when
from cli.problems import unreadable
from cli.settings import Settings
from cli.wiring import open_engine
from engine import DefinitionError, json_schema, load_definition, needs_of


def add_parsers(sub: Any) -> None:
    wf = sub.add_parser("workflows", help="validate, apply and inspect workflow definitions")
    cmds = wf.add_subparsers(dest="wf_cmd", required=True, metavar="ACTION")

    v = cmds.add_parser("validate", help="check workflow files without storing them")
    v.add_argument("files", nargs="+", type=Path)
    a = cmds.add_parser("apply", help="store workflow files (a new version when changed)")
    a.add_argument("files", nargs="+", type=Path)
    for name, help_ in (
        ("list", "the workspace's workflows"),
        ("show", "a workflow's definition"),
        ("diff", "what changed between two versions"),
        ("disable", "stop new runs of a workflow"),
        ("enable", "allow new runs again"),
    ):
        c = cmds.add_parser(name, help=help_)
        if name != "list":
            c.add_argument("name")
        if name == "show":
            c.add_argument("--version", type=int, help="a version (default: the latest)")
        if name == "diff":
            c.add_argument("--from", dest="old", type=int, help="default: the one before --to")
            c.add_argument("--to", dest="new", type=int, help="default: the latest")
    for c in cmds.choices.values():
        c.add_argument("--tenant", help="the workspace (default: the TENANT setting)")


def print_schema() -> int:
    print(json.dumps(json_schema(), indent=2))
    return 0


async def run(args: argparse.Namespace, settings: Settings) -> int:
    tenant = args.tenant or settings.tenant
    if args.wf_cmd == "validate":
        return _validate(args.files, as_json=args.json)
    if args.wf_cmd == "apply":
        sources = {}
        for path in args.files:  # all readable before any is applied
            try:
                sources[path] = path.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                raise unreadable(path, exc) from None
    async with open_engine(settings) as engine:
        if args.wf_cmd == "apply":
            results = []
            for path in args.files:
                applied = await engine.apply_definition(tenant, sources[path], str(path))
                results.append({"file": str(path), **vars(applied)})
                state = f"created version {applied.version}" if applied.created else "unchanged"
                if not args.json:
                    print(f"{path}: {applied.name} {state}{needs_note(sources[path])}")
            if args.json:
                emit(results, "", as_json=True)
            return 0
        if args.wf_cmd == "list":
            defs = await engine.list_definitions(tenant)
            needs = [needs_of(d.definition) for d in defs]
            rows = [
                [
                    d.name,
                    str(d.version),
                    "disabled" if d.disabled else "enabled",
                    d.definition.title or "",
                    n.describe() or "-",
                ]
                for d, n in zip(defs, needs, strict=True)
            ]
            listed = [
                {"name": d.name, "version": d.version, "disabled": d.disabled, "needs": vars(n)}
                for d, n in zip(defs, needs, strict=True)
            ]
            columns = ["NAME", "VERSION", "STATE", "TITLE", "NEEDS"]
            emit(listed, table(rows, columns), as_json=args.json)
            return 0
        if args.wf_cmd == "show":
            d = await engine.get_definition(tenant, args.name, args.version)
            data = {
                "name": d.name,
                "version": d.version,
                "disabled": d.disabled,
                "created_at": d.created_at,
                "definition": d.definition.model_dump(mode="json", by_alias=True),
                "source": d.source,
            }
            head = f"# {d.name} v{d.version} ({'disabled' if d.disabled else 'enabled'}), "
            emit(data, head + f"applied {when(d.created_at)}\n{d.source}", as_json=args.json)
            return 0
        if args.wf_cmd == "diff":
            return await _diff(engine, tenant, args)
        disabled = args.wf_cmd == "disable"
        await engine.set_disabled(tenant, args.name, disabled)
        emit(
            {"name": args.name, "disabled": disabled},
            f"{args.name} {args.wf_cmd}d",
            as_json=args.json,
        )
        return 0


def needs_note(text: str) -> str:
    """ "; needs Slack (…), secret …" for a workflow that cannot complete on the app alone."""
    needs = needs_of(load_definition(text)).describe()
    return f"; needs {needs}" if needs else ""


def _validate(files: list[Path], *, as_json: bool) -> int:
    report, bad = [], 0
    for path in files:
        try:
            load_definition(path.read_text(), str(path))
            report.append({"file": str(path), "ok": True, "issues": []})
            if not as_json:
                print(f"{path}: ok")
        except DefinitionError as exc:
            bad += 1
            issues = [vars(i) for i in exc.issues]
            report.append({"file": str(path), "ok": False, "issues": issues})
            if not as_json:
                print(exc.message)
        except OSError as exc:
            bad += 1
            report.append({"file": str(path), "ok": False, "issues": [{"message": str(exc)}]})
            if not as_json:
                print(f"{path}: {exc.strerror}")
    if as_json:
        emit(report, "", as_json=True)
    return 1 if bad else 0


async def _diff(engine: Any, tenant: str, args: argparse.Namespace) -> int:
    new = await engine.get_definition(tenant, args.name, args.new)
    old_version = args.old or new.version - 1
    if old_version < 1:
        return fail(
            f"{args.name} has only version {new.version}: nothing to diff", as_json=args.json
        )
    old = await engine.get_definition(tenant, args.name, old_version)
    lines = difflib.unified_diff(
        old.source.splitlines(keepends=True),
        new.source.splitlines(keepends=True),
        f"{args.name} v{old.version}",
        f"{args.name} v{new.version}",
    )
    text = "".join(lines)
    emit(
        {"from": old.version, "to": new.version, "diff": text},
        text or "(no difference)",
        as_json=args.json,
    )
    return 0
