"""AI agents waiting for people: `python -m bench.agents [--agents 1000] [--database postgres]`.

The server is a real process, `python app.py serve`, on a fresh database (a new PostgreSQL schema
on 127.0.0.1:5432, dropped after, or a temporary SQLite file); the agents and the approver run in
this process, over HTTP:
  1. N agents ask through `countersign_client.ApprovalClient.request_approval`, then all wait at
     once with `ApprovalClient.wait` (the long-poll, `GET /api/v1/approvals/{id}?wait=30s`);
  2. an approver decides every request through `POST /api/v1/runs/{id}/decisions` (another API
     key, on behalf of the listed approver), CONCURRENCY decisions in flight at a time;
  3. decision -> agent's `wait()` returns: from sending the decision to the agent holding the
     answer, p50/p99 (includes the decision's own round trip, also shown alone);
  4. the server's RSS (VmRSS) when idle, with N requests pending, and while N agents wait;
     memory per waiting request = (RSS while waiting - RSS idle) / N, as the issue defines it,
     split into the stored request's share and the open long-poll's;
  5. paced, separately (after the above, on the same server): N more agents wait, and the
     decisions arrive one every PACE_MS ms whether or not the last was answered, as people
     deciding would; the same latencies without the server saturated, i.e. the wake-up itself;
  6. SQL statements the server sent per approval request, per long-poll started and per
     decision (through its wake-up of the waiting agent), counted in the server process by
     `bench.counted_server` (the background loops' polling included: its idle rate is shown).
RSS is read once the server is quiescent (its CPU time stops growing) with every long-poll's
connection open. The client's CPU shares this machine with the server's, so latencies include it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from countersign_client import Approval, ApprovalClient
from storage import open_storage
from storage.access import SqlApiKeyStore

ROOT = Path(__file__).resolve().parent.parent
PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
TENANT = "TBENCH"
APPROVER = "U0BENCH"
STEP = "approval"  # the built-in workflow's step
CONCURRENCY = 16  # decisions (and requests) in flight at a time, as in bench.engine
WARMUP = 20  # agents asked and answered before the idle RSS is read (lazy imports, pools)
TARGET_P99_MS = 100.0
PACE_MS = 10.0  # the paced scenario: a decision every PACE_MS ms


@dataclass
class Figures:
    agents: int
    latencies: list[float] = field(default_factory=list)  # decision sent -> agent returns, s
    decide: list[float] = field(default_factory=list)  # the decision's own round trip, s
    all_answered_s: float = 0.0  # first decision sent -> every agent answered
    rss_idle: int = 0  # bytes
    rss_pending: int = 0
    rss_waiting: int = 0
    approved: int = 0
    # The paced scenario: decisions sent every PACE_MS ms (not CONCURRENCY at a time).
    paced: list[float] = field(default_factory=list)  # decision sent -> agent returns, s
    paced_decide: list[float] = field(default_factory=list)
    paced_approved: int = 0
    paced_s: float = 0.0  # first paced decision -> every agent answered
    server_cpu_s: float = 0.0  # the server's CPU time during the decisions
    client_cpu_s: float = 0.0  # this process's (agents and approver)
    # (SQL statements, BEGIN/COMMIT/ROLLBACK round trips) the server sent: while N requests
    # were asked, while N long-polls started, from the first decision until every agent had its
    # answer, and per second with nothing to do (background polling).
    asking: tuple[int, int] = (0, 0)
    waiting: tuple[int, int] = (0, 0)
    deciding: tuple[int, int] = (0, 0)
    idle_per_s: tuple[float, float] = (0.0, 0.0)


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile, in ms."""
    if len(values) == 1:
        return values[0] * 1000
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


# ---------------------------------------------------------------- the server process


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def open_connections(port: int) -> int:
    """Established TCP connections to the server's port (server side), from /proc/net/tcp."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        if parts[3] == "01" and int(parts[1].split(":")[1], 16) == port:
            count += 1
    return count


async def quiescent(pid: int, quiet: float = 0.5, step: float = 0.1) -> None:
    """Until the server has used no CPU for `quiet` seconds: every request it holds is parked."""
    last, still = cpu_ticks(pid), 0.0
    while still < quiet:
        await asyncio.sleep(step)
        now = cpu_ticks(pid)
        still = still + step if now == last else 0.0
        last = now


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def database(kind: str, folder: Path) -> AsyncIterator[str]:
    """A fresh database: its URL; a PostgreSQL schema is dropped after."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / 'bench.db'}"
        return
    schema = f"bench_agents_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(PG_DSN)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_URL}?search_path={schema}"
    finally:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


