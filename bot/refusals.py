"""The engine's refusals worded for Slack, by their stable code (the facts fill them in)."""

from __future__ import annotations

from bot.deps import sentence
from engine import EngineError

VERB = {"approve": "approved", "reject": "rejected"}


def refusal_text(refused: EngineError) -> str:
    """One message, only for the person who clicked, saying why nothing changed."""
    facts = refused.facts
    match refused.code:
        case "already_voted":
            verb = VERB.get(facts.get("decision", ""), "decided")
            return f"You already {verb} this; nothing changed."
        case "closed" | "not_waiting":
            status = facts.get("status", "closed")
            return f"This request is closed ({status}); your click changed nothing."
        case "own_request":
            return "You cannot decide on your own request. Nothing changed."
        case "not_approver":
            return (
                "You are not one of the approvers of this step, so you cannot decide it. "
                "Nothing changed."
            )
        case "not_assignee":
            return "This form is assigned to someone else."
        case "not_admin":
            return f"{sentence(refused.message)} Nothing changed."
    return sentence(refused.message)
