"""What the Slack adapter needs to start: the two tokens and a few choices, from settings."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SlackConfig:
    bot_token: str  # xoxb-…: the Web API
    app_token: str  # xapp-…: Socket Mode (apps.connections.open)
    api_url: str | None = None  # Web API base URL override (tests, proxies), ending in "/api/"
    command: str = "/workflow"
    admins: list[str] = field(default_factory=list)  # user ids who may define and cancel any run
