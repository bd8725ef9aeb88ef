"""What an approval card shows for a request from the approvals API (an AI agent before a tool
call), and the modal an approver decides it in: the tool, its arguments as a code block (cut
to Block Kit's limits, with a link to the full view on the run's web page), the digest, the
asking key's name; editable arguments and the standing grant choice in the modal.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.blocks import ids
from bot.blocks.forms import ACTION, input_block
from bot.blocks.handoffs import handoff_buttons
from bot.blocks.kit import (
    ELLIPSIS,
    MODAL_TITLE,
    SECTION_TEXT,
    VIEW_BLOCKS,
    context,
    escape,
    fit,
    metadata,
    section,
    truncate,
    when,
)
from engine import AGENT_FIELDS, AgentRequest, ApprovalStep, Grant, short_digest

FENCE = "```"
ARG_BLOCK = "arg_"  # block id prefix of an editable argument's input in the modal
GRANT_BLOCK = "grant"
EDIT_MAX = 3000  # Slack's plain_text_input holds at most this many characters
GRANT_HOURS = (1, 2, 4, 8, 24, 72, 168)


def escape_code(text: str) -> str:
    """Text for inside a code span or block: escaped like any user text, and a backtick
    followed by a zero-width space so the text cannot close the block early."""
    return escape(text).replace("`", "`\u200b")


def code_block(text: str, limit: int, more: str = "") -> str:
    """`text` as a mrkdwn code block of at most `limit` characters. When it does not fit it is
    cut on a character boundary after escaping (never inside `&amp;`), and `more` (already
    mrkdwn, e.g. a link to the full text) follows the block."""
    pieces = [escape_code(ch) for ch in text]
    whole = "".join(pieces)
    if len(whole) + 2 * len(FENCE) + 2 <= limit:
        return f"{FENCE}\n{whole}\n{FENCE}"
    tail = f"\n{ELLIPSIS}{FENCE}" + (f"\n{more}" if more else "")
    budget = limit - len(FENCE) - 1 - len(tail)
    kept: list[str] = []
    used = 0
    for piece in pieces:
        if used + len(piece) > budget:
            break
        kept.append(piece)
        used += len(piece)
    return f"{FENCE}\n{''.join(kept)}{tail}"


def agent_blocks(
    request: AgentRequest, title: str, summary: str, run_url: str | None
) -> list[Block]:
    """The request as the agent put it, for a card (or the top of the modal)."""
    who = f"*{escape(request.agent)}*" if request.agent else "An API client"
    what = f"`{escape_code(request.tool)}`" if request.tool else "an action"
    blocks: list[Block] = [section(f"{who} asks to run {what}: *{escape(title)}*")]
    if summary:
        blocks.append(section(escape(summary)))
    if request.tool:
        text, label = request.arguments_json, "Arguments"
    else:
        text = json.dumps(request.details, indent=2, ensure_ascii=False, sort_keys=True)
        label = "Details"
    full = (
        f"<{run_url}|Full {label.lower()} on the web page>"
        if run_url
        else "(cut: the run's web page shows them in full)"
    )
    head = f"*{label}*\n"
    blocks.append(section(head + code_block(text, SECTION_TEXT - len(head), full)))
    facts = [f"Digest `{short_digest(request.digest)}`"]
    if request.editable:
        facts.append("editable: " + ", ".join(f"`{escape_code(n)}`" for n in request.editable))
    if request.grant_offer is not None:
        facts.append(f"may be allowed for up to {_hours(_max_hours(request))}")
    if run_url:
        facts.append(f"<{run_url}|Open on the web>")
    blocks.append(context(" · ".join(facts)))
    return blocks


def agent_buttons(request: AgentRequest, ref: str) -> list[ButtonElement]:
    """Approve and Reject open the agent modal (the decision form with the arguments to edit and
    the grant choice); "Approve & allow" opens it with the longest grant chosen."""
    buttons = [
        ButtonElement(text="Approve", action_id=ids.AGENT_APPROVE, value=ref, style="primary"),
        ButtonElement(text="Reject", action_id=ids.AGENT_REJECT, value=ref, style="danger"),
    ]
    if request.grant_offer is not None:
        label = f"Approve & allow {_hours(_max_hours(request))}"
        buttons.insert(1, ButtonElement(text=label, action_id=ids.AGENT_GRANT, value=ref))
    # The requester is a program: there is nobody to ask for more information.
    return buttons + handoff_buttons(ref, ask=False)


def _max_hours(request: AgentRequest) -> int:
    return int((request.grant_offer or {}).get("max_hours") or 0)


def _hours(n: int) -> str:
    return f"{n} hour" + ("" if n == 1 else "s")


def agent_modal(
    request: AgentRequest,
    step: ApprovalStep,
    run_id: str,
    decision: str,
    title: str,
    *,
    grant: bool = False,
    run_url: str | None = None,
) -> View:
    """Approve or reject an agent's request: the decision form's own fields and, to approve,
    each editable argument as JSON and (when offered) "also allow repeats for N hours"."""
    blocks: list[Block] = [
        section(
            f"`{escape_code(request.tool or 'details')}` · digest `{short_digest(request.digest)}`"
        )
    ]
    approve = decision == "approve"
    if approve:
        for name in request.editable:
            value = json.dumps(request.arguments.get(name), indent=2, ensure_ascii=False)
            if len(value) > EDIT_MAX:
                where = f"<{run_url}|the web page>" if run_url else "the web page"
                blocks.append(
                    section(f"`{escape_code(name)}` is too long to edit here: use {where}.")
                )
                continue
            blocks.append(
                InputBlock(
                    block_id=ARG_BLOCK + name,
                    label=truncate(f"{name} (JSON)", 2000),
                    optional=False,
                    element=PlainTextInputElement(
                        action_id=ACTION, multiline=True, initial_value=value, max_length=EDIT_MAX
                    ),
                )
            )
        if request.grant_offer is not None:
            blocks.append(_grant_choice(_max_hours(request), grant))
    blocks.extend(
        input_block(f, required=f.required or f.required_on == decision)
        for f in step.fields
        if f.id not in AGENT_FIELDS
    )
    verb = "Approve" if approve else "Reject"
    return View(
        type="modal",
        callback_id=ids.AGENT_DECIDE_VIEW,
        title=truncate(f"{verb}: {title}", MODAL_TITLE),
        submit=verb,
        close="Cancel",
        blocks=fit(blocks, VIEW_BLOCKS),
        private_metadata=metadata({"run_id": run_id, "step_id": step.id, "decision": decision}),
    )


def _grant_choice(max_hours: int, chosen: bool) -> InputBlock:
    once = Option(value="0", text="Only this request")
    hours = sorted({h for h in GRANT_HOURS if h < max_hours} | {max_hours})
    options = [once] + [
        Option(value=str(h), text=f"Also allow the same for {_hours(h)}") for h in hours
    ]
    return InputBlock(
        block_id=GRANT_BLOCK,
        label="Standing grant",
        hint="Later requests from this agent for the same tool with these arguments (or "
        "matching its declared pattern) are then approved at once; revocable in App Home.",
        element=StaticSelectElement(
            action_id=ACTION, options=options, initial_option=options[-1] if chosen else once
        ),
    )


def read_grant(values: dict[str, Any]) -> int | None:
    raw = values.get(GRANT_BLOCK, {}).get(ACTION, {})
    option = raw.get("selected_option") if isinstance(raw, dict) else None
    hours = int(option["value"]) if option else 0
    return hours or None


def read_edits(values: dict[str, Any]) -> dict[str, str]:
    """Each editable argument's text as submitted, by argument name."""
    return {
        block_id.removeprefix(ARG_BLOCK): str((state.get(ACTION) or {}).get("value") or "")
        for block_id, state in values.items()
        if block_id.startswith(ARG_BLOCK)
    }


def grant_blocks(grants: Sequence[Grant]) -> list[Block]:
    """Active standing grants, each with its Revoke button (App Home)."""
    blocks: list[Block] = []
    for g in grants:
        scope = "matching its pattern" if g.pattern else "with the same arguments"
        line = (
            f"`{escape_code(g.tool)}` for *{escape(g.agent or g.requester)}* {scope}, "
            f"until {when(g.expires_at)} (granted on approval `{escape(g.grant_id)}`)"
        )
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(text=truncate(line, SECTION_TEXT)),
                accessory=ButtonElement(
                    text="Revoke", action_id=ids.REVOKE_GRANT, value=g.grant_id, style="danger"
                ),
            )
        )
    return blocks
