"""Read paths at scale: `python -m bench.scale [--runs 1000000] [--repeat 100] [--rebuild]`.

Builds (once; `--rebuild` makes them again) two schemas of the `scale_bench` database with the
same shape at 10,000 and at `--runs` runs (see `bench.scale_data`: 1,000 tenants, TBIG with a
fifth of the runs, a tenth of the runs waiting on a person, UHEAVY with 500 of TBIG's tasks).
Then, for each size, it starts the real app (`python app.py`, web server, no Slack) with TENANT
TBIG, times its start-up to `/readyz` and reads its RSS from /proc, and times every read path a
person or a machine uses, the two sizes interleaved call by call so that both see the same
machine load:
  - the REST API (an API key) and the web pages (a session), over HTTP to that process;
  - App Home (approver, requester), `/workflow inbox` and `status`, and the CLI's `runs list`
    and `tasks`, in this process over the same database: the listener's or command's own code
    from the engine call to the blocks or table built (Slack's and a new process's own time
    left out; App Home's blocks are serialised as they would be sent).
Prints p50 / p99 ms at both sizes, the p99 ratio, the target and whether it is met, then the
process figures. `--drop` drops the `scale_bench` database and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
from sqlalchemy import text

from bench import scale_data as data
from bench.engine import NoOp
from bot.background import Background
from bot.blocks.run_status import runs_blocks
from bot.home import HomeTab
from bot.home_openers import MemoryHomeOpeners
from bot.listeners import commands as slash
from bot.listeners.command_request import Request
from cli.output import table
from engine.runtime.router import ROUTED_COMMANDS
from engine.runtime.service import Engine
from storage import Storage, open_storage
from storage.access import sql_access_stores

TARGET_MS = 50.0
HOME_TARGET_MS = 100.0  # App Home for a person with 500 tasks, blocks included
ROOT = Path(__file__).resolve().parent.parent  # where app.py is
EMAIL = "email:pat@example.com"  # someone outside the workspace: /runs shows their runs only

Action = Callable[[], Awaitable[Any]]


@dataclass
class Site:
    """One size: its database, its app process and the clients that read it."""

    size: int
    storage: Storage
    engine: Engine
    process: asyncio.subprocess.Process
    base: str
    startup_s: float
    http: aiohttp.ClientSession | None = None
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    cursors: dict[str, str] = field(default_factory=dict)
    run_id: str = ""
    rss_ready_mb: float = 0.0
    cpu_ready_s: float = 0.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_s(pid: int) -> float:
    """CPU seconds the process has used (user + system): its start-up cost whatever the load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int, field_name: str = "VmRSS") -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


async def start_site(size: int) -> Site:
    url = f"{data.URL}?search_path={data.schema_of(size)}"
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "TENANT": data.TENANT,
        "HTTP_PORT": str(port),
        "SECRET_KEY": "scale-bench-secret-key-0123456789abcdef",
        "LOG_LEVEL": "WARNING",
        "SLACK_BOT_TOKEN": "",
        "SLACK_APP_TOKEN": "",
        "REDIS_URL": "",
    }
    t0 = time.perf_counter()
    # The app's log outlives this call (it is read when the app fails to start).
    log = tempfile.NamedTemporaryFile(prefix=f"scale-{size}-", suffix=".log", delete=False)  # noqa: SIM115
    process = await asyncio.create_subprocess_exec(
        sys.executable, "app.py", cwd=ROOT, env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        while True:
            if process.returncode is not None:
                raise SystemExit(f"app.py exited with {process.returncode}: see {log.name}")
            try:
                async with http.get(base + "/readyz") as r:
                    if r.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.02)
    startup = time.perf_counter() - t0
    storage = await open_storage(url)
    engine = Engine.from_storage(storage)
    for command_type in ROUTED_COMMANDS:
        engine.register(command_type, NoOp())
    site = Site(size, storage, engine, process, base, startup)
    site.rss_ready_mb = _rss_mb(process.pid)
    site.cpu_ready_s = _cpu_s(process.pid)
    try:
        await _sign_in(site)
    except BaseException:
        await stop_site(site)
        raise
    return site


