"""Broken files refused by the checks across a definition: templates, references, uniqueness,
timeouts and escalation, forms and approvers."""

from __future__ import annotations

# (case id, YAML text, field path, line, phrase expected in the message)
CHECK_CASES: list[tuple[str, str, str, int | None, str]] = [
    (
        "output reads an unknown step",
        """
        name: x
        steps:
          - id: a
            type: approval
            approvers: [U0AAA]
        outputs:
          - {id: ticket, value: "{{ steps.ticket.values.ticket }}"}
        """,
        "outputs.0.value",
        7,
        "unknown step 'ticket'; steps: a",
    ),
    (
        "output id twice",
        """
        name: x
        steps:
          - id: a
            type: approval
            approvers: [U0AAA]
        outputs:
          - {id: decision, value: "{{ steps.a.decision }}"}
          - {id: decision, value: "{{ steps.a.decided_by }}"}
        """,
        "outputs.1.id",
        8,
        "duplicate output id 'decision' (also outputs.0)",
    ),
    (
        "output template broken",
        """
        name: x
        steps:
          - id: a
            type: approval
            approvers: [U0AAA]
        outputs:
          - {id: decision, value: "{{ steps.a.decision "}
        """,
        "outputs.0.value",
        7,
        "template syntax error",
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
]
