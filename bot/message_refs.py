"""Where we posted what: the Slack message of each card, so it can be updated later.

A card is keyed by (tenant, run, step, principal): an approver's card, an assignee's form card, or
(step "") the requester's run message. The mapping must survive a restart, or cards could not be
updated after one: production uses `storage.slack_messages.SqlMessageRefs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

RUN_MESSAGE = ""  # the step id under which the requester's run message is kept


@dataclass(frozen=True)
class MessageRef:
    channel: str
    ts: str


class MessageRefs(Protocol):
    async def get(
        self, tenant_id: str, run_id: str, step_id: str, principal: str
    ) -> MessageRef | None:
        """The message shown to `principal` for this step, if one was posted."""
        ...

    async def put(
        self, tenant_id: str, run_id: str, step_id: str, principal: str, ref: MessageRef
    ) -> None:
        """Remember (or replace) the message shown to `principal` for this step."""
        ...

    async def for_step(self, tenant_id: str, run_id: str, step_id: str) -> dict[str, MessageRef]:
        """Every message of the step, by principal."""
        ...


class MemoryMessageRefs:
    """In-memory `MessageRefs` for tests of the adapter alone (lost on restart)."""

    def __init__(self) -> None:
        self._refs: dict[tuple[str, str, str], dict[str, MessageRef]] = {}

    async def get(
        self, tenant_id: str, run_id: str, step_id: str, principal: str
    ) -> MessageRef | None:
        return self._refs.get((tenant_id, run_id, step_id), {}).get(principal)

    async def put(
        self, tenant_id: str, run_id: str, step_id: str, principal: str, ref: MessageRef
    ) -> None:
        self._refs.setdefault((tenant_id, run_id, step_id), {})[principal] = ref

    async def for_step(self, tenant_id: str, run_id: str, step_id: str) -> dict[str, MessageRef]:
        return dict(self._refs.get((tenant_id, run_id, step_id), {}))
