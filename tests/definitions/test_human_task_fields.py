"""Escalation levels written out with their own timeout, pause_on_question, working hours."""

from __future__ import annotations

import textwrap

import pytest

from engine.definitions import load_definition
from engine.definitions.models import ApprovalStep, EscalationLevel, level_specs
from engine.durations import Duration
from engine.errors import DefinitionError

GOOD = """
name: spend
steps:
  - id: ok
    type: approval
    approvers: [U0ANN]
    timeout: 16 working hours
    on_timeout: escalate
    pause_on_question: false
    escalate_to:
      - [U0LEAD]
      - {approvers: [U0DIRECTOR], timeout: 8h}
      - {approvers: "#approvals", timeout: 2 working hours}
"""


def test_levels_in_every_form_with_their_own_timeouts() -> None:
    step = load_definition(textwrap.dedent(GOOD), "wf.yaml").steps[0]
    assert isinstance(step, ApprovalStep)
    assert not step.pause_on_question
    assert [level_specs(level) for level in step.escalate_to] == [
        ["U0LEAD"],
        ["U0DIRECTOR"],
        ["#approvals"],
    ]
    assert isinstance(step.escalate_to[1], EscalationLevel)
    assert step.level_timeout(0) == step.level_timeout(1) == Duration(16 * 3600, working=True)
    assert step.level_timeout(2) == Duration(8 * 3600)
    assert step.level_timeout(3) == Duration(2 * 3600, working=True)


@pytest.mark.parametrize(
    ("level", "field", "phrase"),
    [
        ("[]", "steps.0.escalate_to.0", "needs approvers"),
        ("{approvers: [], timeout: 2h}", "steps.0.escalate_to.0", "needs approvers"),
        ("{approvers: [bob]}", "steps.0.escalate_to.0.approvers.0", "is not a Slack user id"),
        ("{approvers: [U0X], timeout: 2 dayz}", "steps.0.escalate_to.0", "dayz"),
    ],
)
def test_bad_levels_are_refused(level: str, field: str, phrase: str) -> None:
    text = GOOD.replace("- [U0LEAD]", f"- {level}")
    with pytest.raises(DefinitionError) as caught:
        load_definition(textwrap.dedent(text), "wf.yaml")
    found = [str(i) for i in caught.value.issues if i.field.startswith(field)]
    assert any(phrase in f for f in found), [str(i) for i in caught.value.issues]