async def api_keys(url: str) -> tuple[str, str]:
    """Migrates the database and makes two keys: the agents' and the approver's (the key that
    asked may not decide)."""
    storage = await open_storage(url, create=True)
    try:
        store = SqlApiKeyStore(storage.engine)
        now = datetime.now(UTC)
        agents = await store.create_key(TENANT, "bench-agents", now)
        approver = await store.create_key(TENANT, "bench-approver", now)
        return agents.secret, approver.secret
    finally:
        await storage.close()


@contextlib.asynccontextmanager
async def server(url: str, folder: Path) -> AsyncIterator[tuple[subprocess.Popen[bytes], str]]:
    """`python app.py serve` on `url`, without Slack, Redis or SMTP: (the process, base URL)."""
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "REDIS_", "SMTP_", "DATABASE_", "HTTP_", "PUBLIC_"))
    }
    env.update(
        DATABASE_URL=url,
        HTTP_HOST="127.0.0.1",
        HTTP_PORT=str(port),
        TENANT=TENANT,
        LOG_LEVEL="WARNING",
        SECRET_KEY=secrets.token_hex(32),
        WORKFLOWS_DIR=str(folder / "workflows"),
        OUTBOX_MAIL_DIR=str(folder / "mail"),
    )
    env["STATEMENT_COUNT_FILE"] = str(folder / "statements")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    (folder / "workflows").mkdir()
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen(  # noqa: ASYNC220 (started once; waited for below)
        [sys.executable, "-m", "bench.counted_server"],
        cwd=folder,  # no developer's .env is read
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await ready(process, base, folder / "server.log")
        yield process, base
    finally:
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 30)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)
        log.close()


async def statements(process: subprocess.Popen[bytes], count_file: Path) -> tuple[int, int]:
    """The SQL statements and the BEGIN/COMMIT/ROLLBACK round trips the server has sent so far
    (see bench.counted_server)."""
    _forget(count_file)
    process.send_signal(signal.SIGUSR1)
    for _ in range(500):
        count = _read_count(count_file)
        if count is not None:
            return count
        await asyncio.sleep(0.01)
    raise RuntimeError("the server did not report its statement count")


def _forget(count_file: Path) -> None:
    count_file.unlink(missing_ok=True)


def _read_count(count_file: Path) -> tuple[int, int] | None:
    try:
        statements, transactions = count_file.read_text().split()
        return int(statements), int(transactions)
    except (FileNotFoundError, ValueError):  # not written yet, or being written
        return None


def tail(log: Path) -> str:
    return log.read_text()[-4000:]


async def ready(process: subprocess.Popen[bytes], base: str, log: Path) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            if process.poll() is not None:
                raise RuntimeError(f"the server exited ({process.returncode}):\n{tail(log)}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(base + "/readyz") as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the server did not become ready:\n{tail(log)}")


# ---------------------------------------------------------------- agents and approver


async def bounded(n: int, action: Callable[[int], Awaitable[Any]]) -> None:
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with sem:
            await action(i)

    await asyncio.gather(*(one(i) for i in range(n)))


async def ask(agent: ApprovalClient, n: int, tag: str) -> list[Approval]:
    asked: list[Approval | None] = [None] * n

    async def one(i: int) -> None:
        asked[i] = await agent.request_approval(
            f"Tool call {tag}-{i}",
            details={"tool": "refund", "arguments": {"order": i, "amount": 80}},
            approvers=[APPROVER],
            timeout="1h",
            idempotency_key=f"{tag}-{i}",
        )

    await bounded(n, one)
    return [a for a in asked if a is not None]


async def decide(http: aiohttp.ClientSession, base: str, key: str, approval_id: str) -> None:
    body = {"step_id": STEP, "actor": APPROVER, "decision": "approve"}
    headers = {"Authorization": f"Bearer {key}"}
    async with http.post(
        f"{base}/api/v1/runs/{approval_id}/decisions", json=body, headers=headers
    ) as r:
        if r.status != 200:
            raise RuntimeError(f"decision on {approval_id}: {r.status} {await r.text()}")


async def measure(kind: str, agents: int) -> Figures:
    figures = Figures(agents)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        async with database(kind, folder) as url:
            agent_key, approver_key = await api_keys(url)
            async with server(url, folder) as (process, base):
                counted = folder / "statements"
                await run_agents(figures, process, counted, base, agent_key, approver_key)
    return figures


def session() -> aiohttp.ClientSession:
    # No per-host connection limit: every waiting agent holds its own connection, as N agent
    # processes would.
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


