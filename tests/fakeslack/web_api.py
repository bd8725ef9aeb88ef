"""Response shapes and the validation Slack's Web API applies, for the fake.

The fake refuses what real Slack refuses (too many blocks, an over-long section or modal title,
private_metadata over 3,000 characters) so a test fails where production would.
"""

from __future__ import annotations

from typing import Any


class SlackError(Exception):
    """An `{"ok": false, "error": ...}` answer."""


def require(args: dict[str, Any], name: str) -> Any:
    value = args.get(name)
    if value in (None, ""):
        raise SlackError("invalid_arguments")
    return value


def _texts(block: dict[str, Any]) -> list[str]:
    out = []
    if isinstance(block.get("text"), dict):
        out.append(block["text"].get("text", ""))
    out.extend(f.get("text", "") for f in block.get("fields", []) or [])
    return out


def check_blocks(blocks: Any, limit: int) -> None:
    if blocks is None:
        return
    if not isinstance(blocks, list) or len(blocks) > limit:
        raise SlackError("invalid_blocks")
    for block in blocks:
        if block.get("type") == "section" and any(len(t) > 3000 for t in _texts(block)):
            raise SlackError("invalid_blocks")
        if block.get("type") == "header" and len(block["text"]["text"]) > 150:
            raise SlackError("invalid_blocks")
        if block.get("type") == "actions" and len(block.get("elements", [])) > 25:
            raise SlackError("invalid_blocks")


def check_view(view: Any) -> None:
    if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
        raise SlackError("invalid_arguments")
    check_blocks(view.get("blocks", []), 100)
    if view["type"] == "modal":
        for key in ("title", "submit", "close"):
            if key in view and len(view[key]["text"]) > 24:
                raise SlackError("invalid_arguments")
    if len(view.get("private_metadata", "")) > 3000:
        raise SlackError("invalid_arguments")
    if len(view.get("callback_id", "")) > 255:
        raise SlackError("invalid_arguments")


def user(team_id: str, user_id: str, name: str, email: str | None, tz: str) -> dict[str, Any]:
    """A `users.info` user (shape of slack-samples/web-api/users.info.json)."""
    return {
        "id": user_id,
        "team_id": team_id,
        "name": name.lower().replace(" ", "."),
        "deleted": False,
        "real_name": name,
        "tz": tz,
        "tz_label": tz,
        "tz_offset": 3600,
        "profile": {
            "real_name": name,
            "real_name_normalized": name,
            "display_name": name.split()[0],
            "display_name_normalized": name.split()[0],
            "email": email or f"{user_id.lower()}@example.com",
            "team": team_id,
        },
        "is_admin": False,
        "is_owner": False,
        "is_bot": False,
        "is_app_user": False,
        "updated": 1700000000,
    }
