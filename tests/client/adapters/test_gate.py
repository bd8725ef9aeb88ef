"""How an answer maps to running or refusing a call: edited arguments and the edge cases every
adapter relies on."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from countersign_client import Approval, digest
from countersign_client.adapters import tool_details
from countersign_client.adapters.gate import verdict

DETAILS = tool_details("refund", {"order": 1, "amount": 80.0})


def answer(status: str, **fields: Any) -> Approval:
    data = {"id": "r1", "status": status, "title": "Run refund", "digest": digest(DETAILS)}
    return Approval.from_json({**data, "decided_by": ["U0BOB"], **fields})


def test_edited_arguments_are_the_ones_to_run_when_their_digest_checks() -> None:
    changed = {"order": 1, "amount": 50.0}
    approved = digest(tool_details("refund", changed))
    found = verdict(answer("approved", arguments=changed, approved_digest=approved), DETAILS)
    assert found.run and found.edited and found.arguments == changed

    forged = verdict(answer("approved", arguments=changed, approved_digest="0" * 64), DETAILS)
    assert not forged.run and "edited arguments" in forged.reason


def test_an_answer_about_other_details_is_no_approval() -> None:
    other = tool_details("refund", {"order": 1, "amount": 8000.0})
    found = verdict(answer("approved"), other)
    assert not found.run and "other arguments" in found.reason


def test_expiry_runs_only_under_an_approve_default_and_cancel_refuses() -> None:
    reason = "no decision within 1h"
    assert not verdict(answer("expired", decision="reject", reason=reason), DETAILS).run
    by_default = verdict(answer("expired", decision="approve", reason=reason), DETAILS)
    assert by_default.run and by_default.reason == f"Approved by default: {reason}"
    cancelled = verdict(answer("cancelled", reason="the agent stopped"), DETAILS)
    assert not cancelled.run and not cancelled.pending
    assert cancelled.reason == "The approval request was cancelled: the agent stopped"
    assert verdict(answer("pending"), DETAILS).pending


def test_each_adapter_names_its_extra_when_its_framework_is_missing() -> None:
    probe = (
        "import sys\n"
        "sys.modules['{mod}'] = None\n"  # as if not installed
        "try:\n"
        "    import countersign_client.adapters.{adapter}\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    for adapter, mod, extra in (
        ("openai_agents", "agents", "openai-agents"),
        ("pydantic_ai", "pydantic_ai", "pydantic-ai"),
        ("langgraph", "langgraph.types", "langgraph"),
    ):
        code = probe.format(mod=mod, adapter=adapter)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert f"pip install 'countersign[{extra}]'" in done.stdout, done.stderr
