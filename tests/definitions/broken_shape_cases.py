"""Broken files the loader refuses for their shape: YAML, types, unknown or missing fields."""

from __future__ import annotations

# (case id, YAML text, field path, line, phrase expected in the message)
SHAPE_CASES: list[tuple[str, str, str, int | None, str]] = [
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
