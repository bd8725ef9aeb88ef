"""The fake's payloads carry every key Slack's own samples carry (samples/), so the
handlers under test see what Slack really sends, not a thinner invention."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.fakeslack import payloads

SAMPLES = Path(__file__).resolve().parent / "samples"  # see samples/README.md


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


# The samples come from an Enterprise Grid org; Countersign installs per workspace (Grid installs
# are not supported yet), so the fake plays a plain workspace without these.
GRID_ONLY = {"team.enterprise_id", "team.enterprise_name"}


def missing_keys(real: dict[str, Any], ours: dict[str, Any], where: str = "") -> list[str]:
    """Keys of `real` (one level into nested objects) that `ours` lacks."""
    out = []
    for key, value in real.items():
        if f"{where}{key}" in GRID_ONLY:
            continue
        if key not in ours:
            out.append(f"{where}{key}")
        elif isinstance(value, dict) and isinstance(ours[key], dict) and not where:
            out += missing_keys(value, ours[key], f"{key}.")
    return out


MESSAGE = {
    "ts": "1700000000.000100",
    "channel": "D111",
    "blocks": [
        {
            "type": "actions",
            "block_id": "b1",
            "elements": [
                {
                    "type": "button",
                    "action_id": "approve",
                    "text": {"type": "plain_text", "text": "Approve", "emoji": True},
                    "value": "x",
                }
            ],
        }
    ],
}


def test_block_actions_has_every_key_of_slacks_sample() -> None:
    ours = payloads.block_action("U111", MESSAGE, "approve")
    real = sample("block_actions.json")
    assert missing_keys(real, ours) == []
    assert missing_keys(real["actions"][0], ours["actions"][0]) == []


def test_view_submission_has_every_key_of_slacks_sample() -> None:
    real = sample("view_submission.json")
    ours = payloads.view_submission("U111", {"id": "V1", "type": "modal", "blocks": []}, {})
    missing = [k for k in missing_keys(real, ours) if not k.startswith("view.")]
    assert missing == []


def test_slash_command_has_every_key_of_the_socket_mode_sample() -> None:
    envelopes = sample("socket_mode_envelopes.json")
    real = next(e for e in envelopes if e["type"] == "slash_commands")["payload"]
    ours = payloads.slash_command("U111", "help")
    assert missing_keys(real, ours) == []


def test_function_executed_has_every_key_of_slacks_sample() -> None:
    real = sample("function_executed.json")
    real.pop("enterprise_id")  # Grid only, as above
    ours = payloads.function_executed(
        "get_approval", {"title": "x"}, execution_id="Fx1", bot_access_token="xwfp-1"
    )
    assert missing_keys(real, ours) == []
    real["event"]["inputs"] = ours["event"]["inputs"]  # each step has its own inputs
    assert missing_keys(real["event"], ours["event"]) == []
    assert missing_keys(real["event"]["function"], ours["event"]["function"]) == []


def test_an_interaction_in_a_step_has_every_key_of_slacks_sample() -> None:
    # The sample is Bolt's minimal one: the keys a step adds to a full block_actions payload.
    real = sample("block_actions_function.json")
    added = {k: real[k] for k in ("bot_access_token", "function_data", "interactivity")}
    clicked = payloads.block_action("U111", MESSAGE, "approve")
    ours = payloads.in_function(clicked, "Fx1", "xwfp-2", {"title": "x"})
    assert missing_keys(added, ours) == []
    assert missing_keys(sample("block_actions.json"), ours) == []
