"""The real `python app.py serve` on a fresh SQLite file, in a subprocess, for the tests where a
process (the server's or an agent's) is killed while an approval waits."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from storage import open_storage
from storage.access import sql_access_stores

REPO = Path(__file__).resolve().parents[2]
TENANT = "local"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`python app.py serve` in a subprocess; `started()` returns once its log says it serves."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None

    async def started(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "app.py",
            "serve",
            cwd=REPO,
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        assert self.proc.stderr is not None
        with self.log_path.open("a") as log:
            async for line in self.proc.stderr:
                text = line.decode(errors="replace")
                log.write(text)
                if " ready;" in text:
                    break
            else:
                pytest.fail(f"the server did not start:\n{self.log_path.read_text()[-3000:]}")
        # Keep reading its log so the pipe never fills.
        asyncio.get_running_loop().create_task(self._drain(self.proc))

    async def _drain(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        with self.log_path.open("a") as log:
            async for line in proc.stderr:
                log.write(line.decode(errors="replace"))

    async def stop(self, sig: int) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(sig)
            await self.proc.wait()
        self.proc = None


@asynccontextmanager
async def served(tmp_path: Path) -> AsyncIterator[tuple[Server, str, str, str]]:
    """A server on a fresh SQLite file, with the agent's and an operator's API keys."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'countersign.db'}"
    storage = await open_storage(url, create=True)
    try:
        keys = sql_access_stores(storage.engine).api_keys
        now = datetime.now(UTC)
        agent_key = (await keys.create_key(TENANT, "agent", now)).secret
        operator_key = (await keys.create_key(TENANT, "operator", now)).secret
    finally:
        await storage.close()
    (tmp_path / "workflows").mkdir()
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "HTTP_PORT": str(port),
        "TENANT": TENANT,
        "WORKFLOWS_DIR": str(tmp_path / "workflows"),
        "SECRET_KEY": "approval-restart-test-secret",
        "OUTBOX_MAIL_DIR": str(tmp_path / "mail"),
        "LOG_LEVEL": "INFO",
    }
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_CLIENT_ID", "REDIS_URL"):
        env.pop(name, None)
    child = Server(env, tmp_path / "server.log")
    await child.started()
    try:
        yield child, f"http://127.0.0.1:{port}", agent_key, operator_key
    finally:
        await child.stop(signal.SIGTERM)
