"""The consistency every `RunStore` checks on a change before writing it."""

from __future__ import annotations

from engine.ports import RunChange


def check_change(change: RunChange) -> None:
    """Refuse a change whose state does not account for exactly its events (a bug upstream)."""
    expected = change.expected_seq + len(change.decision.events)
    if change.state.seq != expected:
        raise ValueError(
            f"run {change.state.run_id}: state.seq is {change.state.seq} but expected_seq "
            f"{change.expected_seq} + {len(change.decision.events)} events = {expected}"
        )
