"""Broken `schedule:` blocks: each is refused with the field, the line and what was expected."""

from __future__ import annotations

_WORKFLOW = """
        name: x
        inputs:
          - id: amount
            type: number
            required: true
        steps:
          - id: a
            type: wait
            duration: 1m
        schedule:"""

# (case id, YAML text, field path, line, phrase expected in the message)
SCHEDULE_CASES: list[tuple[str, str, str, int | None, str]] = [
    (
        "cron with a bad field",
        _WORKFLOW
        + """
          cron: "0 25 * * *"
          inputs: {amount: 1}
        """,
        "schedule.cron",
        11,
        "is not a valid cron expression",
    ),
    (
        "cron with too few fields",
        _WORKFLOW
        + """
          cron: "every monday"
          inputs: {amount: 1}
        """,
        "schedule.cron",
        11,
        "expected five fields (minute hour day month weekday)",
    ),
    (
        "cron with a misspelt weekday",
        _WORKFLOW
        + """
          cron: "0 9 * * mon-fry"
          inputs: {amount: 1}
        """,
        "schedule.cron",
        11,
        'Invalid weekday name "fry"',
    ),
    (
        "cron on a date that does not exist",
        _WORKFLOW
        + """
          cron: "0 0 30 2 *"
          inputs: {amount: 1}
        """,
        "schedule.cron",
        11,
        "'0 0 30 2 *' never fires (no such date)",
    ),
    (
        "unknown time zone",
        _WORKFLOW
        + """
          cron: "0 9 * * mon-fri"
          timezone: Europe/Berlinn
          inputs: {amount: 1}
        """,
        "schedule.timezone",
        12,
        "unknown time zone 'Europe/Berlinn'",
    ),
    (
        "both cron and every",
        _WORKFLOW
        + """
          cron: "0 9 * * *"
          every: 1h
          inputs: {amount: 1}
        """,
        "schedule",
        10,
        "exactly one of cron or every",
    ),
    (
        "neither cron nor every",
        _WORKFLOW
        + """
          inputs: {amount: 1}
        """,
        "schedule",
        10,
        "exactly one of cron or every",
    ),
    (
        "every in working hours",
        _WORKFLOW
        + """
          every: 8 working hours
          inputs: {amount: 1}
        """,
        "schedule.every",
        11,
        "not working hours",
    ),
    (
        "start with a cron",
        _WORKFLOW
        + """
          cron: "0 9 * * *"
          start: "2026-01-01T09:00:00"
          inputs: {amount: 1}
        """,
        "schedule.start",
        12,
        "start applies to every: only",
    ),
    (
        "input of the wrong type",
        _WORKFLOW
        + """
          every: 1h
          inputs:
            amount: lots
        """,
        "schedule.inputs.amount",
        13,
        "expected a number, got 'lots'",
    ),
    (
        "required input missing",
        _WORKFLOW
        + """
          every: 1h
          inputs: {}
        """,
        "schedule.inputs.amount",
        12,
        "required",
    ),
    (
        "input the workflow does not declare",
        _WORKFLOW
        + """
          every: 1h
          inputs:
            amount: 5
            currency: EUR
        """,
        "schedule.inputs.currency",
        14,
        "unknown field; expected one of amount",
    ),
    (
        "requester nobody can be",
        _WORKFLOW
        + """
          every: 1h
          inputs: {amount: 1}
          requester: the ops team
        """,
        "schedule.requester",
        13,
        "is not a Slack user id (U…/W…), an email address (ana@example.com or "
        "email:ana@example.com) or system:NAME",
    ),
    (
        "unknown misfire policy",
        _WORKFLOW
        + """
          every: 1h
          misfire: catch_up
          inputs: {amount: 1}
        """,
        "schedule.misfire",
        12,
        "run_once",
    ),
]