async def _sign_in(site: Site) -> None:
    access = sql_access_stores(site.storage.engine)
    now = datetime.now(UTC)
    key = await access.api_keys.create_key(data.TENANT, "scale bench", now)
    site.headers = {"Authorization": f"Bearer {key.secret}"}
    for who in (data.HEAVY, data.REQUESTER, EMAIL):
        made = await access.sessions.create_session(data.TENANT, who, now, now + timedelta(hours=6))
        site.cookies[who] = made.token
    site.http = aiohttp.ClientSession()
    async with site.storage.engine.connect() as conn:
        site.run_id = (
            await conn.execute(
                text(
                    "SELECT run_id FROM pending_tasks WHERE tenant_id = :t AND principal = :p "
                    "ORDER BY run_id LIMIT 1"
                ),
                {"t": data.TENANT, "p": data.HEAVY},
            )
        ).scalar_one()
    # Cursors to later pages, as a client paging through would hold them.
    for name, filters, pages, limit in (
        ("newest", {}, 20, 50),
        ("running", {"status": "running"}, 1, 50),
        ("rare", {"workflow": "scale-rare"}, 1, 10),  # 40 such runs at 10,000
    ):
        cursor = None
        for page in range(1, pages + 1):
            found = await site.engine.list_runs(data.TENANT, limit=limit, cursor=cursor, **filters)
            cursor = found.next_cursor
            assert cursor is not None, f"{name}: no page {page + 1}"
            if page in (1, 19):
                site.cursors[f"{name}{page + 1}"] = cursor
    # The SLA page's second page (TBIG has about 200 tasks at 10,000), as "More tasks" links.
    sla = (await site.engine.sla_page(data.TENANT, limit=100)).next_cursor
    assert sla is not None, "no second SLA page"
    site.cursors["sla2"] = sla


async def stop_site(site: Site) -> dict[str, float]:
    figures = {
        "startup_s": site.startup_s,
        "cpu_ready_s": site.cpu_ready_s,
        "rss_ready_mb": site.rss_ready_mb,
        "rss_after_mb": _rss_mb(site.process.pid),
        "rss_peak_mb": _rss_mb(site.process.pid, "VmHWM"),
    }
    if site.http is not None:
        await site.http.close()
    site.process.terminate()
    await asyncio.wait_for(site.process.wait(), 30)
    await site.storage.close()
    return figures


def _as_dict(block: Any) -> Any:
    return block.to_dict()


class _Slack:
    """Where App Home and slash-command answers go: serialised as Slack would be sent them."""

    async def for_tenant(self, tenant_id: str) -> _Slack:
        return self

    async def views_publish(self, *, user_id: str, view: dict[str, Any]) -> None:
        json.dumps(view, default=_as_dict)

    async def respond(self, **message: Any) -> None:
        json.dumps(message, default=_as_dict)


