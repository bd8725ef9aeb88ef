"""Broken workflow files: each is refused with the field, the line and what was expected."""

from __future__ import annotations

import textwrap

import pytest

from engine.definitions import load_definition
from engine.errors import DefinitionError, DefinitionIssue

# (case id, YAML text, field path, line, phrase expected in the message)
CASES: list[tuple[str, str, str, int | None, str]] = [
    (
        "unknown step type",
        """
        name: x
        steps:
          - id: a
            type: aproval
            approvers: [U0AAA]
        """,
        "steps.0",
        3,
        "unknown step type 'aproval' (did you mean 'approval'?); expected one of approval, input, "
        "http, notify, wait, signal",
    ),
    (
        "step without type",
        """
        name: x
        steps:
          - id: a
            approvers: [U0AAA]
        """,
        "steps.0",
        3,
        "a step needs a type",
    ),
    (
        "unknown field with suggestion",
        """
        name: x
        steps:
          - id: a
            type: approval
            approvers: [U0AAA]
            polcy: all
        """,
        "steps.0.polcy",
        6,
        "unknown field 'polcy' (did you mean 'policy'?)",
    ),
    (
        "misspelt required field",
        """
        name: x
        steps:
          - id: a
            type: approval
            aprovers: [U0AAA]
        """,
        "steps.0.aprovers",
        5,
        "did you mean 'approvers'?",
    ),
    (
        "missing approvers",
        """
        name: x
        steps:
          - id: a
            type: approval
        """,
        "steps.0.approvers",
        3,
        "required field missing",
    ),
    (
        "empty approvers",
        """
        name: x
        steps:
          - id: a
            type: approval
            approvers: []
        """,
        "steps.0.approvers",
        5,
        "must not be empty",
    ),
    (
        "approvers not a list",
        """
        name: x
        steps:
          - id: a
            type: approval
            approvers: U0AAA
        """,
        "steps.0.approvers",
        5,
        "expected a list, got text 'U0AAA'",
    ),
    (
        "bad duration",
        """
        name: x
        steps:
          - id: a
            type: wait
            duration: 2 dayz
        """,
        "steps.0.duration",
        5,
        "unknown unit 'dayz'",
    ),
    (
        "negative duration",
        """
        name: x
        steps:
          - id: a
            type: wait
            duration: -5
        """,
        "steps.0.duration",
        5,
        "longer than zero",
    ),
    (
        "wrong type for a flag",
        """
        name: x
        steps:
          - id: a
            type: approval
            approvers: [U0AAA]
            allow_self_approval: sometimes
        """,
        "steps.0.allow_self_approval",
        6,
        "expected true or false, got text 'sometimes'",
    ),
    (
        "name is not a valid id",
        """
        name: Expense Approval
        steps:
          - id: a
            type: wait
            duration: 1h
        """,
        "name",
        1,
        "'Expense Approval' is not a valid name",
    ),
    (
        "missing steps",
        """
        name: x
        title: nothing to do
        """,
        "steps",
        1,
        "required field missing",
    ),
    (
        "unknown policy",
        """
        name: x
        steps:
          - id: a
            type: approval
            approvers: [U0AAA, U0BBB]
            policy: most
        """,
        "steps.0.policy",
        6,
        "expected 'any', 'all', 'majority' or a mapping like {n: 2}, got text 'most'",
    ),
    (
        "policy n not a number",
        """
        name: x
        steps:
          - id: a
            type: approval
            approvers: [U0AAA, U0BBB]
            policy: {n: two}
        """,
        "steps.0.policy.n",
        6,
        "expected a whole number, got text 'two'",
    ),
    (
        "n greater than approvers",
        """
        name: x
        steps:
          - id: a
            type: approval
            approvers: [U0AAA, U0BBB]
            policy:
              n: 3
        """,
        "steps.0.policy.n",
        7,
        "needs 3 approvals but only 2 approvers are listed",
    ),
    (
        "approver listed twice",
        """
        name: x
        steps:
          - id: a
            type: approval
            approvers: [U0AAA, U0BBB, U0AAA]
            policy: {n: 3}
        """,
        "steps.0.approvers.2",
        5,
        "'U0AAA' is listed twice",
    ),
    (
        "http with bad method",
        """
        name: x
        steps:
          - id: a
            type: http
            url: http://erp.example.internal/
            method: FETCH
        """,
        "steps.0.method",
        6,
        "expected 'GET', 'POST', 'PUT', 'PATCH' or 'DELETE', got text 'FETCH'",
    ),
    (
        "negative retry",
        """
        name: x
        steps:
          - id: a
            type: http
            url: http://erp.example.internal/
            retry:
              max_attempts: -1
        """,
        "steps.0.retry.max_attempts",
        7,
        "must be at least 1, got -1",
    ),
    (
        "http url not http",
        """
        name: x
        steps:
          - id: a
            type: http
            url: ftp://erp.example.internal/
        """,
        "steps.0.url",
        5,
        "expected an http:// or https:// URL",
    ),
    (
        "expected status out of range",
        """
        name: x
        steps:
          - id: a
            type: http
            url: http://erp.example.internal/
            expect: [200, 999]
        """,
        "steps.0.expect.1",
        6,
        "999 is not an HTTP status",
    ),
    (
        "template syntax error in message",
        """
        name: x
        steps:
          - id: a
            type: notify
            message: "Hello {{ requester }"
        """,
        "steps.0.message",
        5,
        "template syntax error: unexpected '}'",
    ),
    (
        "template syntax error in a json body",
        """
        name: x
        steps:
          - id: a
            type: http
            url: http://erp.example.internal/
            json:
              items:
                - "{% for %}"
        """,
        "steps.0.json.items.0",
        8,
        "template syntax error",
    ),
    (
        "condition syntax error",
        """
        name: x
        inputs:
          - id: amount
            type: number
        steps:
          - id: a
            type: wait
            duration: 1h
            when: inputs.amount >
        """,
        "steps.0.when",
        9,
        "condition syntax error",
    ),
    (
        "when references a later step",
        """
        name: x
        steps:
          - id: notify
            type: notify
            message: hi
            when: steps.pay.status == 200
          - id: pay
            type: http
            url: http://erp.example.internal/
        """,
        "steps.0.when",
        6,
        "step 'notify' reads steps.pay, which runs later; a step can only read steps before it",
    ),
    (
        "a step references itself",
        """
        name: x
        steps:
          - id: book
            type: http
            url: "http://erp.example.internal/{{ steps.book.response.id }}"
        """,
        "steps.0.url",
        5,
        "reads steps.book, its own output",
    ),
    (
        "unknown step reference",
        """
        name: x
        steps:
          - id: a
            type: notify
            message: "{{ steps.managr.decision }}"
        """,
        "steps.0.message",
        5,
        "unknown step 'managr'",
    ),
    (
        "unknown input reference",
        """
        name: x
        inputs:
          - id: amount
            type: number
        steps:
          - id: a
            type: notify
            message: "{{ inputs.amont }}"
        """,
        "steps.0.message",
        8,
        "unknown input 'amont'; declared inputs: amount",
    ),
    (
        "unknown template name",
        """
        name: x
        steps:
          - id: a
            type: notify
            message: "{{ user.name }}"
        """,
        "steps.0.message",
        5,
        "unknown name 'user'",
    ),
    (
        "secrets in a message",
        """
        name: x
        steps:
          - id: a
            type: notify
            message: "token {{ secrets.ERP_TOKEN }}"
        """,
        "steps.0.message",
        5,
        "secrets can be used only in an http url, headers or json",
    ),
    (
        "duplicate step ids",
        """
        name: x
        steps:
          - id: a
            type: wait
            duration: 1h
          - id: a
            type: wait
            duration: 2h
        """,
        "steps.1.id",
        6,
        "duplicate step id 'a'",
    ),
    (
        "duplicate input ids",
        """
        name: x
        inputs:
          - id: amount
          - id: amount
        steps:
          - id: a
            type: wait
            duration: 1h
        """,
        "inputs.1.id",
        4,
        "duplicate input id 'amount'",
    ),
    (
        "duplicate yaml key",
        """
        name: x
        steps:
          - id: a
            type: wait
            duration: 1h
            duration: 2h
        """,
        "steps.0.duration",
        6,
        "duplicate key 'duration' (first at line 5)",
    ),
    (
        "escalate without escalate_to",
        """
        name: x
        steps:
          - id: a
            type: approval
            approvers: [U0AAA]
            timeout: 2 days
            on_timeout: escalate
        """,
        "steps.0.on_timeout",
        7,
        "on_timeout: escalate needs escalate_to",
    ),
    (
        "on_timeout without timeout",
        """
        name: x
        steps:
          - id: a
            type: approval
            approvers: [U0AAA]
            on_timeout: reject
        """,
        "steps.0.on_timeout",
        6,
        "needs a timeout",
    ),
    (
        "escalate_to without escalate",
        """
        name: x
        steps:
          - id: a
            type: approval
            approvers: [U0AAA]
            escalate_to: [U0BBB]
        """,
        "steps.0.escalate_to",
        6,
        "escalate_to is used only with on_timeout: escalate",
    ),
    (
        "reminder never sent before the timeout",
        """
        name: x
        steps:
          - id: a
            type: approval
            approvers: [U0AAA]
            remind_every: 1d
            timeout: 4h
        """,
        "steps.0.remind_every",
        6,
        "not shorter than the timeout",
    ),
    (
        "wait with both duration and until",
        """
        name: x
        steps:
          - id: a
            type: wait
            duration: 1h
            until: "2030-01-01T00:00:00Z"
        """,
        "steps.0",
        3,
        "exactly one of duration or until",
    ),
    (
        "wait with neither",
        """
        name: x
        steps:
          - id: a
            type: wait
        """,
        "steps.0",
        3,
        "exactly one of duration or until",
    ),
    (
        "select without options",
        """
        name: x
        inputs:
          - id: currency
            type: select
        steps:
          - id: a
            type: wait
            duration: 1h
        """,
        "inputs.0.options",
        3,
        "a select field needs options",
    ),
    (
        "bad default",
        """
        name: x
        inputs:
          - id: amount
            type: number
            default: lots
        steps:
          - id: a
            type: wait
            duration: 1h
        """,
        "inputs.0.default",
        5,
        "default does not fit the field: expected a number, got 'lots'",
    ),
    (
        "default not among options",
        """
        name: x
        inputs:
          - id: currency
            type: select
            options: [EUR, USD]
            default: JPY
        steps:
          - id: a
            type: wait
            duration: 1h
        """,
        "inputs.0.default",
        6,
        "'JPY' is not one of the options: EUR, USD",
    ),
    (
        "min above max",
        """
        name: x
        inputs:
          - id: amount
            type: number
            min: 10
            max: 1
        steps:
          - id: a
            type: wait
            duration: 1h
        """,
        "inputs.0.min",
        5,
        "min (10) is above max (1)",
    ),
    (
        "unknown field type",
        """
        name: x
        inputs:
          - id: amount
            type: money
        steps:
          - id: a
            type: wait
            duration: 1h
        """,
        "inputs.0.type",
        4,
        "expected 'text', 'multiline', 'number'",
    ),
    (
        "required_on outside an approval",
        """
        name: x
        inputs:
          - id: comment
            required_on: reject
        steps:
          - id: a
            type: wait
            duration: 1h
        """,
        "inputs.0.required_on",
        4,
        "required_on applies only to an approval step's fields",
    ),
    (
        "signal names not unique",
        """
        name: x
        steps:
          - id: a
            type: signal
            name: paid
          - id: b
            type: signal
            name: paid
        """,
        "steps.1.name",
        8,
        "signal 'paid' is already used by step 'a'",
    ),
    (
        "approver that is nobody",
        """
        name: x
        steps:
          - id: a
            type: approval
            approvers:
              - U0AAA
              - bob
        """,
        "steps.0.approvers.1",
        7,
        "'bob' is not a Slack user id",
    ),
    (
        "notify to nobody",
        """
        name: x
        steps:
          - id: a
            type: notify
            to: finance team
            message: hi
        """,
        "steps.0.to",
        5,
        "a channel (#name or C…)",
    ),
    (
        "yaml syntax error",
        """
        name: x
        steps:
          - id: a
            type: [wait
        """,
        "",
        5,
        "invalid YAML",
    ),
    (
        "top-level list",
        """
        - name: x
        """,
        "",
        1,
        "the top level must be a mapping",
    ),
    (
        "empty file",
        """
        # nothing here yet
        """,
        "",
        None,
        "the file is empty",
    ),
]


