"""`/workflow away` (out of office: new requests go to a delegate; admins set anyone's) and
`/workflow reassign` (an admin moves someone's part of a pending request to someone else)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk.errors import SlackApiError

from bot.blocks.kit import mention, when
from bot.deps import dm
from bot.listeners.command_request import Request
from engine import EngineError, principal

log = logging.getLogger("countersign.slack")

AWAY_USAGE = "`{c} away @person until 2026-12-31` (or `{c} away off`, or `{c} away` to see it)"
OTHER_AWAY_USAGE = (
    "`{c} away @person @stand-in until 2026-12-31` (or `{c} away @person off`, "
    "or `{c} away @person` to see it)"
)
OFF = ("off", "back", "clear")
REASSIGN_USAGE = "`{c} reassign RUN STEP @from @to`"


def _user(word: str) -> str | None:
    """The user id in a mention as the slash command carries it with escaping on
    (`<@U123|bob>`), or in a bare id."""
    if word.startswith("<@") and word.endswith(">"):
        word = word[2:-1].split("|", 1)[0]
    found = principal.find(word)
    return found.id if found is not None and found.kind == "user" else None


class Usage(EngineError):
    """The command was typed wrong; the message says how to write it."""


def person(word: str) -> str:
    """A Slack user id from a mention; a clear error for anything else."""
    found = _user(word)
    if found:
        return found
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


def _is_person(word: str) -> bool:
    """A word meant as a person (resolved or not), so `person` reads it or says why not."""
    return word.startswith(("<@", "@")) or _user(word) is not None


async def away(r: Request) -> None:
    """`away [@person] [@stand-in until DATE [from DATE] | off]`: one's own out-of-office, or
    (admins) someone else's, named first."""
    c = r.deps.config.command
    words = list(r.args)
    subject = r.user
    if (
        words
        and _is_person(words[0])
        and (len(words) == 1 or words[1].lower() in OFF or _is_person(words[1]))
    ):
        named = person(words[0])
        if len(words) == 1 and not _may_change(r, named):
            # Most likely one's own out-of-office without its end (the older form).
            raise Usage(
                f"Until when? Write {AWAY_USAGE.format(c=c)}. Seeing someone else's "
                "out-of-office is for Countersign admins."
            )
        subject, words = named, words[1:]
    ending = bool(words) and words[0].lower() in OFF
    if not _may_change(r, subject, ending=ending):
        what = "end" if ending else "set"
        await r.say(
            f"Only Countersign admins can {what} someone else's out-of-office; nothing changed. "
            f"For your own, write {AWAY_USAGE.format(c=c)}."
        )
        return
    if not words:
        await _show_away(r, subject)
    elif words[0].lower() in OFF:
        await _end_away(r, subject)
    else:
        await _set_away(r, subject, words)


def _may_change(r: Request, subject: str, *, ending: bool = False) -> bool:
    """Whether the engine lets the user set (`ending`: end) `subject`'s out-of-office."""
    try:
        r.engine.may_change_away(r.deps.actor(r.user), subject, ending=ending)
    except EngineError as refused:
        if refused.code != "not_admin":
            raise
        return False
    return True


def _for(r: Request, subject: str) -> tuple[str, str]:
    """("You are", "you") for one's own out-of-office, ("@alice is", "them") for another's."""
    return ("You are", "you") if subject == r.user else (f"{mention(subject)} is", "them")


async def _show_away(r: Request, subject: str) -> None:
    c = r.deps.config.command
    current = await r.engine.away_of(r.tenant, subject)
    who, whom = _for(r, subject)
    if current is None:
        usage = AWAY_USAGE if subject == r.user else OTHER_AWAY_USAGE
        await r.say(f"{who} not marked away. Set it with {usage.format(c=c)}.")
        return
    by = current.created_by
    set_by = f" (set by {mention(by)})" if by and by != subject else ""
    off = f"`{c} away off`" if subject == r.user else f"`{c} away {mention(subject)} off`"
    await r.say(
        f"{who} away from {when(current.starts)} until {when(current.until)}: new requests "
        f"for {whom} go to {mention(current.delegate)}{set_by}. {off} ends it."
    )


