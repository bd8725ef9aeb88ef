"""`countersign signin`: a one-time, expiring link that signs a person in to the dashboard
(the sign-in link `/workflow web` DMs in Slack, for installs without Slack or for operators)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from cli.output import emit
from cli.settings import Settings
from cli.wiring import KEY_FILE, local_operator, web_config
from engine import InvalidInput, person
from web.links import LinkSigner


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("signin", help="print a one-time sign-in link to the web dashboard")
    p.add_argument(
        "--tenant", help="the workspace (default: the TENANT setting; with Slack, its T… id)"
    )
    p.add_argument("--as", dest="person", help="who signs in (user id or email:addr; default: you)")
    # Also accepted after the command; the top-level --json keeps working when this is absent.
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS)


def run(args: argparse.Namespace, settings: Settings) -> int:
    tenant = args.tenant or settings.tenant
    person = _person(args.person) if (args.person or "").strip() else local_operator()
    new_key = settings.secret_key is None and not KEY_FILE.exists()
    config = web_config(settings)
    if new_key:  # the server signs with its own key: this link only works if it reads this one
        print(
            f"note: generated a new secret key into {KEY_FILE.resolve()}; the link works with a "
            "server started from this folder (or set SECRET_KEY for both)",
            file=sys.stderr,
        )
    now = datetime.now(UTC)
    url = LinkSigner(config.secret_key, config.base_url).sign_in_url(
        tenant, person, now, config.sign_in_ttl
    )
    expires = now + config.sign_in_ttl
    admin = config.is_admin(tenant, person)
    role = "admin" if admin else "member"
    emit(
        {"url": url, "tenant": tenant, "principal": person, "admin": admin, "expires_at": expires},
        f"Sign-in link for {person} ({role}) on workspace {tenant}; it works once, "
        f"until {expires:%H:%M} UTC, while the server runs:\n{url}",
        as_json=args.json,
    )
    return 0


def _person(given: str) -> str:
    """A user id or email address as the engine writes it (a bare address is an "email:" one,
    so the session sees that approver's tasks); any other name as typed."""
    try:
        return person(given, "--as")
    except InvalidInput:
        return given.strip()
