"""A PostgreSQL and a Redis server of the fault suite's own, on free loopback ports, so the suite
may restart, freeze and stop them without touching the shared ones.

PostgreSQL is made with `initdb` in a temporary folder; initdb and postgres refuse to run as
root, so as root they run as the `postgres` OS user (`runuser`) in a folder that user owns.
A missing binary skips the suite locally and fails it under CI=true, like tests/conftest.py does
for PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

START_TIMEOUT = 60.0  # seconds a server gets to answer after it was started


def missing(what: str) -> None:
    """Skip (locally) or fail (CI=true) because `what` is not installed."""
    reason = f"the fault suite needs {what}"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version) or [
        p for p in [shutil.which(name)] if p
    ]
    if not found:
        missing(f"PostgreSQL's {name} (apt-get install postgresql)")
    return found[-1]


def _version(path: str) -> int:
    part = Path(path).parts[-3]
    return int(part) if part.isdigit() else 0


async def run(log: Path, *argv: str) -> None:
    """Run a command to its end, its output appended to `log` (a file, not a pipe: a server it
    starts inherits its output and would hold a pipe open); a failure shows the output."""
    with log.open("ab") as out:
        start = out.tell()
        proc = await asyncio.create_subprocess_exec(*argv, stdout=out, stderr=out)
    try:
        async with asyncio.timeout(START_TIMEOUT + 30):
            await proc.wait()
    except TimeoutError:
        proc.kill()
        await proc.wait()
    if proc.returncode != 0:
        with log.open("rb") as text:
            text.seek(start)
            said = text.read().decode(errors="replace")
        pytest.fail(f"{' '.join(argv)} exited with {proc.returncode}:\n{said}")


@dataclass
class Postgres:
    """One PostgreSQL cluster: `start`, `stop`, `restart` (fast shutdown: sessions are cut)."""

    root: Path
    port: int = field(default_factory=free_port)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_owner(self, *argv: str) -> list[str]:
        if os.geteuid() != 0:
            return list(argv)
        if shutil.which("runuser") is None:
            missing("runuser (util-linux) to run PostgreSQL as the postgres user")
        return ["runuser", "-u", "postgres", "--", *argv]

    async def init(self) -> None:
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                missing("the postgres OS user (initdb refuses to run as root)")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        await run(
            self.root / "ctl.log",
            *self._as_owner(
                postgres_bin("initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ),
        )

    async def start(self) -> None:
        # Durability is not under test here: no fsync keeps the cluster quick on a busy disk.
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
        )
        await self._ctl("start", "-o", options, *self._log)

    async def stop(self) -> None:
        await self._ctl("stop", "-m", "fast")

    async def restart(self) -> None:
        await self._ctl("restart", "-m", "fast", *self._log)

    @property
    def _log(self) -> tuple[str, str]:
        return ("-l", str(self.root / "postgres.log"))

    async def _ctl(self, action: str, *args: str) -> None:
        # -w: pg_ctl returns once the server accepts connections (or is gone).
        ctl = postgres_bin("pg_ctl")
        timeout = str(int(START_TIMEOUT))
        argv = self._as_owner(ctl, action, "-D", str(self.data), "-w", "-t", timeout, *args)
        await run(self.root / "ctl.log", *argv)

    async def shutdown(self) -> None:
        """At the end: stop it if it runs, whatever state the test left it in."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(BaseException):
                await self._ctl("stop", "-m", "immediate")


@dataclass
class RedisServer:
    """One redis-server child: `freeze` (SIGSTOP: it holds connections but answers nothing),
    `thaw`, `stop` and `start` again on the same port."""

    root: Path
    port: int = field(default_factory=free_port)
    proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            missing("redis-server (apt-get install redis-server)")
        log = (self.root / "redis.log").open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.root),
            stdout=log,
            stderr=log,
        )
        log.close()
        await self.wait_answers()

    async def wait_answers(self) -> None:
        client = Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=1)
        try:
            async with asyncio.timeout(START_TIMEOUT):
                while True:
                    try:
                        await client.ping()
                        return
                    except (RedisError, OSError):
                        assert self.proc is not None and self.proc.returncode is None, (
                            f"redis-server exited:\n{(self.root / 'redis.log').read_text()}"
                        )
                        await asyncio.sleep(0.05)  # nothing to await: it says nothing when up
        finally:
            await client.aclose()

    def freeze(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    async def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGCONT)  # a stopped process cannot act on SIGTERM
            self.proc.terminate()
        await self.proc.wait()
        self.proc = None


def temp_root() -> Path:
    """A folder for a server's files outside pytest's tmp_path, whose parents only root may
    enter (the postgres user must reach its data folder)."""
    return Path(tempfile.mkdtemp(prefix="countersign-fault-"))
