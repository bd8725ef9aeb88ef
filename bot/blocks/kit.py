"""Our Block Kit toolkit: the builders every card, modal and Home view uses (`section`,
`context`, `mention`, `when`, modal metadata), and Slack's limits they keep everything inside.

Slack rejects a whole message or view when one part is too long; we shorten instead (with an
ellipsis) so a long input never stops a card from being posted. User text goes through `escape`
so it cannot ping @channel or forge a link.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from engine import mrkdwn_escape, principal

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
SECTION_TEXT = 3000
SECTION_FIELDS = 10
FIELD_TEXT = 2000
CONTEXT_TEXT = 3000
HEADER_TEXT = 150
MODAL_TITLE = 24
OPTION_TEXT = 75
OPTIONS = 100
LABEL_TEXT = 2000
PRIVATE_METADATA = 3000
MESSAGE_TEXT = 4000  # the notification fallback `text`
ELLIPSIS = "…"


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def escape(text: object) -> str:
    """User-supplied text made safe for mrkdwn (no @channel pings, no forged links)."""
    return mrkdwn_escape(str(text))


def section(mrkdwn: str, *, block_id: str | None = None) -> SectionBlock:
    """A section of already-escaped mrkdwn, shortened to Slack's 3,000 characters."""
    return SectionBlock(
        text=MarkdownTextObject(text=truncate(mrkdwn, SECTION_TEXT)), block_id=block_id
    )


def context(mrkdwn: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=truncate(mrkdwn, CONTEXT_TEXT))])


def fields_section(pairs: Sequence[tuple[str, str]]) -> list[SectionBlock]:
    """Label/value pairs (already escaped) as section fields, ten per section."""
    texts = [truncate(f"*{label}*\n{value}", FIELD_TEXT) for label, value in pairs]
    return [
        SectionBlock(fields=[MarkdownTextObject(text=t) for t in texts[i : i + SECTION_FIELDS]])
        for i in range(0, len(texts), SECTION_FIELDS)
    ]


def fit(blocks: Sequence[Block], limit: int, *, keep_last: int = 0) -> list[Block]:
    """At most `limit` blocks: when there are more, the middle is dropped and a context line
    says how many were left out; the last `keep_last` blocks (e.g. buttons) are always kept."""
    if len(blocks) <= limit:
        return list(blocks)
    tail = blocks[len(blocks) - keep_last :] if keep_last else []
    head = blocks[: limit - keep_last - 1]
    left_out = len(blocks) - len(head) - len(tail)
    return [*head, context(f"{ELLIPSIS} {left_out} more not shown"), *tail]


def metadata(data: Mapping[str, Any]) -> str:
    """private_metadata for a view. Ours holds ids only; exceeding Slack's limit is a bug."""
    text = json.dumps(data, separators=(",", ":"))
    if len(text) > PRIVATE_METADATA:
        raise ValueError(f"private_metadata is {len(text)} characters, Slack allows 3000")
    return text


# The single-letter keys modals carried before they got words. A modal opened before an upgrade
# is submitted after it with the old keys, so they are still read.
_OLD_KEYS = {
    "w": "workflow",
    "v": "version",
    "r": "run_id",
    "s": "step_id",
    "d": "decision",
    "q": "question_id",
}


def read_metadata(text: str) -> dict[str, Any]:
    data = json.loads(text or "{}")
    if not isinstance(data, dict):
        raise ValueError("private_metadata is not an object")
    return {_OLD_KEYS.get(str(key), str(key)): value for key, value in data.items()}


def mention(who: str) -> str:
    """A principal as mrkdwn: a Slack user or channel mention, else the escaped text
    ("email:ada@example.com" shows as the address)."""
    found = principal.find(who)
    if found is not None and found.kind == "user":
        return f"<@{found.id}>"
    if found is not None and found.kind == "channel" and not found.id.startswith("#"):
        return f"<#{found.id}>"
    return escape(principal.shown(who))


def when(at: datetime) -> str:
    """A time every reader sees in their own time zone (Slack's date formatting)."""
    fallback = at.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def visible_text(blocks: Sequence[Block]) -> str:
    """The text a person reads on a message drawn with `blocks`, one line per text, in order:
    headers, sections and their fields, context and button labels (the evidence of what a card
    showed; ids and values behind the buttons are not shown, so they are left out)."""
    lines: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                lines.append(node["text"])
                return
            for key in ("text", "fields", "elements", "accessory", "label", "title"):
                if key in node:
                    walk(node[key])
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk([block.to_dict() for block in blocks])
    return "\n".join(lines)
