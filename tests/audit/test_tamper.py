"""Tamper evidence end to end, on SQLite and PostgreSQL: runs made through the CLI, a signed
checkpoint, then one change made behind Countersign's back. `audit check` names the broken run
and seq; `audit verify` of a bundle (edited the same way, or exported after a deletion) fails
against the signed checkpoint; untouched, both pass."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from cli.main import main
from engine.audit.checkpoint import public_key_text
from storage import open_storage

FLOW = """\
name: access
steps:
  - id: owners
    type: approval
    approvers: [U0ANN, U0BOB]
  - id: details
    type: input
    assignee: U0DAN
    fields:
      - {id: hosts, type: number, required: true}
"""


VERIFY = "from cli.main import main; raise SystemExit(main())"


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def sql(url: str, statement: str, **params: Any) -> list[Any]:
    async def go() -> list[Any]:
        storage = await open_storage(url)
        try:
            async with storage.engine.begin() as conn:
                result = await conn.execute(text(statement), params)
                return list(result.all()) if result.returns_rows else []
        finally:
            await storage.close()

    return asyncio.run(go())


def verify(path: Path, *extra: str) -> tuple[int, str]:
    """`countersign audit verify` in a subprocess with an empty environment."""
    done = subprocess.run(
        [sys.executable, "-c", VERIFY, "audit", "verify", str(path), *extra],
        env={},
        cwd=path.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout + done.stderr


@pytest.fixture
def world(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> dict[str, Any]:
    """Three runs, the first decided; a signed checkpoint; a bundle of all of them."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "access.yaml").write_text(FLOW)
    assert cli(capsys, "workflows", "apply", "access.yaml")[0] == 0
    runs = []
    for _ in range(3):
        code, out, _ = cli(capsys, "--json", "runs", "start", "access", "--as", "U0REQ")
        assert code == 0
        runs.append(json.loads(out)["run_id"])
    assert cli(capsys, "runs", "decide", runs[0], "owners", "approve", "--as", "U0ANN")[0] == 0
    assert cli(capsys, "audit", "checkpoint")[0] == 0
    export(capsys, tmp_path / "before.json")
    return {"url": database_url, "runs": runs, "dir": tmp_path}


def export(capsys: pytest.CaptureFixture[str], path: Path) -> dict[str, Any]:
    code, _, err = cli(capsys, "audit", "export", "--since", "2000-01-01", "-o", str(path))
    assert code == 0, err
    return dict(json.loads(path.read_text()))


def last_seq(url: str, run: str) -> int:
    return int(sql(url, "SELECT max(seq) FROM events WHERE run_id = :r", r=run)[0][0])


def test_an_untouched_database_and_its_bundle_verify_clean(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "audit", "check")
    assert code == 0, out
    assert out.count("chain intact: yes") == 3
    code, out = verify(world["dir"] / "before.json")
    assert code == 0, out
    assert "verified: 3 run(s), 1 checkpoint(s)" in out
    assert "checkpoint signature valid: yes" in out
    code, key, _ = cli(capsys, "audit", "public-key")
    assert key.startswith("ed25519:")
    assert verify(world["dir"] / "before.json", "--public-key", key.split()[0])[0] == 0


