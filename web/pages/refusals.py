"""The engine's refusals worded for the HTML pages, by their stable code."""

from __future__ import annotations

from engine import EngineError

VERB = {"approve": "approved", "reject": "rejected"}


def refusal_notice(refused: EngineError) -> str:
    """One sentence for the page's notice: why nothing changed."""
    facts = refused.facts
    match refused.code:
        case "not_approver":
            return "You are not an approver of this step; nothing changed."
        case "already_voted":
            verb = VERB.get(facts.get("decision", ""), "decided")
            return f"You already {verb} this step; nothing changed."
        case "closed" | "not_waiting":
            status = facts.get("status") or "closed"
            return f"This step is not waiting for a decision any more ({status}); nothing changed."
        case "own_request":
            return "You cannot decide on your own request; nothing changed."
        case "not_assignee":
            return "This form is assigned to someone else; nothing changed."
    return refused.message
