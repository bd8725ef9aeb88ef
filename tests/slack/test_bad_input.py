"""A Slack start modal with text no field may hold: Slack shows the error under the field and
no run starts (the same engine check as every other channel)."""

from __future__ import annotations

from tests.slack.harness import TEAM, SlackHarness


async def test_a_start_modal_with_a_nul_or_a_lone_surrogate_names_the_field(
    slack: SlackHarness,
) -> None:
    await slack.command("UADA", "start purchase")
    view = await slack.opened_view("UADA")
    for item in ("Lap\x00top", "Lap\ud800top"):
        bad = await slack.submit("UADA", view, {"item": item, "amount": "1200"})
        assert bad.ack_payload is not None
        assert bad.ack_payload["response_action"] == "errors"
        assert list(bad.ack_payload["errors"]) == ["item"]
    assert (await slack.engine.list_runs(TEAM, requester="UADA")).runs == []
