"""Standing grants against approval fatigue: an approver approves an agent's request "and allows
the same tool with these arguments (or matching the declared pattern) for N hours"; later
requests it covers are approved at once by the system, naming the grant.

A grant is bound to the tenant, the asking API key (`requester`: another agent's key is not
covered, as the approver judged this agent) and the tool. A later request is covered when its
arguments are identical (same digest of the details) or, with a declared `pattern`, every
argument the pattern names matches its rule and every other argument equals the granted one.

Pattern rules, per argument name: a literal JSON value (equal), or an object with one of
`{"any": true}`, `{"prefix": "s"}`, `{"glob": "*.csv"}` (fnmatch, case-sensitive),
`{"one_of": [...]}`, `{"min": n}` and/or `{"max": n}` (numbers).

Pure: the store is `engine.ports.GrantStore`; time is given.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from engine.agent_requests import (
    AgentRequest,
    agent_request,
    approved_details,
    check_edit,
    digest_of,
)
from engine.approvals import APPROVAL_STEP, ARGUMENTS_FIELD, GRANT_FIELD, outcome_of
from engine.errors import InvalidInput
from engine.state import RunState

MAX_GRANT_HOURS = 24 * 7
RULES = ("any", "prefix", "glob", "one_of", "min", "max")


@dataclass(frozen=True)
class Grant:
    tenant_id: str
    grant_id: str  # the id of the approval that granted it
    requester: str  # the API key that asked (`api:<key id>`)
    agent: str  # its name when granted, for people to read
    tool: str
    digest: str  # of the details as approved
    arguments: dict[str, Any]
    pattern: dict[str, Any] | None
    granted_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    @property
    def approval_id(self) -> str:
        return self.grant_id

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at

    def revoked(self, by: str, at: datetime) -> Grant:
        return replace(self, revoked_at=at, revoked_by=by)


def may_revoke(grant: Grant, actor: str, *, admin: bool) -> bool:
    """Who may end a grant early: whoever gave it, or an admin (anyone may ask for less
    trust, but a grant is the approver's word: others ask them or an admin)."""
    return admin or actor == grant.granted_by


def pattern_problems(pattern: Any) -> dict[str, str]:
    """What is wrong with a declared pattern, keyed `pattern.<argument>` (empty when fine)."""
    if not isinstance(pattern, Mapping):
        return {"pattern": "must be an object of argument name to rule"}
    problems: dict[str, str] = {}
    for name, rule in pattern.items():
        if not isinstance(rule, Mapping):
            continue  # a literal: equal
        unknown = sorted(set(rule) - set(RULES))
        if unknown or not rule:
            problems[f"pattern.{name}"] = f"a rule is one of {', '.join(RULES)} (or a literal)"
        elif any(k in rule for k in ("prefix", "glob")) and not all(
            isinstance(rule.get(k, ""), str) for k in ("prefix", "glob")
        ):
            problems[f"pattern.{name}"] = "prefix and glob take a string"
        elif "one_of" in rule and not isinstance(rule["one_of"], list):
            problems[f"pattern.{name}"] = "one_of takes a list"
        elif any(
            k in rule and (isinstance(rule[k], bool) or not isinstance(rule[k], (int, float)))
            for k in ("min", "max")
        ):
            problems[f"pattern.{name}"] = "min and max take a number"
    return problems


def _matches(rule: Any, value: Any) -> bool:
    if not isinstance(rule, Mapping):
        return bool(rule == value)
    if rule.get("any") is True:
        return True
    if "prefix" in rule:
        return isinstance(value, str) and value.startswith(rule["prefix"])
    if "glob" in rule:
        return isinstance(value, str) and fnmatch.fnmatchcase(value, rule["glob"])
    if "one_of" in rule:
        return value in rule["one_of"]
    if "min" in rule or "max" in rule:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        low, high = rule.get("min"), rule.get("max")
        return (low is None or value >= low) and (high is None or value <= high)
    return False


def covers(grant: Grant, request: AgentRequest, now: datetime) -> bool:
    """`grant` approves `request` at `now`: active, same tenant's key and tool, and the same
    details (digest) or arguments matching the declared pattern."""
    if not grant.active(now) or grant.requester != request.requester:
        return False
    if not request.tool or grant.tool != request.tool:
        return False
    if grant.digest == request.digest:
        return True
    if grant.pattern is None:
        return False
    others = set(request.arguments) | set(grant.arguments)
    for name in others - set(grant.pattern):
        if request.arguments.get(name, _MISSING) != grant.arguments.get(name, _MISSING):
            return False
    return all(
        name in request.arguments and _matches(rule, request.arguments[name])
        for name, rule in grant.pattern.items()
    )


_MISSING = object()


GRANT_REASON = "standing grant {grant_id} (given by {by})"
_REASON = re.compile(r"^standing grant (\S+) ")


def grant_reason(grant: Grant) -> str:
    """The reason of the system's approval under `grant`; `granted_by` reads it back."""
    return GRANT_REASON.format(grant_id=grant.grant_id, by=grant.granted_by)


def granted_by(run: RunState) -> str | None:
    """The id of the standing grant that approved `run`, or None."""
    step = run.steps.get(APPROVAL_STEP)
    for vote in step.votes if step is not None else []:
        if vote.actor == "system" and vote.override and vote.decision == "approve":
            found = _REASON.match(vote.reason)
            if found:
                return found.group(1)
    return None


def first_cover(grants: list[Grant], request: AgentRequest, now: datetime) -> Grant | None:
    """The grant that approves `request` (the one expiring last), or None."""
    found = [g for g in grants if covers(g, request, now)]
    return max(found, key=lambda g: g.expires_at) if found else None


def grant_of(run: RunState, tenant_id: str) -> Grant | None:
    """The grant an approved agent request makes: the approver chose hours (`grant_hours`)
    on a request that offered a grant. None otherwise (also for one approved by a grant)."""
    request = agent_request(run)
    if request is None or request.grant_offer is None or not request.tool:
        return None
    if granted_by(run) is not None:
        return None
    outcome = outcome_of(run)
    step = run.steps.get(APPROVAL_STEP)
    if outcome.status != "approved" or step is None or step.finished_at is None:
        return None
    hours: float | None = None
    edited = None
    by = ""
    for vote in step.votes:
        if vote.decision != "approve" or vote.actor not in outcome.decided_by:
            continue
        chosen = vote.fields.get(GRANT_FIELD)
        if isinstance(chosen, (int, float)) and chosen > 0:
            hours = chosen if hours is None else min(hours, chosen)  # the most careful wins
            by = by or vote.actor
        edited = edited or _edit_of(request, vote.fields)
    if hours is None:
        return None
    hours = min(hours, float(request.grant_offer.get("max_hours") or 0), MAX_GRANT_HOURS)
    if hours <= 0:
        return None
    details = approved_details(request, edited)
    pattern = request.grant_offer.get("pattern")
    return Grant(
        tenant_id=tenant_id,
        grant_id=run.run_id,
        requester=run.requester,
        agent=request.agent,
        tool=request.tool,
        digest=digest_of(details),
        arguments=dict(details.get("arguments") or {}),
        pattern=dict(pattern) if isinstance(pattern, Mapping) else None,
        granted_by=by,
        created_at=step.finished_at,
        expires_at=step.finished_at + timedelta(hours=hours),
    )


def _edit_of(request: AgentRequest, fields: Mapping[str, Any]) -> dict[str, Any] | None:
    try:
        return check_edit(request, fields.get(ARGUMENTS_FIELD))
    except InvalidInput:
        return None  # the decider refused such a vote; nothing to carry over
