"""A Merkle root over a tenant's run heads and definition versions: one leaf per run,
["run", run_id, started_at, seq, head], and per definition version, ["definition", name,
version, hash] (and a purge's records, engine.audit.checkpoint.PURGED), sorted by their
canonical bytes. Leaves and inner nodes are hashed with distinct prefixes (as in RFC 6962), so
a leaf can never pass for a node. A run deleted, or a run whose newest events are gone, changes
the root."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from engine.audit.chain import canonical

Leaf = tuple[Any, ...]
EMPTY_ROOT = hashlib.sha256(b"").hexdigest()


def sort_leaves(leaves: Iterable[Leaf]) -> tuple[Leaf, ...]:
    return tuple(sorted((tuple(leaf) for leaf in leaves), key=lambda leaf: canonical(list(leaf))))


def leaf_hash(leaf: Leaf) -> bytes:
    return hashlib.sha256(b"\x00" + canonical(list(leaf))).digest()


def merkle_root(leaves: Iterable[Leaf]) -> str:
    level = [leaf_hash(leaf) for leaf in sort_leaves(leaves)]
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        nxt = [
            hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest()
            for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            nxt.append(level[-1])  # an odd node is carried up unchanged
        level = nxt
    return level[0].hex()


def _parent(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def tree_levels(leaves: tuple[Leaf, ...]) -> list[list[bytes]]:
    """Every level of the tree over the sorted `leaves`, from the leaf hashes up to the root."""
    levels = [[leaf_hash(leaf) for leaf in leaves]]
    while len(levels[-1]) > 1:
        level = levels[-1]
        up = [_parent(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        levels.append(up + ([level[-1]] if len(level) % 2 else []))
    return levels


def audit_path(levels: list[list[bytes]], index: int) -> list[str]:
    """The sibling hashes (hex) from leaf `index` up to the root of the tree `levels`
    (`tree_levels`), as `root_from_path` consumes them: a level where the node is the odd one
    carried up adds none."""
    path: list[str] = []
    for level in levels[:-1]:
        sibling = index + 1 if index % 2 == 0 else index - 1
        if sibling < len(level):
            path.append(level[sibling].hex())
        index //= 2
    return path


def root_from_path(leaf: Leaf, index: int, size: int, path: list[str]) -> str | None:
    """The root a tree of `size` leaves has if `leaf` is its leaf `index` with this audit path;
    None when the path cannot belong to such a tree (wrong length, bad hex, index out of range)."""
    if not 0 <= index < size:
        return None
    node, width, rest = leaf_hash(leaf), size, list(path)
    try:
        while width > 1:
            if index % 2 == 1:
                node = _parent(bytes.fromhex(rest.pop(0)), node)
            elif index + 1 < width:
                node = _parent(node, bytes.fromhex(rest.pop(0)))
            index, width = index // 2, (width + 1) // 2
    except (IndexError, ValueError):
        return None
    return None if rest else node.hex()