def paths(site: Site) -> dict[str, tuple[float, Action]]:
    """Each read path: (its p99 target, one call)."""
    assert site.http is not None
    http = site.http
    engine = site.engine
    tenant = data.TENANT

    def api(path: str) -> Action:
        async def call() -> None:
            async with http.get(site.base + "/api/v1" + path, headers=site.headers) as r:
                if r.status != 200:
                    raise SystemExit(f"GET /api/v1{path}: {r.status} {await r.text()}")
                await r.read()

        return call

    def page(path: str, who: str) -> Action:
        cookie = {"Cookie": f"cs_session={site.cookies[who]}"}

        async def call() -> None:
            async with http.get(site.base + path, headers=cookie, allow_redirects=False) as r:
                if r.status != 200:
                    raise SystemExit(f"GET {path} as {who}: {r.status}")
                await r.read()

        return call

    slack = _Slack()
    home = HomeTab(slack, engine, Background(), MemoryHomeOpeners())  # type: ignore[arg-type]

    def app_home(user: str) -> Action:
        async def call() -> None:
            await home._openers.opened(tenant, user, 0, engine.clock.now())
            await home._publish(tenant, user)

        return call

    deps = SimpleNamespace(engine=engine, is_admin=lambda _user: False)

    def command(sub: str, user: str, words: str = "") -> Action:
        handler = {"inbox": slash._inbox, "status": slash._status}[sub]

        async def call() -> None:
            body = {"user_id": user, "text": f"{sub} {words}".strip()}
            request = Request(deps, body, tenant, slack.respond, slack)  # type: ignore[arg-type]
            await handler(request)

        return call

    async def cli_runs_list() -> None:
        found = await engine.list_runs(tenant, limit=50)
        table([[r.run_id, r.workflow, r.status, r.requester] for r in found.runs], ["RUN"] * 4)

    async def cli_tasks(actor: str | None = None) -> None:
        found = await engine.sla(tenant, principal=actor, limit=100)
        table([[t.run_id, t.step_id, ", ".join(t.approvers)] for t in found], ["RUN"] * 3)

    async def status_blocks() -> None:
        found = await engine.list_runs(tenant, requester=data.REQUESTER, limit=10)
        runs_blocks(found.runs)

    c = site.cursors
    run = site.run_id
    t = TARGET_MS
    return {
        "API runs, newest": (t, api("/runs")),
        "API runs, newest, page 2": (t, api(f"/runs?cursor={c['newest2']}")),
        "API runs, newest, page 20": (t, api(f"/runs?cursor={c['newest20']}")),
        "API runs status=failed (none)": (t, api("/runs?status=failed")),
        "API runs status=cancelled": (t, api("/runs?status=cancelled")),
        "API runs status=running, page 2": (t, api(f"/runs?status=running&cursor={c['running2']}")),
        f"API runs requester={data.RARE}": (t, api(f"/runs?requester={data.RARE}")),
        "API runs workflow=scale-rare": (t, api("/runs?workflow=scale-rare")),
        "API runs workflow=scale-rare, page 2 of 10": (
            t,
            api(f"/runs?workflow=scale-rare&limit=10&cursor={c['rare2']}"),
        ),
        "API run detail": (t, api(f"/runs/{run}")),
        f"API tasks approver={data.HEAVY} (100 of 500)": (t, api(f"/tasks?approver={data.HEAVY}")),
        "API tasks of the tenant": (t, api("/tasks")),
        f"web / (dashboard) of {data.HEAVY}": (t, page("/", data.HEAVY)),
        f"web / of requester {data.REQUESTER}": (t, page("/", data.REQUESTER)),
        "web /runs": (t, page("/runs", data.HEAVY)),
        "web /runs?status=running": (t, page("/runs?status=running", data.HEAVY)),
        f"web /runs?requester={data.RARE}": (t, page(f"/runs?requester={data.RARE}", data.HEAVY)),
        "web /runs, page 2": (t, page(f"/runs?cursor={c['newest2']}", data.HEAVY)),
        "web /runs of an email person (participant)": (t, page("/runs", EMAIL)),
        "web /sla (tenant: 100 rows, counts of all)": (t, page("/sla", data.HEAVY)),
        "web /sla, page 2": (t, page(f"/sla?cursor={c['sla2']}", data.HEAVY)),
        f"web /sla?mine=1 of {data.HEAVY} (100 of 500)": (t, page("/sla?mine=1", data.HEAVY)),
        "web run page": (t, page(f"/runs/{run}", data.HEAVY)),
        f"App Home of approver {data.HEAVY}": (HOME_TARGET_MS, app_home(data.HEAVY)),
        f"App Home of requester {data.REQUESTER}": (HOME_TARGET_MS, app_home(data.REQUESTER)),
        f"/workflow inbox ({data.HEAVY})": (t, command("inbox", data.HEAVY)),
        f"/workflow status ({data.REQUESTER})": (t, command("status", data.REQUESTER)),
        "/workflow status RUN": (t, command("status", data.HEAVY, run)),
        "CLI runs list": (t, cli_runs_list),
        "CLI tasks (tenant)": (t, cli_tasks),
        f"CLI tasks --actor {data.HEAVY}": (t, lambda: cli_tasks(data.HEAVY)),
    }


