"""The Web API methods the fake answers, with the shapes of `shared/slack-samples/web-api/`.

A mixin of `FakeSlack`: each `_m_<method>` gets the call's arguments (plus "_team", the
workspace of the token) and returns the answer's fields, or raises `SlackError`.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
import uuid
from typing import Any

from tests.fakeslack import web_api


class SlackMethods:
    team_id: str
    team: str
    bot_user_id: str
    port: int
    client_id: str
    client_secret: str
    teams: dict[str, str]
    oauth_codes: dict[str, tuple[str, str]]
    users: dict[str, dict[str, Any]]
    usergroups: dict[str, list[str]]
    channels: dict[str, dict[str, Any]]
    messages: dict[tuple[str, str], dict[str, Any]]
    ephemeral: list[dict[str, Any]]
    views: dict[str, dict[str, Any]]
    home: dict[str, dict[str, Any]]
    _tickets: set[str]
    _ts: itertools.count[int]
    _ids: itertools.count[int]

    def dm_channel(self, user_id: str) -> str:
        return "D" + user_id

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _oauth_access(self, args: dict[str, Any], auth: str) -> dict[str, Any]:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        given = (args.get("client_id"), args.get("client_secret"))
        if auth != f"Basic {expected}" and given != (self.client_id, self.client_secret):
            return {"ok": False, "error": "invalid_client_id"}
        found = self.oauth_codes.pop(str(args.get("code")), None)
        if found is None:
            return {"ok": False, "error": "invalid_code"}
        team_id, bot_token = found
        self.teams[bot_token] = team_id
        return {  # the shape of Slack's oauth.v2.access answer for a bot install
            "ok": True,
            "app_id": "A111",
            "authed_user": {"id": "UINSTALLER"},
            "scope": "chat:write,commands",
            "token_type": "bot",
            "access_token": bot_token,
            "bot_user_id": "UBOT",
            "team": {"id": team_id, "name": f"Workspace {team_id}"},
            "enterprise": None,
            "is_enterprise_install": False,
        }

    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://fake.slack.com/",
            "team": self.team,
            "user": "countersign",
            "team_id": args["_team"] or self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": "B111",
            "is_enterprise_install": False,
        }

    def _m_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return {"url": f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}"}

    def _m_conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = str(args.get("users", "")).split(",")
        if len(users) != 1 or users[0] not in self.users:
            raise web_api.SlackError("user_not_found")
        if self.users[users[0]].get("deleted"):
            raise web_api.SlackError("user_disabled")
        return {"channel": {"id": self.dm_channel(users[0])}}

    def _m_conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        types = str(args.get("types") or "public_channel").split(",")
        found = [
            {k: v for k, v in ch.items() if k != "members"}
            for ch in self.channels.values()
            if ("private_channel" if ch["is_private"] else "public_channel") in types
        ]
        return {"channels": found, "response_metadata": {"next_cursor": ""}}

    def _m_conversations_members(self, args: dict[str, Any]) -> dict[str, Any]:
        found = self.channels.get(web_api.require(args, "channel"))
        if found is None:
            raise web_api.SlackError("channel_not_found")
        return {"members": list(found["members"]), "response_metadata": {"next_cursor": ""}}

    def _m_conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        """Top-level messages of a channel, newest first (`latest`/`inclusive`/`limit`)."""
        channel = web_api.require(args, "channel")
        latest = float(args.get("latest") or "inf")
        inclusive = str(args.get("inclusive", "")).lower() in ("1", "true")
        found = [
            m
            for (ch, ts), m in self.messages.items()
            if ch == channel
            and not m.get("thread_ts")
            and (float(ts) < latest or (inclusive and float(ts) == latest))
        ]
        found.sort(key=lambda m: float(m["ts"]), reverse=True)
        limit = int(args.get("limit") or 100)
        return {
            "messages": found[:limit],
            "has_more": len(found) > limit,
            "pin_count": 0,
            "response_metadata": {"next_cursor": ""},
        }

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = web_api.require(args, "channel")
        if not (args.get("text") or args.get("blocks")):
            raise web_api.SlackError("no_text")
        web_api.check_blocks(args.get("blocks"), 50)
        ts = self._next_ts()
        message = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": "B111",
            "text": args.get("text", ""),
            "blocks": args.get("blocks") or [],
            "ts": ts,
            "channel": channel,
        }
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        self.messages[(channel, ts)] = message
        return {"channel": channel, "ts": ts, "message": message}

    def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = web_api.require(args, "channel"), web_api.require(args, "ts")
        message = self.messages.get((channel, ts))
        if message is None:
            raise web_api.SlackError("message_not_found")
        web_api.check_blocks(args.get("blocks"), 50)
        message.update(text=args.get("text", message["text"]), blocks=args.get("blocks") or [])
        return {"channel": channel, "ts": ts, "text": message["text"], "message": message}

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        web_api.require(args, "channel")
        web_api.require(args, "user")
        self.ephemeral.append(args)
        return {"message_ts": self._next_ts()}

    def _m_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        web_api.require(args, "trigger_id")
        return {"view": self._store_view(web_api.require(args, "view"))}

    def _m_views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._m_views_open(args)

    def _m_views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = args.get("view_id")
        if view_id not in self.views:
            raise web_api.SlackError("not_found")
        return {"view": self._store_view(web_api.require(args, "view"), view_id)}

    def _m_views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = web_api.require(args, "user_id")
        view = web_api.require(args, "view")
        web_api.check_view(view)
        stored = {**view, "id": f"VH{user_id}", "team_id": self.team_id}
        self.home[user_id] = stored
        return {"view": stored}

    def _store_view(self, view: dict[str, Any], view_id: str | None = None) -> dict[str, Any]:
        web_api.check_view(view)
        view_id = view_id or f"V{next(self._ids):06d}"
        stored = {**view, "id": view_id, "team_id": self.team_id, "state": {"values": {}}}
        self.views[view_id] = stored
        return stored

    def _m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(web_api.require(args, "user"))
        if user is None:
            raise web_api.SlackError("user_not_found")
        return {"user": user}

    def _m_users_lookupByEmail(self, args: dict[str, Any]) -> dict[str, Any]:
        email = web_api.require(args, "email").lower()
        for user in self.users.values():
            if user["profile"]["email"].lower() == email:
                return {"user": user}
        raise web_api.SlackError("users_not_found")

    def _m_usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        members = self.usergroups.get(web_api.require(args, "usergroup"))
        if members is None:
            raise web_api.SlackError("no_such_subteam")
        return {"users": members}

    # ------------------------------------------------------------------ Workflow Builder steps

    @property
    def function_executions(self) -> dict[str, dict[str, Any]]:
        """Step executions by id: their status (running, completed, failed), outputs, error."""
        found: dict[str, dict[str, Any]] = self.__dict__.setdefault("_function_executions", {})
        return found

    def function_token(self, execution_id: str) -> str:
        """A bot token scoped to one step execution (xwfp-…), valid for the workspace; Slack
        hands one out with `function_executed` and with each interaction in the step."""
        token = f"xwfp-{execution_id}-{next(self._ids)}"
        self.teams[token] = self.team_id
        self.function_executions.setdefault(execution_id, {"status": "running"})
        return token

    def revoke_token(self, token: str) -> None:
        self.teams.pop(token, None)

    def _m_functions_completeSuccess(self, args: dict[str, Any]) -> dict[str, Any]:
        execution = self._execution(args)
        outputs = args.get("outputs") or "{}"
        execution.update(
            status="completed", outputs=json.loads(outputs) if isinstance(outputs, str) else outputs
        )
        return {}

    def _m_functions_completeError(self, args: dict[str, Any]) -> dict[str, Any]:
        execution = self._execution(args)
        execution.update(status="failed", error=web_api.require(args, "error"))
        return {}

    def _execution(self, args: dict[str, Any]) -> dict[str, Any]:
        execution_id = web_api.require(args, "function_execution_id")
        if execution_id not in self.function_executions:
            raise web_api.SlackError("function_execution_not_found")
        return self.function_executions[execution_id]
