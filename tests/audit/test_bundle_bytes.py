"""Every byte of an exported bundle counts: any single-byte change fails verification."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.audit.bundle import FORMAT, BadBundle, load_bundle, sign_bundle, verify_bundle
from engine.audit.chain import GENESIS, event_hash
from engine.audit.checkpoint import make_checkpoint, public_key_text

KEY = Ed25519PrivateKey.generate()
AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _bundle(**decision: Any) -> bytes:
    canonical = json.dumps(
        {"name": "access", "steps": [{"id": "owners", "type": "approval"}, {"id": "next"}]},
        sort_keys=True,
        separators=(",", ":"),
    )
    import hashlib

    digest = hashlib.sha256(canonical.encode()).hexdigest()
    stamp = AT.isoformat()
    events: list[dict[str, Any]] = [
        {
            "type": "run_started",
            "at": stamp,
            "run_id": "r1",
            "tenant_id": "T",
            "workflow": "access",
            "version": 1,
            "requester": "U0REQ",
            "inputs": {"note": "é ☃"},
        },
        {
            "type": "approval_requested",
            "at": stamp,
            "step_id": "owners",
            "approvers": ["U0ANN"],
            "required": 1,
        },
        {
            "type": "decision_recorded",
            "at": stamp,
            "step_id": "owners",
            "actor": "U0ANN",
            "decision": "approve",
            "channel": "slack",
        },
    ]
    if decision.pop("late", False):  # the step after it started before the decision
        events.insert(2, {"type": "step_started", "at": stamp, "step_id": "next", "attempt": 1})
    events[-1] |= decision
    prev, rows = GENESIS, []
    for seq, event in enumerate(events, start=1):
        h = event_hash("T", "r1", seq, prev, event)
        rows.append({"seq": seq, "prev_hash": prev, "hash": h, "event": event})
        prev = h
    leaves = [("run", "r1", stamp, len(events), prev), ("definition", "access", 1, digest)]
    checkpoint = make_checkpoint(KEY, "T", AT, leaves)
    bundle = {
        "format": FORMAT,
        "tenant": "T",
        "exported_at": stamp,
        "scope": {"runs": ["r1"]},
        "public_key": public_key_text(KEY.public_key()),
        "runs": [
            {
                "run_id": "r1",
                "started_at": stamp,
                "chained_by_migration_up_to": None,
                "events": rows,
                "head": {"seq": len(events), "hash": prev},
            }
        ],
        "definitions": [{"name": "access", "version": 1, "hash": digest, "canonical": canonical}],
        "checkpoints": [checkpoint.to_json()],
    }
    signed = sign_bundle(bundle, KEY)
    return json.dumps(signed, separators=(",", ":"), ensure_ascii=False).encode()


BUNDLE = _bundle()


def _passes(data: bytes) -> bool:
    try:
        bundle = load_bundle(data)
    except BadBundle:
        return False
    return verify_bundle(bundle).ok


def test_the_untouched_bundle_verifies() -> None:
    assert _passes(BUNDLE)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_any_single_byte_change_fails(data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(BUNDLE) - 1))
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != BUNDLE[index]))
    changed = BUNDLE[:index] + bytes([byte]) + BUNDLE[index + 1 :]
    assert not _passes(changed)


@pytest.mark.parametrize(
    ("decision", "problem"),
    [
        ({"actor": "U0EVE"}, "decision on owners by U0EVE: not a listed approver"),
        ({"actor": "U0REQ"}, "decision on owners by U0REQ: the requester"),
        ({"late": True}, "decision on owners by U0ANN: made after next had started"),
    ],
)
def test_each_decision_is_checked(decision: dict[str, Any], problem: str) -> None:
    """Signed bundles (as a server with this key could export) whose decisions break a rule."""
    report = verify_bundle(load_bundle(_bundle(**decision)))
    assert not report.ok
    assert any(p.startswith(problem) for p in report.runs[0].decisions), report.runs[0]
