"""What each person was shown: the hash of a rendering, and which record a decision was made on.

A channel that shows a waiting step to someone (a Slack card, an email, a link page, the web
page) reports the text and fields it rendered through `Engine.record_shown`; the decider records
a `request_shown` event when that content changed for that recipient on that channel. A
decision or an input submission then carries a reference to the record its actor was last
shown (`shown_for`)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine import principal as principals
from engine.actor import channel_of
from engine.audit.chain import canonical
from engine.events import ShownRef
from engine.state import StepState
from engine.triggers import ShownItem

# Limits on a decision's identity proof: a few short ids, never a token.
PROOF_KEYS = 8
PROOF_KEY_LEN = 40
PROOF_VALUE_LEN = 200


@dataclass(frozen=True)
class Shown:
    """One rendering a channel showed (what adapters hand to `EngineApi.record_shown`). `text`
    and `fields` are what the person saw, with any secret (a link's token) left out."""

    step_id: str
    recipient: str  # the principal shown to; for a `shared` card, where it was shown
    channel: str  # "slack", "email", "web"
    surface: str  # "slack card", "email", "email link page", "web page"
    text: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    shared: bool = False


def is_request(step: StepState | None) -> bool:
    """Whether showing `step` shows a request (what `request_shown` records): a waiting approval
    or input step. A closed step's card shows its outcome, and a human step never reopens, so a
    step some committed state shows closed is never recorded again."""
    return step is not None and step.status == "waiting" and step.type in ("approval", "input")


def shown_hash(text: str, fields: Mapping[str, Any]) -> str:
    """SHA-256 over the RFC 8785 form of {text, fields}: the evidence hash of a rendering."""
    return hashlib.sha256(canonical({"text": text, "fields": dict(fields)})).hexdigest()


def shown_item(shown: Shown) -> ShownItem:
    """A rendering as `Engine.record_shown` records it: the recipient canonical (unless the card
    is `shared`: then it names where it was shown), with the hash of what was shown."""
    return ShownItem(
        step_id=shown.step_id,
        recipient=shown.recipient if shown.shared else principals.canonical(shown.recipient),
        channel=channel_of(shown.channel),
        surface=shown.surface,
        text=shown.text,
        fields=dict(shown.fields),
        sha256=shown_hash(shown.text, shown.fields),
        shared=shown.shared,
    )


def part_hash(content: str) -> str:
    """SHA-256 over one part as rendered (a mail's HTML with its links named): recorded beside
    the part, so a copy kept elsewhere (the recipient's mailbox) can be compared with it."""
    return hashlib.sha256(content.encode()).hexdigest()


def shown_key(channel: str, recipient: str) -> str:
    return f"{channel} {recipient}"


def shown_for(step: StepState, actor: str, channel: str) -> ShownRef | None:
    """The record `actor` decided on: the latest shown to them on the decision's channel, else
    the latest on that channel in a shared place (a Slack channel's card), else the latest
    shown to them on any channel (e.g. a card seen in Slack, decided through the API)."""
    own = step.shown.get(shown_key(channel, actor))
    if own is not None:
        return own
    shared = [r for r in step.shown.values() if r.channel == channel and r.shared]
    if shared:
        return max(shared, key=lambda r: r.seq)
    elsewhere = [r for r in step.shown.values() if r.recipient == actor]
    return max(elsewhere, key=lambda r: r.seq) if elsewhere else None


def clean_proof(proof: Mapping[str, Any] | None) -> dict[str, str]:
    """The proof as stored: string ids, bounded (an adapter's bug must not bloat the chain)."""
    out: dict[str, str] = {}
    for key, value in sorted((proof or {}).items())[:PROOF_KEYS]:
        if value is None or value == "":
            continue
        out[str(key)[:PROOF_KEY_LEN]] = str(value)[:PROOF_VALUE_LEN]
    return out
