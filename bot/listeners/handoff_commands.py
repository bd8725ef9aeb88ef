"""`/workflow away` (out of office: new requests go to a delegate) and `/workflow reassign`
(an admin moves someone's part of a pending request to someone else)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.blocks.limits import mention, when
from engine.errors import EngineError

if TYPE_CHECKING:
    from bot.listeners.commands import Request

# A user as the slash command carries it with escaping on (`<@U123|bob>`), or a bare id.
_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$|^([UW][A-Z0-9]{2,})$")
AWAY_USAGE = "`{c} away @person until 2026-12-31` (or `{c} away off`, or `{c} away` to see it)"
REASSIGN_USAGE = "`{c} reassign RUN STEP @from @to`"


class Usage(EngineError):
    """The command was typed wrong; the message says how to write it."""


def person(word: str) -> str:
    """A Slack user id from a mention; a clear error for anything else."""
    found = _MENTION.match(word)
    if found:
        return found.group(1) or found.group(2)
    if word.startswith("@"):
        raise Usage(
            f"I cannot tell who {word} is: pick the person from Slack's list as you type, "
            "so the mention turns blue"
        )
    raise Usage(f"{word!r} is not a person: mention them with @")


def _zone(name: str | None) -> tzinfo:
    try:
        return ZoneInfo(name) if name else UTC
    except ZoneInfoNotFoundError:
        return UTC


def moment(word: str, zone: tzinfo, *, end_of_day: bool) -> datetime:
    """A date (YYYY-MM-DD, in the user's time zone; `end_of_day`: the day included, so the
    instant is the next midnight) or a date and time (2026-12-31T17:00)."""
    try:
        if "T" not in word and " " not in word:
            day = date.fromisoformat(word)
            start = datetime.combine(day, time(), tzinfo=zone)
            return start + timedelta(days=1) if end_of_day else start
        at = datetime.fromisoformat(word)
    except ValueError:
        raise Usage(
            f"{word!r} is not a date: write it as YYYY-MM-DD (e.g. 2026-12-31) or YYYY-MM-DDTHH:MM"
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=zone)


async def away(r: Request) -> None:
    c = r.deps.config.command
    if not r.args:
        current = await r.engine.away_of(r.tenant, r.user)
        if current is None:
            await r.say(f"You are not marked away. Set it with {AWAY_USAGE.format(c=c)}.")
            return
        await r.say(
            f"You are away from {when(current.starts)} until {when(current.until)}: new requests "
            f"for you go to {mention(current.delegate)}. `{c} away off` ends it."
        )
        return
    if r.args[0].lower() in ("off", "back", "clear"):
        await r.engine.clear_away(r.tenant, r.user)
        await r.say("Welcome back: new requests come to you again.")
        return
    delegate = person(r.args[0])
    rest = [w.lower() if w.lower() in ("from", "until", "to") else w for w in r.args[1:]]
    options = dict(zip(rest[::2], rest[1::2], strict=False))
    until_word = options.get("until") or options.get("to")
    if not until_word or len(rest) % 2 or set(options) - {"from", "until", "to"}:
        raise Usage(f"Until when? Write {AWAY_USAGE.format(c=c)}")
    zone = _zone(await r.deps.directory.time_zone(r.tenant, r.user))
    until = moment(until_word, zone, end_of_day=True)
    starts = moment(options["from"], zone, end_of_day=False) if "from" in options else None
    record = await r.engine.set_away(
        r.tenant, r.user, delegate, until=until, starts=starts, actor=r.user
    )
    await r.say(
        f"You are away from {when(record.starts)} until {when(record.until)}. New requests for "
        f"you go to {mention(record.delegate)}, marked as being for you. `{c} away off` ends it."
    )


async def reassign(r: Request) -> None:
    c = r.deps.config.command
    if not r.deps.is_admin(r.user):
        await r.say("Only Countersign admins can reassign requests. You can delegate your own.")
        return
    if len(r.args) != 4:
        raise Usage(f"Write {REASSIGN_USAGE.format(c=c)}")
    run_id, step_id = r.args[0], r.args[1]
    from_, to = person(r.args[2]), person(r.args[3])
    await r.engine.delegate(
        r.tenant,
        run_id,
        step_id,
        r.user,
        to,
        from_=from_,
        reason="reassigned by an admin",
        channel="slack",
        admin=True,
    )
    await r.say(
        f"Step {step_id} of run {run_id}: {mention(from_)}'s part now waits on {mention(to)}."
    )
