"""`audit check` reads a workspace a batch of runs at a time (never the whole workspace), and
still names the one broken run wherever it falls, here in the second of four batches."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from cli.audit_log import check_live, checkpoint_now
from cli.main import main
from cli.wiring import audit_key
from engine import Engine, RunReport, key_ring

FLOW = """\
name: access
steps:
  - {id: owners, type: approval, approvers: [U0ANN]}
"""
TENANT = "T0BATCH"


async def test_a_broken_run_in_the_second_batch_is_named(
    storage: Any,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    engine = Engine.from_storage(storage)
    await engine.apply_definition(TENANT, FLOW, "access.yaml")
    runs = sorted(
        [(await engine.start_run(TENANT, "access", {}, "U0REQ")).run_id for _ in range(10)]
    )
    key = audit_key()  # the CLI's key, made here in its folder
    await checkpoint_now(storage, key, TENANT)
    broken = runs[4]  # batches of 3 in run id order: the second batch is runs[3:6]
    async with storage.engine.begin() as conn:
        row = (
            await conn.execute(
                text("SELECT data FROM events WHERE run_id = :r AND seq = 1"), {"r": broken}
            )
        ).one()
        data = json.loads(row.data) | {"requester": "U0EVE"}
        await conn.execute(
            text("UPDATE events SET data = :d WHERE run_id = :r AND seq = 1"),
            {"d": json.dumps(data), "r": broken},
        )

    batches: list[list[RunReport]] = []
    check = await check_live(storage, TENANT, key_ring(key.public_key()), batches.append, 3)
    assert [[r.run_id for r in batch] for batch in batches] == [
        runs[0:3],
        runs[3:6],
        runs[6:9],
        runs[9:10],
    ]
    assert check.problems == []
    reports = {r.run_id: r for batch in batches for r in batch}
    assert reports[broken].chain == ["seq 1: hash does not match its content"]
    assert [run for run, r in reports.items() if not r.ok] == [broken]

    # The CLI runs its own event loop: in a thread, as from a shell.
    code = await asyncio.to_thread(main, ["audit", "check", "--tenant", TENANT, "--batch", "3"])
    out = capsys.readouterr().out
    assert code == 1
    assert f"BROKEN  run {broken}" in out
    assert out.count("BROKEN  run") == 1
    assert out.count("chain intact: yes") == 9
    assert "FAILED: 10 run(s), 1 checkpoint(s)" in out


async def test_a_run_gone_from_the_workspace_is_named_after_the_batches(
    storage: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    engine = Engine.from_storage(storage)
    await engine.apply_definition(TENANT, FLOW, "access.yaml")
    runs = sorted(
        [(await engine.start_run(TENANT, "access", {}, "U0REQ")).run_id for _ in range(5)]
    )
    key = audit_key()
    await checkpoint_now(storage, key, TENANT)
    async with storage.engine.begin() as conn:
        for table in ("events", "steps", "pending_tasks", "timers", "outbox", "runs"):
            await conn.execute(text(f"DELETE FROM {table} WHERE run_id = :r"), {"r": runs[2]})
    batches: list[list[RunReport]] = []
    check = await check_live(storage, TENANT, key_ring(key.public_key()), batches.append, 2)
    assert [len(b) for b in batches] == [2, 2]
    assert all(r.ok for b in batches for r in b)
    assert check.problems == [f"run {runs[2]}: in a signed checkpoint but not in the workspace"]