def _load(text: str) -> list[DefinitionIssue]:
    with pytest.raises(DefinitionError) as caught:
        load_definition(textwrap.dedent(text).lstrip("\n"), "wf.yaml")
    assert caught.value.issues, "a DefinitionError must list its issues"
    return caught.value.issues


@pytest.mark.parametrize(
    ("text", "field", "line", "phrase"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_broken_definition_is_refused_with_field_line_and_reason(
    text: str, field: str, line: int | None, phrase: str
) -> None:
    issues = _load(text)
    matching = [i for i in issues if i.field == field and phrase in i.message]
    assert matching, f"no issue at {field!r} saying {phrase!r}; got {[str(i) for i in issues]}"
    assert matching[0].line == line
    assert matching[0].file == "wf.yaml"


def test_there_are_plenty_of_broken_cases() -> None:
    assert len(CASES) >= 35


def test_every_issue_is_reported_at_once() -> None:
    issues = _load(
        """
        name: x
        steps:
          - id: a
            type: wait
            duration: 2 dayz
          - id: b
            type: http
            url: http://erp.example.internal/
            method: FETCH
        """
    )
    assert [(i.field, i.line) for i in issues] == [("steps.0.duration", 5), ("steps.1.method", 9)]


def test_the_error_message_names_file_line_and_field() -> None:
    with pytest.raises(DefinitionError) as caught:
        load_definition(
            "name: x\nsteps:\n  - id: a\n    type: wait\n    duration: soon\n", "w.yaml"
        )
    assert str(caught.value).startswith("w.yaml:5: steps.0.duration: 'soon' is not a duration")


def test_invalid_json_names_line_and_column() -> None:
    with pytest.raises(DefinitionError) as caught:
        load_definition('{\n  "name": "x",\n  "steps": [\n}', "wf.json")
    (issue,) = caught.value.issues
    assert issue.line == 4 and "invalid JSON at line 4, column 1" in issue.message


def test_json_errors_have_lines_too() -> None:
    step = '{"id": "a", "type": "wait", "duration": "2 dayz"}'
    text = '{\n\t"name": "x",\n\t"steps": [\n\t\t' + step + "\n\t]\n}"
    with pytest.raises(DefinitionError) as caught:
        load_definition(text, "wf.json")
    (issue,) = caught.value.issues
    assert (issue.field, issue.line) == ("steps.0.duration", 4)


def test_alias_bombs_are_refused_before_they_expand() -> None:
    rows = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    rows += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 12)]
    text = "name: x\n" + "\n".join(rows) + "\nsteps: [*a11]\n"
    with pytest.raises(DefinitionError, match="the definition is too large"):
        load_definition(text)


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(DefinitionError, match="the definition is too large"):
        load_definition("name: x\nsteps: &s [*s]\n")


@pytest.mark.parametrize(
    "text",
    ["name: x\nsteps: " + "[" * 300 + "]" * 300, '{"steps": ' + "[" * 1200 + "]" * 1200 + "}"],
    ids=["yaml", "json"],
)
def test_absurd_nesting_is_refused(text: str) -> None:
    with pytest.raises(DefinitionError, match=r"nests too deeply|too large"):
        load_definition(text)
