"""The standing grant rules (pure): what a grant covers, declared patterns, expiry and
revocation, the edit rule for editable arguments, and the decision that gives a grant."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine import (
    AgentRequest,
    Grant,
    InvalidInput,
    approval_definition,
    check_edit,
    digest_of,
    load_definition,
    parse_edits,
)
from engine.agent_requests import canonical
from engine.approvals import APPROVAL_STEP
from engine.commands import RecordGrant
from engine.decider import decide, fold
from engine.decider.decision import Decision
from engine.events import StepCompleted
from engine.grants import covers, first_cover, grant_of, pattern_problems
from engine.triggers import Decide, StartRun

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
ARGS = {"path": "/data/a.csv", "limit": 10}


def request(arguments: dict[str, Any], *, tool: str = "read", key: str = "api:k1") -> AgentRequest:
    details = {"tool": tool, "arguments": arguments}
    return AgentRequest(
        details=details,
        digest=digest_of(details),
        agent="bot",
        requester=key,
        editable=("limit",),
        grant_offer=None,
        tool=tool,
        arguments=arguments,
    )


def grant(pattern: dict[str, Any] | None = None, hours: int = 8) -> Grant:
    return Grant(
        tenant_id="T1",
        grant_id="A1",
        requester="api:k1",
        agent="bot",
        tool="read",
        digest=digest_of({"tool": "read", "arguments": ARGS}),
        arguments=ARGS,
        pattern=pattern,
        granted_by="UBOB",
        created_at=NOW,
        expires_at=NOW + timedelta(hours=hours),
    )


def test_identical_details_are_covered_until_expiry_or_revocation() -> None:
    g = grant()
    assert covers(g, request(dict(reversed(ARGS.items()))), NOW)  # same canonical form
    assert not covers(g, request({**ARGS, "limit": 11}), NOW)
    assert not covers(g, request(ARGS, tool="write"), NOW)
    assert not covers(g, request(ARGS, key="api:k2"), NOW)  # another agent's key
    assert not covers(g, request(ARGS), NOW + timedelta(hours=8))  # expired at its end
    assert not covers(g.revoked("UBOB", NOW), request(ARGS), NOW)


@pytest.mark.parametrize(
    ("rule", "value", "covered"),
    [
        ({"glob": "/data/*.csv"}, "/data/b.csv", True),
        ({"glob": "/data/*.csv"}, "/etc/passwd", False),
        ({"prefix": "/data/"}, "/data/x", True),
        ({"one_of": ["/a", "/b"]}, "/b", True),
        ({"any": True}, "anything", True),
        ("/data/a.csv", "/data/a.csv", True),
        ("/data/a.csv", "/data/b.csv", False),
    ],
)
def test_a_pattern_rule_per_argument(rule: Any, value: Any, covered: bool) -> None:
    g = grant({"path": rule})
    assert covers(g, request({"path": value, "limit": 10}), NOW) is covered
    # Arguments the pattern does not name must equal the granted ones.
    assert not covers(g, request({"path": value, "limit": 99}), NOW)


def test_number_bounds_and_the_longest_grant_wins() -> None:
    g = grant({"limit": {"min": 1, "max": 100}})
    assert covers(g, request({**ARGS, "limit": 100}), NOW)
    assert not covers(g, request({**ARGS, "limit": 101}), NOW)
    assert not covers(g, request({**ARGS, "limit": True}), NOW)  # a bool is not a number
    later = grant(hours=24)
    assert first_cover([grant(), later], request(ARGS), NOW) == later


def test_bad_patterns_are_named() -> None:
    assert pattern_problems({"path": {"regex": ".*"}}) == {
        "pattern.path": "a rule is one of any, prefix, glob, one_of, min, max (or a literal)"
    }
    assert pattern_problems({"n": {"max": "10"}}) == {"pattern.n": "min and max take a number"}
    assert pattern_problems([1]) == {"pattern": "must be an object of argument name to rule"}


def test_only_editable_arguments_may_change() -> None:
    r = request(ARGS)
    assert parse_edits(r, {"limit": "20"}) == {**ARGS, "limit": 20}
    with pytest.raises(InvalidInput) as bad:
        parse_edits(r, {"limit": "twenty", "path": '"/x"'})
    assert bad.value.errors["path"] == "this argument is not editable"
    assert bad.value.errors["limit"].startswith("not valid JSON")
    assert check_edit(r, '{"path": "/data/a.csv", "limit": 20}') == {**ARGS, "limit": 20}
    assert check_edit(r, '{"limit": 10, "path": "/data/a.csv"}') is None  # nothing changed
    with pytest.raises(InvalidInput, match="not editable: path"):
        check_edit(r, '{"path": "/etc", "limit": 10}')
    with pytest.raises(InvalidInput, match="must be a JSON object"):
        check_edit(r, "[1]")


def test_the_approval_that_grants_carries_the_command_that_stores_the_grant() -> None:
    """The grant is committed with the approval: the closing decision holds the command that
    stores it, under a key the same decision would give again."""
    source = approval_definition(
        policy="any", timeout=None, default_decision="reject", fields=[], grant_hours=8
    )
    definition = load_definition(source, "countersign-approval")
    details = {"tool": "read", "arguments": ARGS}
    inputs = {
        "title": "Read",
        "details": canonical(details),
        "digest": digest_of(details),
        "approvers": "UBOB",
        "grant": json.dumps({"max_hours": 8}),
    }
    start = StartRun(run_id="r1", tenant_id="T1", requester="api:k1", inputs=inputs)
    waiting = fold(None, decide(definition, None, start, NOW).events)

    def approve(**fields: Any) -> Decision:
        vote = Decide(
            step_id=APPROVAL_STEP, actor="UBOB", decision="approve", fields=fields, channel="slack"
        )
        return decide(definition, waiting, vote, NOW)

    closing = approve(grant_hours=2)
    assert any(isinstance(e, StepCompleted) for e in closing.events)
    [record] = [c for c in closing.commands if isinstance(c, RecordGrant)]
    assert record.key == f"r1:{APPROVAL_STEP}:grant"
    assert record.grant == grant_of(fold(waiting, closing.events), "T1")
    assert (record.grant.grant_id, record.grant.granted_by) == ("r1", "UBOB")
    assert record.grant.expires_at == NOW + timedelta(hours=2)
    assert not [c for c in approve().commands if isinstance(c, RecordGrant)]  # none chosen
