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


def handoff_text(refused: EngineError) -> str:
    """Why the clicker may not hand a request on, or ask about it (before the form opens)."""
    match refused.code:
        case "closed" | "not_waiting":
            status = refused.facts.get("status", "closed")
            return f"This request is closed ({status}); nothing to do."
        case "not_approver" | "not_assignee":
            return "This request is not waiting on you, so you cannot hand it on or ask about it."
        case "already_voted":
            return "You already decided this; nothing to hand on."
    return refusal_text(refused)


def answer_text(refused: EngineError) -> str:
    """Why the clicker may not answer a question (before the form opens)."""
    match refused.code:
        case "already_answered":
            return "This question was already answered; nothing to do."
        case "not_asked":
            return "This question was asked to someone else."
        case "closed" | "not_waiting":
            return "The request was closed before an answer; no answer is needed any more."
    return refusal_text(refused)


def reassign_text(refused: EngineError) -> str:
    """Why the clicker may not reassign a request (before the form opens)."""
    match refused.code:
        case "not_admin":
            return "Only Countersign admins can reassign requests. You can delegate your own."
        case "closed" | "not_waiting":
            return "This step no longer waits on anyone; nothing to reassign."
    return refusal_text(refused)
