"""One-run bundles carry Merkle inclusion proofs against the signed checkpoint instead of every
leaf of the workspace: their size does not follow the number of other runs, they verify
offline, and a proof or a leaf changed, or a run the checkpoint vouches for but the database
lost, fails verification. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cli.audit_log import build_bundle, checkpoint_now
from engine import AUDIT_FORMAT, AUDIT_PROOF_FORMAT, sign_bundle, verify_bundle
from engine.audit.merkle import audit_path, leaf_hash, merkle_root, root_from_path, tree_levels
from engine.runtime.service import Engine
from storage import Storage

TENANT = "T1"
FLOW = """\
name: access
steps:
  - id: owners
    type: approval
    approvers: [U0ANN]
"""


def size(bundle: dict[str, Any]) -> int:
    return len(json.dumps(bundle, separators=(",", ":"), ensure_ascii=False).encode())


def test_every_audit_path_leads_to_the_root_and_only_there() -> None:
    for n in range(1, 40):
        leaves = tuple(("run", f"r{i:03}", "2026-01-01T00:00:00+00:00", 1, "h") for i in range(n))
        root = merkle_root(leaves)
        levels = tree_levels(leaves)
        assert levels[-1][0].hex() == root
        for i, leaf in enumerate(leaves):
            path = audit_path(levels, i)
            assert root_from_path(leaf, i, n, path) == root
            assert root_from_path(("run", "other"), i, n, path) != root
            if path:
                assert root_from_path(leaf, i, n, path[:-1]) != root
    assert leaf_hash(("a",)) != leaf_hash(("b",))


async def _start(engine: Engine, n: int) -> list[str]:
    return [(await engine.start_run(TENANT, "access", {}, "U0REQ")).run_id for _ in range(n)]


async def test_a_one_run_bundle_does_not_grow_with_the_workspace(storage: Storage) -> None:
    key = Ed25519PrivateKey.generate()
    engine = Engine.from_storage(storage)
    await engine.apply_definition(TENANT, FLOW)
    first = (await _start(engine, 4))[0]
    await checkpoint_now(storage, key, TENANT)
    small = await build_bundle(storage, TENANT, key, [first])
    await _start(engine, 60)
    await checkpoint_now(storage, key, TENANT)
    large = await build_bundle(storage, TENANT, key, [first])
    everything = await build_bundle(storage, TENANT, key, [first], proofs=False)

    assert small["format"] == large["format"] == AUDIT_PROOF_FORMAT
    assert everything["format"] == AUDIT_FORMAT
    for bundle in (small, large, everything):
        report = verify_bundle(bundle)
        assert report.ok, (report.problems, [r.checkpoint for r in report.runs])
    (cp_small,), (cp_large,) = small["checkpoints"], large["checkpoints"]
    assert (cp_small["size"], cp_large["size"]) == (5, 65)  # the runs and one definition
    assert [p["leaf"][0] for p in cp_large["proofs"]] == ["definition", "run"]
    # What grows is the audit path: one hash per doubling of the workspace.
    levels = sum(len(p["path"]) for p in cp_large["proofs"]) - sum(
        len(p["path"]) for p in cp_small["proofs"]
    )
    assert 0 < levels <= 2 * 4
    assert size(large) - size(small) <= levels * len('"' + 64 * "0" + '",') + 8
    # Listing every leaf instead grows with each of the 60 other runs.
    assert size(everything) - size(large) > 60 * 100


async def test_a_changed_proof_or_leaf_fails(storage: Storage) -> None:
    key = Ed25519PrivateKey.generate()
    engine = Engine.from_storage(storage)
    await engine.apply_definition(TENANT, FLOW)
    runs = await _start(engine, 9)
    await checkpoint_now(storage, key, TENANT)
    bundle = await build_bundle(storage, TENANT, key, [runs[3]])
    assert verify_bundle(bundle).ok

    def edited(change: Any) -> list[str]:
        copy = json.loads(json.dumps(bundle))
        change(copy["checkpoints"][0]["proofs"])
        report = verify_bundle(sign_bundle(copy, key))  # re-signed: only the proof is wrong
        return report.problems + [p for r in report.runs for p in r.checkpoint]

    def flip_path(proofs: list[dict[str, Any]]) -> None:
        proofs[-1]["path"][0] = "0" * 64

    def other_head(proofs: list[dict[str, Any]]) -> None:
        proofs[-1]["leaf"][4] = "f" * 64

    assert any("does not reach its signed root" in p for p in edited(flip_path))
    assert any("does not reach its signed root" in p for p in edited(other_head))
    dropped = verify_bundle(sign_bundle({**bundle, "checkpoints": []}, key))
    assert "no signed checkpoint: nothing vouches for the runs' heads" in dropped.problems


async def test_a_run_the_database_lost_is_exported_as_missing(storage: Storage) -> None:
    from sqlalchemy import delete

    from storage.schema import events, runs

    key = Ed25519PrivateKey.generate()
    engine = Engine.from_storage(storage)
    await engine.apply_definition(TENANT, FLOW)
    lost = (await _start(engine, 3))[1]
    await checkpoint_now(storage, key, TENANT)
    async with storage.engine.begin() as conn:
        for table in (events, runs):
            await conn.execute(delete(table).where(table.c.run_id == lost))
    bundle = await build_bundle(storage, TENANT, key, [lost])
    report = verify_bundle(bundle)
    assert f"run {lost}: in a signed checkpoint but not in the bundle" in report.problems
