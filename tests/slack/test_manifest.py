"""The Slack app manifest asks for exactly the scopes the code needs, and turns on what it uses."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import BOT_SCOPES, SlackConfig
from bot.function_inputs import SLOTS
from bot.function_steps import GET_APPROVAL, RUN_WORKFLOW, slack_outputs
from engine import StepResult

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "manifests" / "slack-app.yaml"
# Bot scopes each Web API method needs (https://api.slack.com/methods); a method missing here
# fails the test, so a new call cannot slip in without its scope.
METHOD_SCOPES: dict[str, set[str]] = {
    "auth.test": set(),
    "apps.connections.open": set(),  # the app-level token's connections:write, not a bot scope
    "chat.postMessage": {"chat:write"},
    "chat.update": {"chat:write"},
    "chat.postEphemeral": {"chat:write"},
    "conversations.open": {"im:write"},
    "views.open": set(),
    "views.update": set(),
    "views.push": set(),
    "views.publish": set(),
    "users.lookupByEmail": {"users:read", "users:read.email"},
    "usergroups.users.list": {"usergroups:read"},
    "users.info": {"users:read"},
    "conversations.list": {"channels:read", "groups:read"},
    "conversations.members": {"channels:read", "groups:read"},
    "conversations.history": {"channels:history", "groups:history", "im:history"},
    # Workflow Builder steps: called with the step's own token (or the bot's), no scope needed.
    "functions.completeSuccess": set(),
    "functions.completeError": set(),
}
SURFACE_SCOPES = {"commands"}  # the slash command itself


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(MANIFEST.read_text())
    return data


def called_methods() -> set[str]:
    """Every Web API method the adapter calls (`client.chat_postMessage(` -> chat.postMessage)."""
    found: set[str] = set()
    for path in (ROOT / "bot").rglob("*.py"):
        for name in re.findall(r"client\.([a-z]+_[A-Za-z_]+)\(", path.read_text()):
            assert hasattr(AsyncWebClient, name), f"{path.name}: {name} is not a Web API method"
            found.add(name.replace("_", "."))
    return found


def test_bot_scopes_are_exactly_what_the_code_calls_for() -> None:
    methods = called_methods()
    unknown = methods - set(METHOD_SCOPES)
    assert not unknown, f"add the scopes of {sorted(unknown)} to METHOD_SCOPES"
    needed = set().union(*(METHOD_SCOPES[m] for m in methods)) | SURFACE_SCOPES
    assert set(manifest()["oauth_config"]["scopes"]["bot"]) == needed
    assert set(BOT_SCOPES) == needed  # what the OAuth install asks for


def test_socket_mode_command_interactivity_and_home_tab_are_on() -> None:
    data = manifest()
    assert data["display_information"]["name"]
    assert data["features"]["bot_user"]["display_name"]
    settings = data["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True
    events = settings["event_subscriptions"]["bot_events"]
    assert {"app_home_opened", "message.im", "message.channels"} <= set(events)
    # Mentions typed in the command arrive as user ids (`away @bob`, `reassign`).
    assert data["features"]["slash_commands"][0]["should_escape"] is True
    assert data["features"]["app_home"]["home_tab_enabled"] is True
    commands = [c["command"] for c in data["features"]["slash_commands"]]
    assert commands == [SlackConfig("xoxb", "xapp").command]


# Slack's parameter types (https://docs.slack.dev/reference/objects/types).
SLACK_TYPES = {
    "string",
    "number",
    "integer",
    "boolean",
    "array",
    "object",
    "slack#/types/user_id",
    "slack#/types/usergroup_id",
    "slack#/types/channel_id",
    "slack#/types/rich_text",
    "slack#/types/timestamp",
    "slack#/types/date",
}
# What the listeners read of each step's inputs (bot/function_inputs.py).
READ = {
    GET_APPROVAL: {
        "title",
        "details",
        "approvers",
        "approver_group",
        "approver_channel",
        "policy",
        "timeout",
        "on_timeout",
        "remind_every",
        "escalate_to",
        "requester",
    },
    RUN_WORKFLOW: {"workflow", "values", "requester"}
    | {s for slots in SLOTS.values() for s in slots},
}


def test_the_workflow_builder_steps_are_declared_with_slacks_types() -> None:
    data = manifest()
    settings = data["settings"]
    assert "function_executed" in settings["event_subscriptions"]["bot_events"]
    assert settings["org_deploy_enabled"] is True  # Slack offers steps of org-ready apps only
    assert settings["function_runtime"] == "remote"
    functions = data["functions"]
    assert set(functions) == {GET_APPROVAL, RUN_WORKFLOW}
    for callback_id, function in functions.items():
        assert function["title"] and function["description"]
        assert set(function["input_parameters"]) == READ[callback_id]
        for name, param in [
            *function["input_parameters"].items(),
            *function["output_parameters"].items(),
        ]:
            assert param["type"] in SLACK_TYPES, f"{callback_id}.{name}"
            assert param["title"]
            if param["type"] == "array":
                assert param["items"]["type"] in SLACK_TYPES


def test_the_outputs_sent_are_exactly_those_declared() -> None:
    functions = manifest()["functions"]
    decided = StepResult(
        True, "approved", decided_by=["U1"], decided_at=datetime.now(UTC), comment="ok"
    )
    assert set(slack_outputs(GET_APPROVAL, decided)) == set(
        functions[GET_APPROVAL]["output_parameters"]
    )
    ran = StepResult(True, "completed", {"ticket": "T-1"})
    assert set(slack_outputs(RUN_WORKFLOW, ran)) == set(
        functions[RUN_WORKFLOW]["output_parameters"]
    )
