"""Rotating the audit signing key: checkpoints name the key that signed them, the old public
keys stay trusted, `audit public-key` lists them all (current first), and a bundle whose
checkpoint was signed before the rotation and the bundle itself after verifies with both keys."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from cli.audit_keys import rotate
from cli.audit_log import checkpoint_now
from cli.main import main
from cli.wiring import audit_key
from engine import Engine, key_id

FLOW = """\
name: access
steps:
  - {id: owners, type: approval, approvers: [U0ANN]}
"""
TENANT = "T0ROT"


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def in_thread(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """The CLI runs its own event loop: in a thread, as from a shell."""
    return await asyncio.to_thread(cli, capsys, *argv)


async def test_a_bundle_signed_across_a_rotation_verifies_with_both_keys(
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
    await engine.start_run(TENANT, "access", {}, "U0REQ")
    first = audit_key()
    await checkpoint_now(storage, first, TENANT)

    # The key file replaced by hand-over of a rotation: the checkpoint is the old key's.
    old, second = rotate()
    assert key_id(old) == key_id(first.public_key())
    assert (tmp_path / ".countersign-audit.key").stat().st_mode & 0o077 == 0
    bundle = tmp_path / "across.json"
    code, _, err = await in_thread(
        capsys, "audit", "export", "--tenant", TENANT, "--since", "2000-01-01", "-o", str(bundle)
    )
    assert code == 0, err
    data = json.loads(bundle.read_text())
    assert [c["key_id"] for c in data["checkpoints"]] == [key_id(old)]

    code, listed, _ = await in_thread(capsys, "audit", "public-key")
    lines = listed.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{_text(second.public_key())}  # id {key_id(second.public_key())}")
    assert lines[0].endswith("current")
    assert lines[1] == f"{_text(old)}  # id {key_id(old)}, retired"
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text(listed)

    new_only = ("--public-key", _text(second.public_key()))
    code, out, _ = await in_thread(capsys, "audit", "verify", str(bundle), *new_only)
    assert code == 1
    assert f"it names key {key_id(old)}, which is not among the keys given" in out
    both = (*new_only, "--public-key", _text(old))
    assert (await in_thread(capsys, "audit", "verify", str(bundle), *both))[0] == 0
    code, out, _ = await in_thread(
        capsys, "audit", "verify", str(bundle), "--public-key", str(keys_file)
    )
    assert code == 0, out
    code, out, _ = await in_thread(capsys, "audit", "check", "--tenant", TENANT)
    assert code == 0, out

    # `audit rotate-key` also signs each workspace anew, with the new key.
    code, out, _ = await in_thread(capsys, "audit", "rotate-key")
    assert code == 0
    third = audit_key().public_key()
    assert f"retired key {key_id(second.public_key())}; signing now with key {key_id(third)}" in out
    assert [c.key_id for c in await storage.audit.checkpoints(TENANT)] == [
        key_id(old),
        key_id(third),
    ]
    code, _, err = await in_thread(
        capsys, "audit", "export", "--tenant", TENANT, "--since", "2000-01-01", "-o", str(bundle)
    )
    assert code == 0, err
    code, out, _ = await in_thread(
        capsys, "audit", "verify", str(bundle), "--public-key", _text(third)
    )
    assert code == 0, out
    code, listed, _ = await in_thread(capsys, "audit", "public-key")
    assert [line.split()[0] for line in listed.splitlines()] == [
        _text(third),
        _text(second.public_key()),
        _text(old),
    ]


def test_a_bad_key_or_key_file_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    bundle = tmp_path / "b.json"
    bundle.write_text('{"format": "countersign-audit-bundle/1"}')
    (tmp_path / "empty.txt").write_text("# nothing here\n")
    code, _, err = cli(capsys, "audit", "verify", str(bundle), "--public-key", "empty.txt")
    assert code == 1
    assert err == "error: --public-key empty.txt: the file holds no public key\n"
    code, _, err = cli(capsys, "audit", "verify", str(bundle), "--public-key", "ed25519:zz")
    assert code == 1
    assert err.startswith("error: --public-key ed25519:zz: not an Ed25519 public key")


def _text(key: Any) -> str:
    from engine import public_key_text

    return public_key_text(key)