def _p99(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


async def measure(sites: list[Site], repeat: int, only: str | None) -> dict[str, Any]:
    """Each path, the sizes interleaved call by call (after one warm-up call each)."""
    by_site = [paths(site) for site in sites]
    found: dict[str, Any] = {}
    for name, (target, _) in by_site[0].items():
        if only and only not in name:
            continue
        actions = [p[name][1] for p in by_site]
        times: list[list[float]] = [[] for _ in sites]
        for action in actions:
            await action()  # warm: plans and pages cached as in a running server
        for _ in range(repeat):
            for i, action in enumerate(actions):
                t0 = time.perf_counter()
                await action()
                times[i].append((time.perf_counter() - t0) * 1000)
        found[name] = {
            "target": target,
            "sizes": [(statistics.median(ts), _p99(ts)) for ts in times],
        }
        print(".", end="", flush=True)
    print()
    return found


def report(found: dict[str, Any], sizes: list[int], processes: list[dict[str, float]]) -> None:
    small, large = sizes
    print(f"\np50 / p99 ms; ratio = p99 at {large:,} / p99 at {small:,}; target: p99 below it at")
    print(f"{large:,} runs and within 2x of the {small:,}-run p99\n")
    print(f"| operation | {small:,} p50 / p99 | {large:,} p50 / p99 | ratio | target | met? |")
    print("|---|---|---|---|---|---|")
    for name, figures in found.items():
        (s50, s99), (l50, l99) = figures["sizes"]
        target = figures["target"]
        ratio = l99 / s99
        met = "yes" if l99 < target and ratio <= 2 else "**no**"
        print(
            f"| {name} | {s50:.1f} / {s99:.1f} | {l50:.1f} / {l99:.1f} | {ratio:.1f}x "
            f"| < {target:.0f} ms | {met} |"
        )
    print("\n| app process | " + " | ".join(f"{s:,} runs" for s in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    rows = (
        ("start-up to /readyz (s)", "startup_s", "{:.2f}"),
        ("CPU used by then (s)", "cpu_ready_s", "{:.2f}"),
        ("RSS when ready (MB)", "rss_ready_mb", "{:.0f}"),
        ("RSS after the pass (MB)", "rss_after_mb", "{:.0f}"),
        ("peak RSS (MB)", "rss_peak_mb", "{:.0f}"),
    )
    for label, key, fmt in rows:
        print(f"| {label} | " + " | ".join(fmt.format(p[key]) for p in processes) + " |")


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000, help="the larger size")
    parser.add_argument("--small", type=int, default=10_000, help="the smaller size")
    parser.add_argument("--repeat", type=int, default=100, help="timed calls per path and size")
    parser.add_argument("--rebuild", action="store_true", help="make the databases again")
    parser.add_argument("--only", help="time only the paths whose name contains this")
    parser.add_argument("--drop", action="store_true", help="drop the scale_bench database")
    args = parser.parse_args()
    if args.drop:
        await data.drop()
        return
    sizes = [args.small, args.runs]
    for size in sizes:
        if args.rebuild or not await data.exists(size):
            await data.build(size)
    sites: list[Site] = []
    processes: list[dict[str, float]] = []
    try:
        for size in sizes:
            sites.append(await start_site(size))
        load = os.getloadavg()
        print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; timing", end="")
        found = await measure(sites, args.repeat, args.only)
    finally:
        for site in sites:
            processes.append(await stop_site(site))
    load = os.getloadavg()
    print(f"load average after: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    report(found, sizes, processes)


if __name__ == "__main__":
    asyncio.run(main())
