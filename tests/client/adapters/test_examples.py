"""The runnable examples in examples/agents/ run as documented (offline models, no AGENT_MODEL)
against the real app: each asks, an approver approves, and the tool's result comes back."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from countersign_client import digest
from countersign_client.adapters import tool_details
from tests.client.adapters.conftest import APPROVER, Countersign

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "agents"
REFUND = {"order": 1234, "amount": 80.5}


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("openai_agents_refund", "The refund was handled."),
        ("pydantic_ai_refund", "Refunded 80.5 on order 1234"),
        ("langgraph_refund", "Refunded 80.5 on order 1234"),
    ],
)
async def test_an_example_asks_and_goes_on_once_approved(
    countersign: Countersign, monkeypatch: pytest.MonkeyPatch, name: str, said: str
) -> None:
    monkeypatch.delenv("AGENT_MODEL", raising=False)
    example = load(name)
    url, key = countersign.stack.web.url, countersign.stack.api_key
    run = asyncio.create_task(example.main(url, key, [APPROVER]))
    request = await countersign.first_pending()
    assert request.digest == digest(tool_details("refund", REFUND))
    await countersign.decide(request.id, "approve")
    assert await run == said
