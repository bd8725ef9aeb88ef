"""The pacer hands out turns under Slack's limits; work that may not wait is put off with its
turn kept, and takes that turn when it comes back."""

from __future__ import annotations

from bot.pacing import Paced, Pacer, limit_key, waiting_at_most


async def test_work_put_off_keeps_its_turn() -> None:
    pacer = Pacer(speed=100)  # a hundred times Slack's rates: fast enough for a test
    limit = limit_key("chat.update", {})
    assert limit == ("chat.update", 50 / 60)  # Tier 3
    put_off: dict[str, float] = {}
    for i in range(8):
        with waiting_at_most(f"command {i}", 0.0):
            try:
                await pacer.acquire(*limit)
            except Paced as paced:
                put_off[f"command {i}"] = paced.wait
    # The burst goes at once (one call of it left unused), the rest are put off in order.
    assert list(put_off) == ["command 4", "command 5", "command 6", "command 7"]
    waits = list(put_off.values())
    assert waits == sorted(waits) and waits[0] > 0
    # Command 5 comes back: it takes the turn kept for it, not a new one after command 7's.
    with waiting_at_most("command 5", 0.0, early=waits[-1]):
        await pacer.acquire(*limit)


def test_posting_is_paced_per_channel() -> None:
    assert limit_key("chat.postMessage", {"channel": "C1"}) == ("chat.postMessage C1", 1.0)
    assert limit_key("chat.postMessage", {"channel": "C2"}) != limit_key(
        "chat.postMessage", {"channel": "C1"}
    )
    assert limit_key("functions.completeSuccess", {}) is None  # not a method we pace
