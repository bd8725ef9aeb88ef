"""Inclusion proofs: a bundle of a few runs carries, instead of every leaf of the workspace's
signed checkpoint, only the leaves it needs (its runs and their definition versions), each with
its audit path to the signed root (engine.audit.merkle). Its size then grows with the log of the
workspace, not with it. The checkpoint's signature covers the root and the number of leaves,
so a proved leaf is as good as a listed one; what such a bundle cannot show is which other runs
the workspace held (a date-range export lists every leaf for that: see cli/audit_log.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from engine.audit.chain import canonical
from engine.audit.checkpoint import Checkpoint, KeyRing, signature_problems, signed_bytes
from engine.audit.merkle import Leaf, audit_path, root_from_path, tree_levels


def with_proofs(checkpoint: Checkpoint, wanted: Callable[[Leaf], bool]) -> dict[str, Any]:
    """The checkpoint as a bundle carries it with proofs: `size` and `proofs` ({index, leaf,
    path} of each wanted leaf) in place of `leaves`."""
    data = {k: v for k, v in checkpoint.to_json().items() if k != "leaves"}
    data["size"] = len(checkpoint.leaves)
    levels = tree_levels(checkpoint.leaves)
    data["proofs"] = [
        {"index": i, "leaf": list(leaf), "path": audit_path(levels, i)}
        for i, leaf in enumerate(checkpoint.leaves)
        if wanted(leaf)
    ]
    return data


def proved(data: dict[str, Any], keys: KeyRing | Ed25519PublicKey) -> tuple[Checkpoint, list[str]]:
    """A checkpoint with proofs, read back: a Checkpoint holding the proved leaves only, and
    what is wrong with it (a proof that does not reach the signed root, leaves out of the
    tree's order, a signature not valid for the key it names among `keys`)."""
    size = int(data["size"])
    problems: list[str] = []
    leaves: list[Leaf] = []
    last: tuple[int, bytes] | None = None
    for proof in data["proofs"]:
        leaf, index = tuple(proof["leaf"]), int(proof["index"])
        if root_from_path(leaf, index, size, list(proof["path"])) != data["root"]:
            problems.append(f"the proof of {leaf[0]} {leaf[1]} does not reach its signed root")
        if last is not None and (index <= last[0] or canonical(list(leaf)) <= last[1]):
            problems.append("its proved leaves are not in the tree's order")
        last = (index, canonical(list(leaf)))
        leaves.append(leaf)
    at = datetime.fromisoformat(data["at"])
    named = data.get("key_id")
    checkpoint = Checkpoint(
        str(data["tenant"]),
        at,
        tuple(leaves),
        str(data["root"]),
        str(data["signature"]),
        None if named is None else str(named),
    )
    message = signed_bytes(checkpoint.tenant_id, at, checkpoint.root, size)
    problems += signature_problems(checkpoint.key_id, checkpoint.signature, message, keys)
    return checkpoint, problems
