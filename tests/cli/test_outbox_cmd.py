"""`countersign outbox dead | retry`: what an operator reads about the commands the engine gave
up on, and how one is put back."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest

from cli.main import main
from storage import open_storage
from tests.storage.builders import T0, new_run

URL_FILE = "cli.db"


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    found = f"sqlite+aiosqlite:///{tmp_path / URL_FILE}"
    monkeypatch.setenv("DATABASE_URL", found)
    monkeypatch.chdir(tmp_path)
    return found


async def bury_one(url: str) -> str:
    """A run in T1 and one in T2, with one command of T1's run given up on."""
    storage = await open_storage(url, create=True)
    try:
        one, two = new_run("r1", "T1"), new_run("r2", "T2")
        await storage.runs.commit([one, two])
        key = one.decision.commands[0].key
        await storage.outbox.claim(T0, 10, timedelta(minutes=1))
        await storage.outbox.bury(key, T0, "its outcome cannot be stored: response: binary")
        return key
    finally:
        await storage.close()


async def claimable(url: str) -> list[str]:
    storage = await open_storage(url)
    try:
        items = await storage.outbox.claim(T0 + timedelta(days=3650), 10, timedelta(minutes=1))
        return [item.command.key for item in items]
    finally:
        await storage.close()


def test_dead_commands_are_listed_and_one_is_retried(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    key = asyncio.run(bury_one(url))

    assert main(["outbox", "dead"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "ID", "TENANT", "RUN", "STEP", "COMMAND", "ATTEMPTS", "DIED", "LAST", "ERROR"
    ]  # fmt: skip
    assert len(lines) == 2
    assert lines[1].split()[1:6] == ["T1", "r1", "manager", "request_approval", "1"]
    assert lines[1].endswith("its outcome cannot be stored: response: binary")

    assert main(["outbox", "dead", "--tenant", "T2"]) == 0
    assert capsys.readouterr().out.strip() == "(none)"

    assert main(["--json", "outbox", "dead", "--tenant", "T1"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["run_id"], listed["step_id"], listed["attempts"]) == ("r1", "manager", 1)
    assert listed["dead_at"].startswith("2026-03-02")

    assert main(["outbox", "retry", str(listed["id"])]) == 0
    out = capsys.readouterr().out
    assert f"command {listed['id']} (request_approval, run r1, step manager) is queued again" in out
    assert main(["outbox", "dead"]) == 0
    assert capsys.readouterr().out.strip() == "(none)"
    assert key in asyncio.run(claimable(url))  # the dispatcher takes it again


def test_retrying_what_is_not_dead_says_so_in_one_line(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(bury_one(url))
    assert main(["outbox", "retry", "999"]) == 1
    err = capsys.readouterr().err
    assert err == "error: no dead command 999; `countersign outbox dead` lists them\n"
