"""Builders for what Slack sends over Socket Mode, shaped like `shared/slack-samples/payloads/`.

Interactive payloads are built from what the app really put on screen: a click names a button
found in a message the app posted (as the fake stored it), a submission answers a view the app
opened, so a test cannot click a button that does not exist.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

_trigger = itertools.count(1)


def _trigger_id() -> str:
    return f"{next(_trigger)}.{int(time.time())}.fake"


def _user(user_id: str, team_id: str) -> dict[str, Any]:
    return {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": team_id}


def _team(team_id: str) -> dict[str, Any]:
    return {"id": team_id, "domain": "fake-workspace"}


def slash_command(
    user_id: str,
    text: str,
    *,
    team_id: str = "T111",
    command: str = "/workflow",
    channel_id: str = "C111",
    response_url: str = "https://hooks.slack.com/commands/T111/1/x",
) -> dict[str, Any]:
    return {
        "token": "verification_token",
        "team_id": team_id,
        "team_domain": "fake-workspace",
        "channel_id": channel_id,
        "channel_name": "general",
        "user_id": user_id,
        "user_name": user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": "A111",
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": _trigger_id(),
    }


def _find_button(blocks: list[dict[str, Any]], action_id: str) -> tuple[str, dict[str, Any]]:
    for block in blocks:
        elements = block.get("elements", []) if block.get("type") == "actions" else []
        if block.get("type") == "section" and block.get("accessory"):
            elements = [block["accessory"]]
        for element in elements:
            if element.get("action_id") == action_id:
                return block.get("block_id", ""), element
    raise AssertionError(f"no element with action_id {action_id!r} in these blocks")


def block_action(
    user_id: str, message: dict[str, Any], action_id: str, *, team_id: str = "T111"
) -> dict[str, Any]:
    """A click on a button of a message the app posted (a fake's `messages` entry)."""
    block_id, button = _find_button(message["blocks"], action_id)
    return {
        "type": "block_actions",
        "user": _user(user_id, team_id),
        "api_app_id": "A111",
        "token": "verification_token",
        "container": {
            "type": "message",
            "message_ts": message["ts"],
            "channel_id": message["channel"],
            "is_ephemeral": False,
        },
        "trigger_id": _trigger_id(),
        "team": _team(team_id),
        "channel": {"id": message["channel"], "name": "directmessage"},
        "message": message,
        "response_url": f"https://hooks.slack.com/actions/{team_id}/1/x",
        "actions": [_action(block_id, button)],
    }


def home_action(
    user_id: str, view: dict[str, Any], action_id: str, *, team_id: str = "T111"
) -> dict[str, Any]:
    """A click on a button of a published App Home or an open modal."""
    block_id, button = _find_button(view["blocks"], action_id)
    return {
        "type": "block_actions",
        "user": _user(user_id, team_id),
        "api_app_id": "A111",
        "token": "verification_token",
        "container": {"type": "view", "view_id": view["id"]},
        "trigger_id": _trigger_id(),
        "team": _team(team_id),
        "view": view,
        "actions": [_action(block_id, button)],
    }


def _action(block_id: str, button: dict[str, Any]) -> dict[str, Any]:
    return {
        "action_id": button["action_id"],
        "block_id": block_id,
        "text": button.get("text"),
        "value": button.get("value", ""),
        "type": button["type"],
        "action_ts": f"{time.time():.6f}",
    }


def _state_value(element: dict[str, Any], value: Any) -> dict[str, Any]:
    kind = element["type"]
    out: dict[str, Any] = {"type": kind}
    if kind in ("plain_text_input", "number_input", "email_text_input", "url_text_input"):
        out["value"] = None if value is None else str(value)
    elif kind == "static_select":
        out["selected_option"] = None if value is None else _option(element, value)
    elif kind in ("multi_static_select", "checkboxes"):
        out["selected_options"] = [_option(element, v) for v in value or []]
    elif kind == "datepicker":
        out["selected_date"] = value
    elif kind == "datetimepicker":
        out["selected_date_time"] = value
    elif kind == "users_select":
        out["selected_user"] = value
    elif kind == "multi_users_select":
        out["selected_users"] = list(value or [])
    elif kind == "conversations_select":
        out["selected_conversation"] = value
    else:
        raise AssertionError(f"the fake cannot fill a {kind} element")
    return out


def _option(element: dict[str, Any], value: Any) -> dict[str, Any]:
    for option in element.get("options", []):
        if option["value"] == value:
            return dict(option)
    raise AssertionError(f"{value!r} is not an option of {element.get('action_id')}")


def view_submission(
    user_id: str, view: dict[str, Any], values: dict[str, Any], *, team_id: str = "T111"
) -> dict[str, Any]:
    """Submit a modal the app opened (a fake's `views` entry). `values` maps an input block's
    block_id to what the user entered (a string, a list, an option value, a unix time...);
    blocks not named are submitted empty."""
    state: dict[str, dict[str, Any]] = {}
    for block in view.get("blocks", []):
        if block.get("type") != "input":
            continue
        element = block["element"]
        state[block["block_id"]] = {
            element["action_id"]: _state_value(element, values.get(block["block_id"]))
        }
    unknown = set(values) - set(state)
    assert not unknown, f"the view has no input blocks {sorted(unknown)}"
    return {
        "type": "view_submission",
        "team": _team(team_id),
        "user": _user(user_id, team_id),
        "api_app_id": "A111",
        "token": "verification_token",
        "trigger_id": _trigger_id(),
        "view": {**view, "state": {"values": state}},
        "response_urls": [],
        "is_enterprise_install": False,
    }


_event = itertools.count(1)


def app_home_opened(user_id: str, *, team_id: str = "T111") -> dict[str, Any]:
    """An `events_api` payload (shape of slack-samples/payloads/app_home_opened.shape.json)."""
    now = int(time.time())
    return {
        "token": "verification_token",
        "team_id": team_id,
        "api_app_id": "A111",
        "type": "event_callback",
        "event_id": f"Ev{next(_event):08d}",
        "event_time": now,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": "UBOT",
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event": {
            "type": "app_home_opened",
            "user": user_id,
            "channel": "D" + user_id,
            "tab": "home",
            "event_ts": f"{now}.000100",
        },
    }


