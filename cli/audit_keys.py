"""The audit signing key and the public keys it replaced. `.countersign-audit.key` holds the
current private key; `rotate` makes a new one and appends the old public key to
`.countersign-audit.retired` (one `ed25519:...` per line), so that checkpoints signed before the
rotation still verify: they name their key by id (engine.audit.checkpoint.key_id)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cli.problems import OperatorError
from cli.wiring import AUDIT_KEY_FILE, audit_key
from engine import key_id, key_ring, parse_public_key, public_key_text

log = logging.getLogger("countersign")
RETIRED_KEYS_FILE = Path(".countersign-audit.retired")


def retired_public_keys() -> list[Ed25519PublicKey]:
    """The public keys of earlier audit keys, oldest first."""
    if not RETIRED_KEYS_FILE.exists():
        return []
    out = []
    for number, line in enumerate(RETIRED_KEYS_FILE.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(parse_public_key(line))
        except ValueError as exc:
            raise OperatorError(f"{RETIRED_KEYS_FILE} line {number}: {exc}") from None
    return out


def trusted_keys(current: Ed25519PrivateKey) -> dict[str, Ed25519PublicKey]:
    """Every public key this installation signed with, by id: the current one and the retired."""
    return key_ring([*retired_public_keys(), current.public_key()])


def rotate() -> tuple[Ed25519PublicKey, Ed25519PrivateKey]:
    """Retire the current key (its public half kept) and make a new one: (old public, new)."""
    old = audit_key().public_key()
    retired = {key_id(k) for k in retired_public_keys()}
    if key_id(old) not in retired:
        with RETIRED_KEYS_FILE.open("a") as out:
            out.write(public_key_text(old) + "\n")
    new = Ed25519PrivateKey.generate()
    pem = new.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Written beside, then renamed over: a crash leaves the old key or the new, never half.
    partial = AUDIT_KEY_FILE.with_name(AUDIT_KEY_FILE.name + ".new")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(pem)
    os.replace(partial, AUDIT_KEY_FILE)
    log.info(
        "rotated the audit signing key: %s retired, %s current",
        key_id(old),
        key_id(new.public_key()),
    )
    return old, new
