"""Events API: the App Home tab is drawn when a user opens it."""

from __future__ import annotations

from typing import Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from bot.deps import Deps, tenant_of


def register(app: AsyncApp, deps: Deps) -> None:
    @app.event("app_home_opened")
    async def home_opened(event: dict[str, Any], context: AsyncBoltContext) -> None:
        # Events are acked by Bolt before this runs; publishing happens in the background.
        if event.get("tab", "home") == "home":
            deps.home.opened(tenant_of(context), event["user"])
