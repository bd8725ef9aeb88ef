"""What the Slack adapter needs to start, from settings.

One workspace: the bot token. Several workspaces: the app's client id and secret instead, and
each workspace installs the app through the install page (Bolt's OAuth flow). Socket Mode needs
the app-level token either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Exactly the bot scopes the code uses (the manifest test checks the manifest against the calls).
BOT_SCOPES = [
    "channels:history",
    "channels:read",
    "chat:write",
    "commands",
    "groups:history",
    "groups:read",
    "im:history",
    "im:write",
    "usergroups:read",
    "users:read",
    "users:read.email",
]
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"


@dataclass(frozen=True)
class SlackConfig:
    bot_token: str | None  # xoxb-…: a single-workspace install; None with OAuth
    app_token: str  # xapp-…: Socket Mode (apps.connections.open)
    api_url: str | None = None  # Web API base URL override (tests, proxies), ending in "/api/"
    command: str = "/workflow"
    admins: list[str] = field(default_factory=list)  # user ids who may define and cancel any run
    client_id: str | None = None  # OAuth, for several workspaces
    client_secret: str | None = None
    public_url: str | None = None  # where the install page is served (the web server's URL)
    # Slack's published rate limits the app keeps to, as a speed: 1 is Slack's own rates; None
    # spaces nothing (a Slack without limits, such as the test fake by default). bot/pacing.py
    pace: float | None = 1.0
