"""The one parser of people and audiences: every form, its kind and the one name it is stored as."""

from __future__ import annotations

import pytest

from engine import principal
from engine.definitions import load_definition
from engine.definitions.models import FormField
from engine.errors import DefinitionError, InvalidInput
from engine.forms import validate_values
from engine.runtime.router import channel_for


@pytest.mark.parametrize(
    ("written", "kind", "stored"),
    [
        ("U0123ABCD", "user", "U0123ABCD"),
        ("W0123ABCD", "user", "W0123ABCD"),
        (" U0123ABCD ", "user", "U0123ABCD"),
        ("bob@example.com", "email", "email:bob@example.com"),
        ("email:bob@example.com", "email", "email:bob@example.com"),
        ("Bob@Example.COM", "email", "email:bob@example.com"),
        ("email:Bob@Example.com", "email", "email:bob@example.com"),
        ("bob+approvals@mail.example.co.uk", "email", "email:bob+approvals@mail.example.co.uk"),
        ("S0FINANCE1", "group", "S0FINANCE1"),
        ("C0123ABCD", "channel", "C0123ABCD"),
        ("G0123ABCD", "channel", "G0123ABCD"),
        ("#approvals", "channel", "#approvals"),
        ("#Sec-Oncall", "channel", "#sec-oncall"),
        ("system", "system", "system"),
        ("system:schedule", "system", "system:schedule"),
        ("cli:root", "operator", "cli:root"),
    ],
)
def test_every_form_has_one_kind_and_one_stored_name(written: str, kind: str, stored: str) -> None:
    found = principal.parse(written)
    assert (found.kind, found.id) == (kind, stored)
    assert principal.canonical(written) == stored


@pytest.mark.parametrize(
    "written",
    [
        "bob",
        "@bob",
        "bob@",
        "bob@localhost",  # no domain dot: not an address a mail server takes
        "email:",
        "mailto:bob@example.com",
        "u0123abcd",  # Slack ids are upper case
        "D0123ABCD",  # a direct-message conversation is nobody's name
        "#",
        "api:ci-bot",
        "requester",
        "",
    ],
)
def test_what_names_nobody_is_refused_naming_the_accepted_forms(written: str) -> None:
    assert principal.find(written) is None
    with pytest.raises(principal.PrincipalError) as refused:
        principal.parse(written, principal.PEOPLE, "approver")
    assert refused.value.message == (
        f"approver {written!r} is not a Slack user id (U…/W…) "
        "or an email address (ana@example.com or email:ana@example.com)"
    )
    assert principal.canonical(written) == written  # other actors (API keys) pass unchanged


def test_a_kind_outside_the_accepted_ones_is_refused() -> None:
    with pytest.raises(principal.PrincipalError, match="is not a Slack user id"):
        principal.parse("S0FINANCE1", principal.PEOPLE)


def test_the_router_and_the_parser_agree() -> None:
    assert [channel_for(p) for p in ("U0A1", "#ops", "G0A1", "bob@x.io", "email:bob@x.io")] == [
        "slack",
        "slack",
        "slack",
        "email",
        "email",
    ]
    assert [channel_for(p) for p in ("S0A1", "system:schedule", "cli:root", "D0A1", "bob")] == [
        None
    ] * 5


def test_a_user_field_takes_a_slack_id_or_an_email_address() -> None:
    fields = [
        FormField(id="manager", type="user"),
        FormField(id="team", type="users"),
    ]
    values = {"manager": "Bob@Example.com", "team": "U0ANN, ann@example.com, email:ann@example.com"}
    assert validate_values(fields, values) == {
        "manager": "email:bob@example.com",
        "team": ["U0ANN", "email:ann@example.com"],
    }
    with pytest.raises(InvalidInput) as refused:
        validate_values(fields, {"manager": "bob"})
    assert refused.value.errors["manager"] == (
        "expected a Slack user id like U0123ABCD or an email address, got 'bob'"
    )


def _refusals(text: str) -> list[str]:
    try:
        load_definition(text)
    except DefinitionError as exc:
        return [f"{issue.field}: {issue.message}" for issue in exc.issues]
    return []


def test_an_address_written_both_ways_is_one_approver() -> None:
    twice = """
name: x
steps:
  - id: ok
    type: approval
    approvers: [bob@example.com, "email:Bob@example.com"]
"""
    assert _refusals(twice) == [
        "steps.0.approvers.1: 'email:Bob@example.com' is listed twice",
    ]


def test_a_definition_refusal_names_the_accepted_forms() -> None:
    text = """
name: x
steps:
  - id: form
    type: input
    assignee: S0FINANCE1
    fields: [{id: v}]
"""
    assert _refusals(text) == [
        "steps.0.assignee: 'S0FINANCE1' is not a Slack user id (U…/W…), an email address "
        "(ana@example.com or email:ana@example.com) or a template like '{{ inputs.manager }}'"
    ]
