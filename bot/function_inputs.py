"""The inputs of the Workflow Builder steps as Slack sends them (typed by the manifest's
`functions`), read into what the engine takes. Shape only: whether values fit a workflow's
inputs is the engine's to say (`InvalidInput`), and who may decide is the decider's.

Every problem is a `StepRefused` with one line a Workflow Builder user can act on: Slack shows
it in the workflow's activity (functions.completeError)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from engine import Duration, FormField, WorkflowDefinition

POLICIES = ("any", "all", "majority")


class StepRefused(Exception):
    """The step cannot run with these inputs; `str(self)` is the one line to show."""


# ------------------------------------------------------------------ rich text


def rich_text(value: Any) -> str:
    """A `slack#/types/rich_text` value (a rich_text block) as mrkdwn; plain text as is."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "".join(_element(e) for e in value.get("elements") or []).strip()
    if isinstance(value, list):  # some payloads send the block's elements alone
        return "".join(_element(e) for e in value).strip()
    return str(value)


def _element(e: Any) -> str:
    if not isinstance(e, dict):
        return ""
    kind = e.get("type")
    if kind in ("rich_text_section", "rich_text_preformatted", "rich_text_quote"):
        inner = "".join(_element(x) for x in e.get("elements") or [])
        if kind == "rich_text_preformatted":
            return f"```{inner}```\n"
        if kind == "rich_text_quote":
            return "".join(f"> {line}\n" for line in inner.splitlines())
        return inner + ("\n" if not inner.endswith("\n") else "")
    if kind == "rich_text_list":
        bullet = "1." if e.get("style") == "ordered" else "•"
        return "".join(f"{bullet} {_element(x).strip()}\n" for x in e.get("elements") or [])
    if kind == "text":
        raw, style = str(e.get("text", "")), e.get("style") or {}
        text = raw.strip()
        if not text:
            return raw
        if style.get("code"):
            text = f"`{text}`"
        if style.get("bold"):
            text = f"*{text}*"
        if style.get("italic"):
            text = f"_{text}_"
        # mrkdwn markers must touch the words: the spaces stay outside them
        return raw[: len(raw) - len(raw.lstrip())] + text + raw[len(raw.rstrip()) :]
    if kind == "link":
        url, label = e.get("url", ""), e.get("text")
        return f"<{url}|{label}>" if label else f"<{url}>"
    if kind == "user":
        return f"<@{e.get('user_id', '')}>"
    if kind == "usergroup":
        return f"<!subteam^{e.get('usergroup_id', '')}>"
    if kind == "channel":
        return f"<#{e.get('channel_id', '')}>"
    if kind == "emoji":
        return f":{e.get('name', '')}:"
    return ""


# ------------------------------------------------------------------ Get approval


@dataclass(frozen=True)
class ApprovalAsk:
    """The "Get approval" step's inputs, read."""

    title: str
    details: str
    approvers: list[str]  # Slack user ids, a user group id, a channel id
    policy: str | dict[str, int]
    timeout: Duration | None
    default_decision: Literal["approve", "reject"]
    remind_every: Duration | None
    escalate_to: list[str]
    requester: str


def approval_ask(inputs: dict[str, Any]) -> ApprovalAsk:
    title = _text(inputs.get("title"))
    if not title:
        raise StepRefused("Give the approval a title")
    approvers = _ids(inputs.get("approvers"))
    approvers += _ids(inputs.get("approver_group")) + _ids(inputs.get("approver_channel"))
    if not approvers:
        raise StepRefused("Pick who approves: people, a user group or a channel")
    policy = _policy(_text(inputs.get("policy")) or "any", approvers)
    timeout = _duration(inputs.get("timeout"), "timeout")
    remind_every = _duration(inputs.get("remind_every"), "remind every")
    decision = (_text(inputs.get("on_timeout")) or "reject").lower()
    if decision not in ("approve", "reject"):
        raise StepRefused(f"On timeout must be approve or reject, not {decision!r}")
    escalate_to = _ids(inputs.get("escalate_to"))
    if escalate_to and timeout is None:
        raise StepRefused("Escalate to needs a timeout: after it, the request goes to them")
    return ApprovalAsk(
        title=title,
        details=rich_text(inputs.get("details")),
        approvers=approvers,
        policy=policy,
        timeout=timeout,
        default_decision="approve" if decision == "approve" else "reject",
        remind_every=remind_every,
        escalate_to=escalate_to,
        requester=requester_of(inputs),
    )