async def run_agents(
    figures: Figures,
    process: subprocess.Popen[bytes],
    counted: Path,
    base: str,
    agent_key: str,
    approver_key: str,
) -> None:
    n, pid, port = figures.agents, process.pid, int(base.rsplit(":", 1)[1])
    # Asking and warming up on connections closed before the waits, so that counting the
    # server's open connections tells when every long-poll has its own.
    async with session() as http:
        asker = ApprovalClient(base, agent_key, session=http)
        # Warm-up: a few whole cycles, so the idle figure includes what the first requests load.
        for warm in await ask(asker, min(WARMUP, n), "warmup"):
            await decide(http, base, approver_key, warm.id)
        await quiescent(pid)
        figures.rss_idle = rss(pid)
        idle0, t_idle = await statements(process, counted), time.perf_counter()
        await asyncio.sleep(2.0)
        idle1 = await statements(process, counted)
        elapsed = time.perf_counter() - t_idle
        figures.idle_per_s = ((idle1[0] - idle0[0]) / elapsed, (idle1[1] - idle0[1]) / elapsed)
        asked = await ask(asker, n, "agent")
    await quiescent(pid)
    figures.rss_pending = rss(pid)
    asked_count = await statements(process, counted)
    figures.asking = _minus(asked_count, idle1)

    answered: dict[str, float] = {}
    results: dict[str, Approval] = {}
    async with session() as waiting, session() as deciding:
        agent = ApprovalClient(base, agent_key, session=waiting)

        async def wait(approval_id: str) -> None:
            results[approval_id] = await agent.wait(approval_id)
            answered[approval_id] = time.perf_counter()

        waits = [asyncio.create_task(wait(a.id)) for a in asked]
        while open_connections(port) < n:  # every long-poll has its connection
            if any(w.done() for w in waits):
                await asyncio.gather(*(w for w in waits if w.done()))
                raise RuntimeError("an agent stopped waiting before any decision")
            await asyncio.sleep(0.05)
        await quiescent(pid)
        figures.rss_waiting = rss(pid)
        waiting_count = await statements(process, counted)
        figures.waiting = _minus(waiting_count, asked_count)

        sent: dict[str, float] = {}

        async def one(i: int) -> None:
            approval_id = asked[i].id
            sent[approval_id] = time.perf_counter()
            await decide(deciding, base, approver_key, approval_id)
            figures.decide.append(time.perf_counter() - sent[approval_id])

        t0, cpu0, own0 = time.perf_counter(), cpu_ticks(pid), time.process_time()
        await bounded(n, one)
        await asyncio.gather(*waits)
        figures.all_answered_s = time.perf_counter() - t0
        figures.server_cpu_s = (cpu_ticks(pid) - cpu0) / os.sysconf("SC_CLK_TCK")
        figures.client_cpu_s = time.process_time() - own0
        figures.deciding = _minus(await statements(process, counted), waiting_count)
    figures.latencies = [answered[i] - sent[i] for i in sent]
    figures.approved = sum(1 for r in results.values() if r.approved)
    await paced(figures, pid, port, base, agent_key, approver_key)


async def paced(
    figures: Figures, pid: int, port: int, base: str, agent_key: str, approver_key: str
) -> None:
    """N more agents wait; a decision is sent every PACE_MS ms, each on its own schedule."""
    n = figures.agents
    async with session() as http:
        asked = await ask(ApprovalClient(base, agent_key, session=http), n, "paced")
    await quiescent(pid)
    answered: dict[str, float] = {}
    results: dict[str, Approval] = {}
    async with session() as waiting, session() as deciding:
        agent = ApprovalClient(base, agent_key, session=waiting)

        async def wait(approval_id: str) -> None:
            results[approval_id] = await agent.wait(approval_id)
            answered[approval_id] = time.perf_counter()

        waits = [asyncio.create_task(wait(a.id)) for a in asked]
        while open_connections(port) < n:
            if any(w.done() for w in waits):
                await asyncio.gather(*(w for w in waits if w.done()))
                raise RuntimeError("an agent stopped waiting before any decision")
            await asyncio.sleep(0.05)
        await quiescent(pid)
        sent: dict[str, float] = {}

        async def one(approval_id: str) -> None:
            sent[approval_id] = time.perf_counter()
            await decide(deciding, base, approver_key, approval_id)
            figures.paced_decide.append(time.perf_counter() - sent[approval_id])

        t0 = time.perf_counter()
        decisions = []
        for i, approval in enumerate(asked):
            await asyncio.sleep(max(0.0, t0 + i * PACE_MS / 1000 - time.perf_counter()))
            decisions.append(asyncio.create_task(one(approval.id)))
        await asyncio.gather(*decisions, *waits)
        figures.paced_s = time.perf_counter() - t0
    figures.paced = [answered[i] - sent[i] for i in sent]
    figures.paced_approved = sum(1 for r in results.values() if r.approved)


