"""`countersign mcp --tenant T`: the approvals API as MCP tools over stdio, for an AI agent's
host (Claude Desktop, an IDE, an agent framework) to start as a subprocess. It records requests
in the database like the other CLI commands; the serving process (`countersign serve`) sends
the cards, reminders and timeouts, and people decide there. The same tools are served over HTTP
at /api/v1/mcp by `countersign serve` (`web.mcp_http`)."""

from __future__ import annotations

import argparse
from typing import Any

from cli.settings import Settings
from cli.wiring import open_engine
from outbound.http import HostPolicy
from web.api.approval_actions import Asker
from web.api.routes import ApiDeps
from web.mcp_server import build_server
from web.pages.live import LiveHub

# Decisions are committed by another process (`serve`), which this one does not hear: a waiting
# tool reads the request again this often (one indexed row read).
POLL_SECONDS = 1.0
ACTOR = "mcp:stdio"  # recorded as the requester; there is no tool that decides anyway


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "mcp",
        help="serve the approvals API as MCP tools over stdio (for AI agents)",
        description="Speak MCP (JSON-RPC) on stdin/stdout: tools to request, get, list and "
        "cancel approvals in one workspace. There is no tool that approves.",
    )
    p.add_argument("--tenant", help="the workspace the requests go to (default: TENANT)")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    tenant = args.tenant or settings.tenant
    asker = Asker(tenant, ACTOR, ACTOR)
    async with open_engine(settings) as engine:
        deps = ApiDeps(engine, engine.clock, HostPolicy(settings.outbound_allowed_hosts))
        server = build_server(deps, LiveHub(), lambda _ctx: asker, poll=POLL_SECONDS)
        await server.run_stdio_async()
    return 0
