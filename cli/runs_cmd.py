"""`countersign runs ...`: start, list, inspect, cancel, decide and fill in runs without Slack.

Who may decide or fill in a step is the engine's call; these commands parse, call and word its
answer (a refusal is one line naming the person, and a non-zero exit)."""

from __future__ import annotations

import argparse
import getpass
import socket
from collections.abc import Awaitable, Callable
from typing import Any, get_args

from cli.output import emit, table, when
from cli.problems import OperatorError
from cli.settings import Settings
from cli.wiring import local_operator, open_engine
from engine import (
    Actor,
    EngineError,
    InvalidInput,
    NotAllowed,
    RunState,
    RunStatus,
    describe,
    one_line,
)

STATUSES = get_args(RunStatus)


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
    ls.add_argument("--status", choices=STATUSES, metavar="STATUS", help=", ".join(STATUSES))
    ls.add_argument("--workflow")
    ls.add_argument("--limit", type=positive, default=50)

    sh = cmds.add_parser("show", help="a run's state and timeline")
    sh.add_argument("run_id")

    c = cmds.add_parser("cancel", help="cancel a run (completed steps are compensated)")
    c.add_argument("run_id")
    c.add_argument("--reason", default="")
    c.add_argument("--as", dest="actor", help="who cancels (default: your login name)")

    d = cmds.add_parser(
        "decide",
        help="record one approver's vote on a waiting approval step (--override: close it)",
        description="Record the vote of the approver named with --as, as if they decided in "
        "Slack or by email: refused when they are not an approver of the step, already voted "
        "or the step is not waiting. --override --reason TEXT closes the step with this "
        "decision whoever approves, recorded as an operator override.",
    )
    d.add_argument("run_id")
    d.add_argument("step")
    d.add_argument("decision", choices=["approve", "reject"])
    d.add_argument(
        "--as",
        dest="actor",
        metavar="PERSON",
        help="the approver voting (with --override: who overrides; default: you)",
    )
    d.add_argument("--field", "-f", action="append", default=[], metavar="KEY=VALUE")
    d.add_argument(
        "--override", action="store_true", help="close the step with this decision (audited)"
    )
    d.add_argument(
        "--reason", default="", metavar="TEXT", help="why the override (required with it)"
    )

    f = cmds.add_parser(
        "submit",
        help="fill in a waiting input step's form as its assignee",
        description="Submit the form of an input step as the person named with --as (its "
        "assignee), the same as in Slack, by email or on the web. Repeat -f for each field; "
        "list fields take comma-separated values.",
    )
    f.add_argument("run_id")
    f.add_argument("step")
    f.add_argument(
        "--as", dest="actor", metavar="PERSON", required=True, help="the assignee filling it in"
    )
    f.add_argument("--field", "-f", action="append", default=[], metavar="KEY=VALUE")
    for p in cmds.choices.values():
        p.add_argument("--tenant", help="the workspace (default: the TENANT setting)")


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return value


def pairs(items: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput({what: f"{item!r} is not KEY=VALUE"})
        out[key.strip()] = value
    return out


def cli_actor(who: str, me: str, *, admin: bool = False) -> Actor:
    """`who` acting through the CLI, with the operator's identity proof a decision or an input
    records: the `cli:NAME` principal, the OS user and the host (ids only; the CLI has no
    credential of its own beyond access to the database)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = ""
    proof = {"cli_operator": me, "os_user": user, "host": socket.gethostname()}
    return Actor(who, "cli", admin=admin, proof=proof)


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
    me = local_operator()
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
            state = await _decide(engine, tenant, args, me)
            emit(summary(state), _outcome(state, args.step), as_json=args.json)
        elif cmd == "submit":
            values = pairs(args.field, "field")
            state = await _acted(
                lambda: engine.submit_input(
                    tenant, args.run_id, args.step, cli_actor(args.actor, me), values, channel="cli"
                ),
                engine,
                tenant,
                args,
                args.actor,
                "filled in",
            )
            emit(summary(state), _outcome(state, args.step), as_json=args.json)
    return 0


async def _decide(engine: Any, tenant: str, args: argparse.Namespace, me: str) -> RunState:
    if args.override:
        if not args.reason.strip():
            raise OperatorError("--override needs --reason TEXT: the timeline records why")
        actor = args.actor or me
    elif not args.actor:
        raise OperatorError(
            "name the approver whose vote this is with --as PERSON "
            "(or close the step with --override --reason TEXT)"
        )
    else:
        actor = args.actor
    fields = pairs(args.field, "field")
    return await _acted(
        lambda: engine.decide(
            tenant,
            args.run_id,
            args.step,
            cli_actor(actor, me, admin=True),  # the CLI is the operator's: it may override
            args.decision,
            fields,
            channel="cli",
            override=args.override,
            reason=args.reason,
        ),
        engine,
        tenant,
        args,
        actor,
        "approved" if args.decision == "approve" else "rejected",
    )


async def _acted(
    call: Callable[[], Awaitable[RunState]],
    engine: Any,
    tenant: str,
    args: argparse.Namespace,
    actor: str,
    verb: str,
) -> RunState:
    """The engine's answer to one person's action on a step, worded for the operator by its
    refusal code: whose action it refused, and that a repeat changed nothing (a repeated input
    is accepted quietly by the engine, as a redelivery, but an operator wants to know)."""
    before = await engine.get_run(tenant, args.run_id)
    try:
        state = await call()
    except EngineError as refused:
        raise OperatorError(_refusal(refused, args, actor)) from None
    if state.seq == before.seq:
        raise OperatorError(
            f"{actor} already {verb} step {args.step} of {args.run_id}; nothing changed"
        )
    return state


def _refusal(refused: EngineError, args: argparse.Namespace, actor: str) -> str:
    """One line for a refusal: a repeat names the earlier decision; a missing right, whose."""
    if refused.code == "already_voted":
        verb = "approved" if refused.facts.get("decision") == "approve" else "rejected"
        if refused.facts.get("decision") == getattr(args, "decision", None):
            return f"{actor} already {verb} step {args.step} of {args.run_id}; nothing changed"
        return f"as {actor}: you already {verb} this step ({args.step}); nothing changed"
    if isinstance(refused, NotAllowed):
        return f"as {actor}: {refused.message}"
    return f"{args.run_id}: {refused.message}"


def _outcome(state: RunState, step_id: str) -> str:
    step = state.steps[step_id]
    if step.status == "waiting":
        where = f"still waiting ({len(step.votes)} vote(s) so far, {step.required} needed)"
    else:
        where = step.outcome or step.status
    return f"{state.run_id}: step {step_id} {where}; run {state.status}"