def _minus(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    return a[0] - b[0], a[1] - b[1]


# ---------------------------------------------------------------- report


def row(name: str, value: str, target: str = "", ok: bool | None = None) -> str:
    mark = "" if ok is None else ("ok" if ok else "MISSED")
    return f"  {name:<48} {value:>14}   {target:<12} {mark}"


def report(kind: str, f: Figures) -> None:
    mib = 1024 * 1024
    label = "PostgreSQL" if kind == "postgres" else "SQLite"
    p99 = percentile(f.latencies, 99)
    targeted = kind == "postgres"
    print(f"\n{label}: {f.agents} agents waiting at once, decisions {CONCURRENCY} at a time")
    print(row("agents answered `approved`", f"{f.approved} / {f.agents}"))
    print(
        row("decision sent -> agent's wait() returns p50", f"{percentile(f.latencies, 50):.1f} ms")
    )
    print(
        row(
            "decision sent -> agent's wait() returns p99",
            f"{p99:.1f} ms",
            *(("< 100 ms", p99 < TARGET_P99_MS) if targeted else ("", None)),
        )
    )
    print(row("  the decision's own round trip p50", f"{percentile(f.decide, 50):.1f} ms"))
    print(row("  the decision's own round trip p99", f"{percentile(f.decide, 99):.1f} ms"))
    print(row(f"first decision -> all {f.agents} agents answered", f"{f.all_answered_s:.2f} s"))
    print(row("  server CPU per decision", f"{f.server_cpu_s / f.agents * 1000:.1f} ms"))
    print(
        row("  agents' + approver's CPU per decision", f"{f.client_cpu_s / f.agents * 1000:.1f} ms")
    )
    print(row("database round trips: statements + BEGIN/COMMIT", ""))
    for name, (statements_n, transactions_n) in (
        ("  per approval request", f.asking),
        ("  per long-poll started", f.waiting),
        ("  per decision (with the wake-up)", f.deciding),
    ):
        value = f"{statements_n / f.agents:.1f} + {transactions_n / f.agents:.1f}"
        print(row(name, value))
    idle = f"{f.idle_per_s[0]:.1f} + {f.idle_per_s[1]:.1f}"
    print(row("  background polling, per second", idle))
    print(row("server RSS, idle (after a warm-up)", f"{f.rss_idle / mib:.1f} MiB"))
    print(row(f"server RSS, {f.agents} requests pending", f"{f.rss_pending / mib:.1f} MiB"))
    print(row(f"server RSS, {f.agents} agents waiting", f"{f.rss_waiting / mib:.1f} MiB"))
    per = (f.rss_waiting - f.rss_idle) / f.agents / 1024
    stored = (f.rss_pending - f.rss_idle) / f.agents / 1024
    poll = (f.rss_waiting - f.rss_pending) / f.agents / 1024
    print(row("memory per waiting request (RSS delta / N)", f"{per:.1f} KiB"))
    print(row("  of which the pending request", f"{stored:.1f} KiB"))
    print(row("  of which the open long-poll", f"{poll:.1f} KiB"))
    if f.paced:
        report_paced(label, f)


def report_paced(label: str, f: Figures) -> None:
    print(
        f"\n{label}, paced (not saturated): {f.agents} more agents waiting, "
        f"a decision every {PACE_MS:.0f} ms"
    )
    print(row("paced: agents answered `approved`", f"{f.paced_approved} / {f.agents}"))
    for q in (50, 99):
        value = f"{percentile(f.paced, q):.1f} ms"
        print(row(f"paced: decision sent -> wait() returns p{q}", value))
    for q in (50, 99):
        value = f"{percentile(f.paced_decide, q):.1f} ms"
        print(row(f"paced:   the decision's own round trip p{q}", value))
    print(row(f"paced: first decision -> all {f.agents} answered", f"{f.paced_s:.2f} s"))


async def main(agents: int, kind: str) -> Figures:
    load = os.getloadavg()
    print(
        f"Countersign agents benchmark: server `python app.py serve` in its own process; "
        f"agents and approver in this one; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    figures = await measure(kind, agents)
    report(kind, figures)
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    args = parser.parse_args()
    if args.agents < 1:
        parser.error("--agents must be at least 1")
    began = time.perf_counter()
    asyncio.run(main(args.agents, args.database))
    print(f"(bench took {time.perf_counter() - began:.1f} s)")
