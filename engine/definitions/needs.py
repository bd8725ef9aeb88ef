"""What a workflow needs beyond the app itself, read from its steps (nothing to declare, so it
cannot go stale): Slack, when it names people or audiences only Slack can reach (user ids,
user groups, channels), and the secrets its http steps read. Templated names ("{{ inputs.x }}")
need nothing in particular: the person starting the run chooses who they are."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from engine import principal, templates
from engine.definitions.models import (
    ApprovalStep,
    EscalationLevel,
    HttpAction,
    HttpStep,
    InputStep,
    NotifyStep,
    WorkflowDefinition,
)
from engine.errors import TemplateError

_SLACK_ONLY = ("user", "group", "channel")
SHOWN = 3  # Slack names shown by `describe`


@dataclass(frozen=True)
class Needs:
    slack: list[str] = field(default_factory=list)  # the Slack-only names, in order
    secrets: list[str] = field(default_factory=list)  # the secret names, in order

    def __bool__(self) -> bool:
        return bool(self.slack or self.secrets)

    def describe(self) -> str:
        """E.g. "Slack (S0FINANCE1, #deploys), secret ERP_TOKEN" ("" when nothing)."""
        parts = []
        if self.slack:
            shown = ", ".join(self.slack[:SHOWN])
            more = len(self.slack) - SHOWN
            parts.append(f"Slack ({shown}{f' and {more} more' if more > 0 else ''})")
        if self.secrets:
            word = "secret" if len(self.secrets) == 1 else "secrets"
            parts.append(f"{word} {', '.join(self.secrets)}")
        return ", ".join(parts)


def needs_of(definition: WorkflowDefinition) -> Needs:
    slack: dict[str, None] = {}
    for name in _names(definition):
        found = principal.find(name)
        if found is not None and found.kind in _SLACK_ONLY:
            slack[found.id] = None
    secrets: dict[str, None] = {}
    for text in _http_templates(definition):
        try:
            refs = templates.references(text)
        except TemplateError:  # pragma: no cover - an applied definition's templates parse
            continue
        for root, attr in sorted(refs, key=lambda r: (r[0], r[1] or "")):
            if root == "secrets":
                secrets[attr or "(all)"] = None
    return Needs(list(slack), list(secrets))


def _names(definition: WorkflowDefinition) -> Iterator[str]:
    """Every literal name of a person or audience in the steps (templates left out)."""
    for step in definition.steps:
        if isinstance(step, ApprovalStep):
            yield from step.approvers
            for level in step.escalate_to:
                specs = level.approvers if isinstance(level, EscalationLevel) else level
                yield from [specs] if isinstance(specs, str) else specs
            if step.channel is not None:
                yield step.channel
        elif isinstance(step, InputStep):
            yield step.assignee
        elif isinstance(step, NotifyStep):
            yield step.to


def _http_templates(definition: WorkflowDefinition) -> Iterator[str]:
    for step in definition.steps:
        actions: list[HttpAction] = [step] if isinstance(step, HttpStep) else []
        compensate = getattr(step, "compensate", None)
        if isinstance(compensate, HttpAction):
            actions.append(compensate)
        for action in actions:
            yield action.url
            yield from action.headers.values()
            yield from _strings(action.json_body)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