def test_a_bundle_checked_against_another_key_fails(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    other = public_key_text(Ed25519PrivateKey.generate().public_key())
    code, out = verify(world["dir"] / "before.json", "--public-key", other)
    assert code == 1
    assert "signature is not valid for this public key" in out


def _change_payload(url: str, run: str) -> None:
    sql(
        url,
        "UPDATE events SET data = replace(data, 'U0REQ', 'U0EVE') WHERE run_id = :r AND seq = 1",
        r=run,
    )


def _delete_middle(url: str, run: str) -> None:
    sql(url, "DELETE FROM events WHERE run_id = :r AND seq = 2", r=run)


def _swap(url: str, run: str) -> None:
    for a, b in ((2, -1), (3, 2), (-1, 3)):
        sql(url, "UPDATE events SET seq = :b WHERE run_id = :r AND seq = :a", r=run, a=a, b=b)


def _delete_newest(url: str, run: str) -> None:
    """A careful attacker: the run row is made to agree with the shortened chain."""
    seq = last_seq(url, run)
    sql(url, "DELETE FROM events WHERE run_id = :r AND seq = :s", r=run, s=seq)
    head = sql(url, "SELECT hash FROM events WHERE run_id = :r AND seq = :s", r=run, s=seq - 1)
    sql(
        url,
        "UPDATE runs SET seq = :s, head_hash = :h WHERE run_id = :r",
        r=run,
        s=seq - 1,
        h=head[0][0],
    )


def _delete_run(url: str, run: str) -> None:
    for table in ("events", "steps", "pending_tasks", "runs"):
        sql(url, f"DELETE FROM {table} WHERE run_id = :r", r=run)


def _change_definition(url: str, run: str) -> None:
    """The body and its stored hash both rewritten: only the checkpoint knows the old one."""
    import hashlib

    (canonical,) = sql(url, "SELECT canonical FROM definitions WHERE name = 'access'")[0]
    changed = canonical.replace("U0BOB", "U0EVE")
    digest = hashlib.sha256(changed.encode()).hexdigest()
    sql(
        url,
        "UPDATE definitions SET canonical = :c, hash = :h WHERE name = 'access'",
        c=changed,
        h=digest,
    )


CASES: dict[str, tuple[Callable[[str, str], None], str]] = {
    "payload changed": (_change_payload, "seq 1: hash does not match its content"),
    "middle event deleted": (_delete_middle, "seq 2: missing"),
    "two events swapped": (_swap, "seq 2: previous hash does not match"),
    "newest event deleted": (_delete_newest, "the run now ends at"),
    "whole run deleted": (_delete_run, "in a signed checkpoint but not in the"),
    "definition body changed": (_change_definition, "differs from the one checkpointed"),
}


@pytest.mark.parametrize("case", CASES)
def test_each_tampering_is_detected_by_check_and_by_verify(
    case: str, world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    tamper, expected = CASES[case]
    run = world["runs"][0]
    tamper(world["url"], run)
    code, out, _ = cli(capsys, "audit", "check")
    assert code == 1
    assert expected in out
    if case != "whole run deleted" and case != "definition body changed":
        assert f"BROKEN  run {run}" in out
    after = world["dir"] / "after.json"
    export(capsys, after)
    code, out = verify(after)
    assert code == 1
    assert expected in out


@pytest.mark.parametrize(
    "case", ["newest event deleted", "whole run deleted", "definition body changed"]
)
def test_no_checkpoint_is_signed_over_a_removal(
    case: str, world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """Else the next periodic checkpoint would vouch for the shortened history."""
    CASES[case][0](world["url"], world["runs"][0])
    code, _, err = cli(capsys, "audit", "checkpoint")
    assert code == 1
    assert err.startswith("error: not signing a checkpoint of local: since the last one, ")
    code, out, _ = cli(capsys, "--json", "audit", "check")
    assert json.loads(out)["ok"] is False


def test_a_bundle_edited_after_export_fails_verification(world: dict[str, Any]) -> None:
    path = world["dir"] / "before.json"
    bundle = json.loads(path.read_text())
    run = next(r for r in bundle["runs"] if r["run_id"] == world["runs"][0])
    run["events"][0]["event"]["requester"] = "U0EVE"
    path.write_text(json.dumps(bundle))
    code, out = verify(path)
    assert code == 1
    assert "seq 1: hash does not match its content" in out


def test_decisions_are_checked_against_the_listed_approvers(world: dict[str, Any]) -> None:
    path = world["dir"] / "before.json"
    bundle = json.loads(path.read_text())
    run = next(r for r in bundle["runs"] if r["run_id"] == world["runs"][0])
    decided = next(e for e in run["events"] if e["event"]["type"] == "decision_recorded")
    assert decided["event"]["actor"] == "U0ANN"
    code, out = verify(path)
    assert code == 0, out
    assert "decisions by listed approvers, not the requester, before the next step: yes" in out


def test_verify_refuses_what_is_not_a_bundle(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("[1, 2")
    code, out = verify(path)
    assert code == 1
    assert out.startswith(f"error: {path}: not JSON")


async def test_the_server_checkpoints_only_workspaces_that_changed(
    storage: Any, tmp_path: Path
) -> None:
    from cli.audit_log import checkpoint_changed
    from tests.storage.builders import new_run

    key = Ed25519PrivateKey.generate()
    await storage.runs.commit([new_run("r1", "T1"), new_run("r2", "T2")])
    assert sorted(c.tenant_id for c in await checkpoint_changed(storage, key)) == ["T1", "T2"]
    assert await checkpoint_changed(storage, key) == []
    await storage.runs.commit([new_run("r3", "T2")])
    made = await checkpoint_changed(storage, key)
    assert [(c.tenant_id, len(c.leaves)) for c in made] == [("T2", 2)]
