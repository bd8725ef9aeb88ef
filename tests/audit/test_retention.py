"""Retention: `countersign audit purge` (and the serving process, with RETENTION_DAYS) deletes
finished runs older than the setting with everything kept for them, leaves running and recent
ones, and signs a checkpoint recording what went: `audit check` stays clean, later checkpoints
are signed, and the retained runs' bundles still verify. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from storage import open_storage
from storage.schema import outbox, runs
from tests.audit.test_tamper import cli, sql, verify

FLOW = """\
name: access
steps:
  - id: owners
    type: approval
    approvers: [U0ANN, U0BOB]
"""

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def backdate(url: str, run_ids: list[str]) -> None:
    async def go() -> None:
        storage = await open_storage(url)
        try:
            async with storage.engine.begin() as conn:
                where = runs.c.run_id.in_(run_ids)
                await conn.execute(update(runs).where(where).values(started_at=LONG_AGO))
                done = where & runs.c.finished_at.is_not(None)
                await conn.execute(update(runs).where(done).values(finished_at=LONG_AGO))
                # and the worker delivered what they sent (an open command keeps its run)
                sent = outbox.c.run_id.in_(run_ids)
                await conn.execute(update(outbox).where(sent).values(done_at=LONG_AGO))
        finally:
            await storage.close()

    asyncio.run(go())


def start(capsys: pytest.CaptureFixture[str]) -> str:
    code, out, err = cli(capsys, "--json", "runs", "start", "access", "--as", "U0REQ")
    assert code == 0, err
    return str(json.loads(out)["run_id"])


@pytest.fixture
def world(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> dict[str, Any]:
    """Two runs finished long ago (approved, cancelled), one finished now, one started long ago
    and still waiting; a checkpoint signed over all four. (No worker runs: their outbox
    commands are marked done as it would have.)"""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("RETENTION_DAYS", "30")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "access.yaml").write_text(FLOW)
    assert cli(capsys, "workflows", "apply", "access.yaml")[0] == 0
    made = {name: start(capsys) for name in ("approved", "cancelled", "recent", "running")}
    for name in ("approved", "recent"):
        assert (
            cli(capsys, "runs", "decide", made[name], "owners", "approve", "--as", "U0ANN")[0] == 0
        )
    assert cli(capsys, "runs", "cancel", made["cancelled"], "--as", "U0REQ")[0] == 0
    # Time passes: the old ones finished (and the waiting one started) long ago.
    backdate(database_url, [made[name] for name in ("approved", "cancelled", "running")])
    assert cli(capsys, "audit", "checkpoint")[0] == 0
    return {"url": database_url, "runs": made, "dir": tmp_path}


def counts(url: str, run: str) -> list[int]:
    return [
        int(sql(url, f"SELECT count(*) FROM {table} WHERE run_id = :r", r=run)[0][0])
        for table in ("runs", "events", "steps", "pending_tasks")
    ]


def test_purge_deletes_old_finished_runs_only_and_check_stays_clean(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    url, runs = world["url"], world["runs"]
    old = sorted([runs["approved"], runs["cancelled"]])
    code, out, _ = cli(capsys, "audit", "purge", "--dry-run")
    assert code == 0
    assert out.splitlines() == [*old, "would purge 2 run(s) of local finished over 30 days ago"]
    assert counts(url, runs["approved"])[:2] != [0, 0]

    code, out, err = cli(capsys, "--json", "audit", "purge")
    assert code == 0, err
    assert json.loads(out) == {"dry_run": False, "runs": old}
    for run in old:
        assert counts(url, run) == [0, 0, 0, 0]
    assert counts(url, runs["running"])[:3] == [1, 2, 1]  # started, asked; its pending rows stay
    assert counts(url, runs["running"])[3] > 0
    assert counts(url, runs["recent"])[0] == 1

    code, out, _ = cli(capsys, "audit", "check")
    assert code == 0, out
    assert "note: 2 run(s) deleted by a signed retention purge" in out
    assert out.count("chain intact: yes") == 2

    # The history goes on: a decision, then the next checkpoint is signed and check is clean.
    assert (
        cli(capsys, "runs", "decide", runs["running"], "owners", "approve", "--as", "U0BOB")[0] == 0
    )
    code, _, err = cli(capsys, "audit", "checkpoint")
    assert code == 0, err
    assert cli(capsys, "audit", "check")[0] == 0

    path = world["dir"] / "kept.json"
    code, _, err = cli(capsys, "audit", "export", "--run", runs["recent"], "-o", str(path))
    assert code == 0, err
    code, out = verify(path)
    assert code == 0, out
    assert cli(capsys, "audit", "purge")[1].endswith(
        "purged 0 run(s) of local finished over 30 days ago\n"
    )


def test_a_deletion_without_a_purge_is_still_tampering(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    url, runs = world["url"], world["runs"]
    assert cli(capsys, "audit", "purge")[0] == 0
    sql(url, "DELETE FROM events WHERE run_id = :r", r=runs["recent"])
    sql(url, "DELETE FROM runs WHERE run_id = :r", r=runs["recent"])
    code, out, _ = cli(capsys, "audit", "check")
    assert code == 1
    assert f"run {runs['recent']}: in a signed checkpoint but not in the workspace" in out
    code, _, err = cli(capsys, "audit", "checkpoint")
    assert code == 1 and f"run {runs['recent']} gone" in err


def test_purge_refuses_to_cover_tampering(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    url, runs = world["url"], world["runs"]
    sql(url, "DELETE FROM events WHERE run_id = :r", r=runs["recent"])
    sql(url, "DELETE FROM runs WHERE run_id = :r", r=runs["recent"])
    code, _, err = cli(capsys, "audit", "purge")
    assert code == 1
    assert err.startswith("error: not purging local: since the last checkpoint, ")
    assert counts(url, runs["approved"])[0] == 1


def test_purge_needs_the_setting_or_days(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("RETENTION_DAYS")
    code, _, err = cli(capsys, "audit", "purge")
    assert (code, err) == (
        1,
        "error: RETENTION_DAYS is not set (or pass --days): nothing to purge\n",
    )
    code, out, _ = cli(capsys, "audit", "purge", "--days", "365", "--dry-run")
    assert code == 0 and "would purge 2 run(s)" in out
    with pytest.raises(SystemExit):
        cli(capsys, "audit", "purge", "--days", "-1")
    assert "'-1' is not a positive number of days" in capsys.readouterr().err


def test_a_run_with_an_undelivered_command_is_kept(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """Finished long ago, but its last update was never delivered: the delivery still reads it."""
    url, recent = world["url"], world["runs"]["recent"]
    backdate(url, [recent])
    sql(url, "UPDATE outbox SET done_at = NULL WHERE run_id = :r", r=recent)
    code, out, _ = cli(capsys, "audit", "purge", "--dry-run")
    assert code == 0 and recent not in out and "would purge 2 run(s)" in out


def test_the_serving_process_purges_on_its_checkpoint_round(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """What `serve` does each round with RETENTION_DAYS set: purge, then checkpoint what moved
    (nothing: the purge's own checkpoint already covers the heads that stay)."""
    from cli.audit_log import checkpoint_changed, purge_all
    from cli.wiring import audit_key

    async def go() -> list[Any]:
        storage = await open_storage(world["url"])
        try:
            await purge_all(storage, audit_key(), 30)
            return await checkpoint_changed(storage, audit_key())
        finally:
            await storage.close()

    assert asyncio.run(go()) == []
    assert counts(world["url"], world["runs"]["approved"]) == [0, 0, 0, 0]
    code, out, _ = cli(capsys, "audit", "check")
    assert code == 0, out


def test_a_checkpoint_signed_elsewhere_mid_purge_does_not_block_the_next(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """Another replica signs between the purge's checkpoint and its delete, so its checkpoint
    still holds the purged runs; the next one is signed all the same (the purge is on record)."""
    from cli.audit_log import purge_now
    from cli.wiring import audit_key
    from engine import make_checkpoint

    async def go() -> None:
        storage = await open_storage(world["url"])
        try:
            before = await storage.audit.leaves("local")
            await purge_now(storage, audit_key(), "local", 30)
            late = make_checkpoint(audit_key(), "local", datetime.now(UTC), before)
            await storage.audit.save_checkpoint(late)
        finally:
            await storage.close()

    asyncio.run(go())
    code, _, err = cli(capsys, "audit", "checkpoint")
    assert code == 0, err
    code, out, _ = cli(capsys, "audit", "check")
    assert code == 0, out
