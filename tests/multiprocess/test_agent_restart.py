"""An agent process killed while it waits for an approval, and started again, finds the same
request (its tool-call id is the idempotency key) and runs the tool once, when approved: the
agent is a real Pydantic AI process (offline model) through the adapter, against the real
`python app.py serve`."""

from __future__ import annotations

import asyncio
import signal
import sys

import aiohttp

from tests.multiprocess.served import REPO, Server

APPROVER = "U0APPROVER"


class AgentProcess:
    def __init__(self, base_url: str, key: str, call_id: str) -> None:
        self.args = ("-m", "tests.multiprocess.agent_worker", base_url, key, call_id)
        self.lines: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, *self.args, cwd=REPO, stdout=asyncio.subprocess.PIPE
        )

    async def line(self, prefix: str) -> str:
        """The next line it prints that starts with `prefix` (fails if it exits first)."""
        assert self.proc is not None and self.proc.stdout is not None
        async with asyncio.timeout(60):
            async for raw in self.proc.stdout:
                self.lines.append(raw.decode().strip())
                if self.lines[-1].startswith(prefix):
                    return self.lines[-1]
        raise AssertionError(f"the agent ended without {prefix!r}: {self.lines}")

    async def finish(self) -> list[str]:
        assert self.proc is not None and self.proc.stdout is not None
        self.lines += (await self.proc.stdout.read()).decode().splitlines()
        assert await self.proc.wait() == 0
        return self.lines


async def test_a_restarted_agent_gets_the_same_request_and_runs_the_tool_once(
    server: tuple[Server, str, str, str],
) -> None:
    _, base_url, agent_key, operator_key = server
    first = AgentProcess(base_url, agent_key, "call_restart_1")
    await first.start()
    _, approval_id, status = (await first.line("asked ")).split()
    assert status == "pending"
    assert first.proc is not None
    first.proc.send_signal(signal.SIGKILL)  # killed while it waits
    await first.proc.wait()

    second = AgentProcess(base_url, agent_key, "call_restart_1")
    await second.start()
    assert (await second.line("asked ")).split()[1:] == [approval_id, "pending"]

    body = {"step_id": "approval", "actor": APPROVER, "decision": "approve"}
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {operator_key}"}) as operator,
        operator.post(f"{base_url}/api/v1/runs/{approval_id}/decisions", json=body) as r,
    ):
        assert r.status == 200, await r.text()

    assert await second.line("ran ") == 'ran {"service": "api", "version": "1.4.2"}'
    assert (await second.line("output ")) == "output deployed api 1.4.2"
    assert not any(line.startswith("ran ") for line in first.lines)
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {agent_key}"}) as agent,
        agent.get(f"{base_url}/api/v1/approvals") as listed,
    ):
        assert [a["id"] for a in (await listed.json())["approvals"]] == [approval_id]
    await second.finish()
