"""Adapters that let an agent framework's tool approvals be decided by people in Countersign.
Each one imports its framework, an optional extra:

- `countersign_client.adapters.openai_agents` (`pip install 'countersign[openai-agents]'`),
- `countersign_client.adapters.pydantic_ai` (`pip install 'countersign[pydantic-ai]'`),
- `countersign_client.adapters.langgraph` (`pip install 'countersign[langgraph]'`).

What they share (the request's details, the idempotency key, how an answer maps to running or
refusing the call) is in `countersign_client.adapters.gate`."""

from countersign_client.adapters.gate import ToolGate, Verdict, tool_details

__all__ = ["ToolGate", "Verdict", "tool_details"]
