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