def thread_reply(
    user_id: str,
    parent: dict[str, Any],
    text: str,
    *,
    team_id: str = "T111",
    subtype: str | None = None,
    bot_id: str | None = None,
) -> dict[str, Any]:
    """An `events_api` payload for a person's reply in the thread of `parent` (a message the
    app posted), as `message.im` / `message.channels` deliver it."""
    now = time.time()
    channel = parent["channel"]
    event: dict[str, Any] = {
        "type": "message",
        "user": user_id,
        "text": text,
        "ts": f"{now:.6f}",
        "thread_ts": parent["ts"],
        "parent_user_id": parent.get("user", "UBOT"),
        "team": team_id,
        "channel": channel,
        "channel_type": "im" if channel.startswith("D") else "channel",
        "event_ts": f"{now:.6f}",
        "client_msg_id": f"msg-{next(_event)}",
        "blocks": [
            {
                "type": "rich_text",
                "block_id": "r1",
                "elements": [
                    {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
                ],
            }
        ],
    }
    if subtype:
        event["subtype"] = subtype
    if bot_id:
        event["bot_id"] = bot_id
    return {
        "token": "verification_token",
        "team_id": team_id,
        "api_app_id": "A111",
        "type": "event_callback",
        "event_id": f"Ev{next(_event):08d}",
        "event_time": int(now),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": "UBOT",
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event": event,
    }


def function_executed(
    callback_id: str,
    inputs: dict[str, Any],
    *,
    execution_id: str,
    bot_access_token: str,
    team_id: str = "T111",
    title: str = "",
) -> dict[str, Any]:
    """An `events_api` payload: a workflow reached one of the app's steps (shape of
    samples/function_executed.json). `input_parameters` list the inputs given, as strings: the
    app reads `inputs`, typed by Slack."""
    now = int(time.time())
    return {
        "token": "verification_token",
        "team_id": team_id,
        "api_app_id": "A111",
        "event": {
            "type": "function_executed",
            "function": {
                "id": f"Fn{callback_id.upper()}",
                "callback_id": callback_id,
                "title": title or callback_id,
                "description": "",
                "type": "app",
                "input_parameters": [
                    {"type": "string", "name": name, "title": name, "is_required": False}
                    for name in inputs
                ],
                "output_parameters": [],
                "app_id": "A111",
                "date_updated": now,
            },
            "inputs": inputs,
            "function_execution_id": execution_id,
            "workflow_execution_id": f"Wx{execution_id}",
            "event_ts": f"{now}.000100",
            "bot_access_token": bot_access_token,
        },
        "type": "event_callback",
        "event_id": f"Ev{next(_event):08d}",
        "event_time": now,
        "authed_users": ["UBOT"],
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": "UBOT",
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
    }


def in_function(
    payload: dict[str, Any], execution_id: str, bot_access_token: str, inputs: dict[str, Any]
) -> dict[str, Any]:
    """An interaction (`block_action`, `view_submission`) with a message or view posted in a
    step's context: Slack adds the step's data and a fresh function token (shape of
    samples/block_actions_function.json)."""
    return {
        **payload,
        "bot_access_token": bot_access_token,
        "function_data": {"execution_id": execution_id, "inputs": inputs},
        "interactivity": {"interactivity_pointer": _trigger_id()},
    }
