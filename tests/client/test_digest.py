"""The digest an approval is bound to, as the client computes it (the server uses the same)."""

from __future__ import annotations

import pytest

from countersign_client import canonical_json, digest


def test_the_digest_is_sha256_over_rfc8785_canonical_json() -> None:
    assert canonical_json({"b": [1.0, 2.5e-7], "a": "é", "c": {"z": None, "y": True}}) == (
        '{"a":"é","b":[1,2.5e-7],"c":{"y":true,"z":null}}'.encode()
    )
    assert digest({}) == "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"


def test_what_json_cannot_carry_exactly_is_refused() -> None:
    with pytest.raises(ValueError, match="canonicalised"):
        digest({"n": float("nan")})
    with pytest.raises(ValueError, match="canonicalised"):
        digest({"n": 2**60})
