"""The digest an approval is bound to: SHA-256 over the details as canonical JSON (RFC 8785:
sorted keys, no whitespace, UTF-8, ECMAScript number formatting). Compute it yourself to check
that an approval you got covers exactly what you are about to do."""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785


def canonical_json(value: Any) -> bytes:
    """`value` as RFC 8785 canonical JSON. Raises ValueError for what JSON cannot carry exactly
    (NaN, infinities, integers beyond ±2**53)."""
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:
        raise ValueError(f"details cannot be canonicalised: {exc}") from exc


def digest(details: Any) -> str:
    """The hex SHA-256 of `details` as canonical JSON."""
    return hashlib.sha256(canonical_json(details)).hexdigest()
