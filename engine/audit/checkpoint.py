"""Signed checkpoints: a tenant's Merkle root over all run heads at a moment, signed with
Ed25519. The signature covers the canonical JSON of {tenant, at, root, runs}. A checkpoint names
the key that signed it by its id (`key_id`, a fingerprint of the public key), so that after the
signing key is rotated the earlier checkpoints still verify against the key they were signed with;
checkpoints from before key ids name none and verify against any key given."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from engine.audit.chain import canonical
from engine.audit.merkle import Leaf, merkle_root, sort_leaves

# The leaf kind a retention purge leaves in the checkpoint signed with it: ["purged", run_id,
# started_at, seq, head], the run's last head, so the purge is on record and signed.
PURGED = "purged"


def unpurged(leaves: Iterable[Leaf]) -> list[Leaf]:
    """The leaves a later checkpoint carries on (runs and definitions, not purge records)."""
    return [leaf for leaf in leaves if leaf[0] != PURGED]


@dataclass(frozen=True)
class Checkpoint:
    tenant_id: str
    at: datetime
    leaves: tuple[Leaf, ...]  # sorted, see engine.audit.merkle
    root: str
    signature: str  # Ed25519 over `signed_bytes`, lowercase hex (one spelling per signature)
    key_id: str | None = None  # the signing key's `key_id`; None: signed before key ids

    def signed_bytes(self) -> bytes:
        return signed_bytes(self.tenant_id, self.at, self.root, len(self.leaves))

    def to_json(self) -> dict[str, Any]:
        out = {
            "tenant": self.tenant_id,
            "at": self.at.isoformat(),
            "root": self.root,
            "leaves": [list(leaf) for leaf in self.leaves],
            "signature": self.signature,
        }
        if self.key_id is not None:
            out["key_id"] = self.key_id
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Checkpoint:
        leaves = tuple(tuple(leaf) for leaf in data["leaves"])
        return cls(
            str(data["tenant"]),
            datetime.fromisoformat(data["at"]),
            leaves,
            str(data["root"]),
            str(data["signature"]),
            None if data.get("key_id") is None else str(data["key_id"]),
        )


def signed_bytes(tenant_id: str, at: datetime, root: str, runs: int) -> bytes:
    return canonical({"tenant": tenant_id, "at": at.isoformat(), "root": root, "runs": runs})


def make_checkpoint(
    key: Ed25519PrivateKey, tenant_id: str, at: datetime, leaves: list[Leaf]
) -> Checkpoint:
    ordered = sort_leaves(leaves)
    root = merkle_root(ordered)
    signature = key.sign(signed_bytes(tenant_id, at, root, len(ordered)))
    return Checkpoint(tenant_id, at, ordered, root, signature.hex(), key_id(key.public_key()))


_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")


def public_key_text(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + raw.hex()


def key_id(key: Ed25519PublicKey) -> str:
    """A public key's id: the first 16 hex digits of SHA-256 over its raw bytes (a fingerprint:
    it names the key; the signature, not the id, proves who signed)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


# The public keys a verification trusts, by id (see `key_id`).
KeyRing = Mapping[str, Ed25519PublicKey]


def key_ring(keys: Iterable[Ed25519PublicKey] | Ed25519PublicKey) -> dict[str, Ed25519PublicKey]:
    if isinstance(keys, Ed25519PublicKey):
        keys = [keys]
    return {key_id(key): key for key in keys}


def parse_public_key(text: str) -> Ed25519PublicKey:
    """A key as `public_key_text` prints it ("ed25519:" and 64 lowercase hex digits). Raises
    ValueError when it is not one. (Hex, not base64: each key has exactly one spelling.)"""
    body = text.strip()
    if not body.startswith("ed25519:") or not _HEX64.fullmatch(body[8:]):
        raise ValueError("not an Ed25519 public key: expected ed25519: and 64 hex digits")
    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(body[8:]))


def signature_valid(key: Ed25519PublicKey, signature: object, message: bytes) -> bool:
    if not isinstance(signature, str) or not _HEX128.fullmatch(signature):
        return False
    try:
        key.verify(bytes.fromhex(signature), message)
    except InvalidSignature:
        return False
    return True


def checkpoint_problems(checkpoint: Checkpoint, keys: KeyRing | Ed25519PublicKey) -> list[str]:
    """What is wrong with `checkpoint` as checked against the trusted `keys`: the key it names
    (any of them when it names none) must have signed it."""
    problems = []
    if merkle_root(checkpoint.leaves) != checkpoint.root:
        problems.append("its run heads do not give its Merkle root")
    problems += signature_problems(
        checkpoint.key_id, checkpoint.signature, checkpoint.signed_bytes(), keys
    )
    return problems


def signature_problems(
    named: str | None, signature: str, message: bytes, keys: KeyRing | Ed25519PublicKey
) -> list[str]:
    """Whether the key a checkpoint names (`named`; any trusted key when it names none) signed
    `message`: empty when it did, else the one problem to report."""
    ring = key_ring(keys) if isinstance(keys, Ed25519PublicKey) else keys
    if named is None:
        candidates = list(ring.values())
    else:
        key = ring.get(named)
        candidates = [] if key is None else [key]
    if any(signature_valid(key, signature, message) for key in candidates):
        return []
    if named is not None and not candidates:
        return [
            f"its signature is not valid for this public key: it names key "
            f"{named}, which is not among the keys given"
        ]
    return ["its signature is not valid for this public key"]


def departures(
    previous: Checkpoint,
    current: list[Leaf],
    hashes_at: dict[tuple[str, int], str],
    purging: frozenset[str] = frozenset(),
) -> list[str]:
    """How the current heads break with `previous`: a run gone, shortened or rewritten up to the
    head it had, a definition version gone or changed. `hashes_at` gives the hash now stored at
    (run, seq) for the runs that grew since; `purging`, the runs a retention purge is about to
    delete (recorded by PURGED leaves in the checkpoint that goes with it). A checkpoint is never
    signed over such a state."""
    now_runs = {leaf[1]: leaf for leaf in current if leaf[0] == "run"}
    now_defs = {(leaf[1], leaf[2]): leaf[3] for leaf in current if leaf[0] == "definition"}
    out = []
    for leaf in previous.leaves:
        if leaf[0] == PURGED:
            continue  # gone by a signed purge: nothing later is measured against it
        if leaf[0] == "definition":
            if now_defs.get((leaf[1], leaf[2])) != leaf[3]:
                out.append(f"definition {leaf[1]} v{leaf[2]} changed or gone")
            continue
        _, run_id, _, seq, head = leaf
        now = now_runs.get(run_id)
        if now is None and run_id in purging:
            continue
        if now is None:
            out.append(f"run {run_id} gone")
        elif now[3] < seq:
            out.append(f"run {run_id} ends at seq {now[3]}, was checkpointed at seq {seq}")
        elif (now[4] if now[3] == seq else hashes_at.get((run_id, seq))) != head:
            out.append(f"run {run_id} seq {seq} differs from its checkpointed head")
    return out