def _policy(text: str, approvers: list[str]) -> str | dict[str, int]:
    lowered = text.strip().lower()
    if lowered in POLICIES:
        return lowered
    if not lowered.isdigit() or int(lowered) < 1:
        raise StepRefused(f"Policy must be any, all, majority or a number, not {text!r}")
    n = int(lowered)
    people = [a for a in approvers if a[:1] in ("U", "W")]
    if len(people) == len(approvers) and n > len(people):
        raise StepRefused(f"The policy needs {n} approvals but only {len(people)} approvers")
    return {"n": n}


def _duration(value: Any, what: str) -> Duration | None:
    text = _text(value)
    if not text:
        return None
    try:
        return Duration.parse(text)
    except ValueError as exc:
        raise StepRefused(f"{what.capitalize()}: {exc}") from None


# ------------------------------------------------------------------ Run a Countersign workflow

# Which of the step's typed inputs can fill a workflow input of each type, in order of choice.
SLOTS: dict[str, tuple[str, ...]] = {
    "text": ("text",),
    "email": ("text",),
    "url": ("text",),
    "select": ("text",),
    "multiline": ("details", "text"),
    "number": ("number",),
    "user": ("user",),
    "users": ("users",),
    "channel": ("channel",),
    "date": ("date",),
    "datetime": ("date",),
    "checkbox": ("flag",),
}


def workflow_inputs(definition: WorkflowDefinition, inputs: dict[str, Any]) -> dict[str, Any]:
    """The workflow's inputs from the step's: by name from `values` ("name: value" lines),
    else from the step's typed input of the same type (each used once, in the workflow's
    order). The engine then checks them against the workflow's form."""
    named = _named_values(inputs.get("values"), definition)
    taken: set[str] = set()
    out: dict[str, Any] = {}
    for field in definition.inputs:
        if field.id in named:
            out[field.id] = named[field.id]
            continue
        for slot in SLOTS.get(field.type, ()):
            value = inputs.get(slot)
            if slot not in taken and value not in (None, "", []):
                out[field.id] = _as(field, slot, value)
                taken.add(slot)
                break
    return out


def _named_values(value: Any, definition: WorkflowDefinition) -> dict[str, str]:
    known = [f.id for f in definition.inputs]
    out: dict[str, str] = {}
    for line in rich_text(value).splitlines():
        if not line.strip():
            continue
        name, sep, rest = line.partition(":")
        if not sep:
            name, sep, rest = line.partition("=")
        name = name.strip()
        if not sep or name not in known:
            have = ", ".join(known) or "none"
            raise StepRefused(
                f"Values: {line.strip()!r} is not 'name: value' for an input of "
                f"{definition.name} (its inputs: {have})"
            )
        out[name] = rest.strip()
    return out


def _as(field: FormField, slot: str, value: Any) -> Any:
    if slot == "details":
        return rich_text(value)
    if slot == "date":  # slack#/types/timestamp: seconds since the epoch
        moment = datetime.fromtimestamp(float(value), UTC)
        return moment.date().isoformat() if field.type == "date" else moment.isoformat()
    return value


# ------------------------------------------------------------------ both


def _text(value: Any) -> str:
    if value is None:
        return ""
    return rich_text(value).strip() if not isinstance(value, int | float) else str(value)


def _ids(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    items = value if isinstance(value, list) else re.split(r"[,\s]+", str(value))
    return [str(i).strip() for i in items if str(i).strip()]


def requester_of(inputs: dict[str, Any]) -> str:
    """Who asks: the step's `requester` (Workflow Builder's "person who used this workflow"),
    else the workflow itself."""
    return _text(inputs.get("requester")) or "system:slack-workflow"


def canonical(inputs: dict[str, Any]) -> str:
    """The step's inputs as one canonical JSON text (what the approval's digest covers)."""
    return json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