async def _end_away(r: Request, subject: str) -> None:
    if subject == r.user:
        await r.engine.clear_away(r.tenant, subject, r.deps.actor(r.user))
        await r.say("Welcome back: new requests come to you again.")
        return
    if await r.engine.away_of(r.tenant, subject) is None:
        await r.say(f"{mention(subject)} is not marked away; nothing changed.")
        return
    await r.engine.clear_away(r.tenant, subject, r.deps.actor(r.user))
    told = await _tell_subject(
        r, subject, f"{mention(r.user)} ended your out-of-office: new requests come to you again."
    )
    await r.say(f"{mention(subject)}'s out-of-office is ended: new requests go to them.{told}")


async def _set_away(r: Request, subject: str, words: list[str]) -> None:
    c = r.deps.config.command
    usage = AWAY_USAGE if subject == r.user else OTHER_AWAY_USAGE
    delegate = person(words[0])
    rest = [w.lower() if w.lower() in ("from", "until", "to") else w for w in words[1:]]
    options = dict(zip(rest[::2], rest[1::2], strict=False))
    until_word = options.get("until") or options.get("to")
    if not until_word or len(rest) % 2 or set(options) - {"from", "until", "to"}:
        raise Usage(f"Until when? Write {usage.format(c=c)}")
    # Dates are days of the person who is away, in their Slack time zone.
    zone = _zone(await r.deps.directory.time_zone(r.tenant, subject))
    until = moment(until_word, zone, end_of_day=True)
    starts = moment(options["from"], zone, end_of_day=False) if "from" in options else None
    record = await r.engine.set_away(
        r.tenant, subject, delegate, until=until, starts=starts, actor=r.deps.actor(r.user)
    )
    span = f"from {when(record.starts)} until {when(record.until)}"
    stand_in = mention(record.delegate)
    if subject == r.user:
        await r.say(
            f"You are away {span}. New requests for you go to {stand_in}, marked as being for "
            f"you. `{c} away off` ends it."
        )
        return
    told = await _tell_subject(
        r,
        subject,
        f":palm_tree: {mention(r.user)} marked you away {span}: new requests for you go to "
        f"{stand_in}, marked as being for you. `{c} away off` ends it.",
    )
    await r.say(
        f"{mention(subject)} is away {span}. New requests for them go to {stand_in}, marked as "
        f"being for them. `{c} away {mention(subject)} off` ends it.{told}"
    )


async def _tell_subject(r: Request, subject: str, text: str) -> str:
    """DM the person whose out-of-office an admin changed; what to add to the admin's reply."""
    try:
        await dm(r.client, subject, text)
    except SlackApiError as e:
        log.warning("could not tell %s of their out-of-office: %s", subject, e.response)
        return f" I could not tell {mention(subject)} in Slack ({e.response.get('error')})."
    return f" {mention(subject)} was told in a direct message."


async def reassign(r: Request) -> None:
    c = r.deps.config.command
    if len(r.args) != 4:
        raise Usage(f"Write {REASSIGN_USAGE.format(c=c)}")
    run_id, step_id = r.args[0], r.args[1]
    from_, to = person(r.args[2]), person(r.args[3])
    try:
        await r.engine.delegate(
            r.tenant,
            run_id,
            step_id,
            r.deps.actor(r.user),
            to,
            from_=from_,
            reason="reassigned by an admin",
            reassign=True,
        )
    except EngineError as refused:
        if refused.code != "not_admin":
            raise
        await r.say("Only Countersign admins can reassign requests. You can delegate your own.")
        return
    await r.say(
        f"Step {step_id} of run {run_id}: {mention(from_)}'s part now waits on {mention(to)}."
    )
