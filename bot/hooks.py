"""What the Slack adapter borrows from the web adapter, bound late.

The web server starts after Slack (it serves Slack's OAuth pages), and the bot must not import
web internals, so the composition root (`cli/wiring.py`) fills these in once the web server is up.
While one is None, the feature it backs says it is off.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from engine import Command, Outcome

# (tenant, Slack user) -> a one-time dashboard sign-in URL
SignInUrl = Callable[[str, str], str]
# (command, email address) -> the outcome of emailing that command's request or notification
EmailDelivery = Callable[[Command, str], Awaitable[Outcome]]


@dataclass
class WebHooks:
    sign_in_url: SignInUrl | None = None
    email: EmailDelivery | None = None
