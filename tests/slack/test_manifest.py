"""The Slack app manifest asks for exactly the scopes the code needs, and turns on what it uses."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import BOT_SCOPES, SlackConfig

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
